//go:build linux

package main

import "golang.org/x/sys/unix"

// setNonDumpable marks the process non-dumpable (PR_SET_DUMPABLE 0): the
// kernel writes no core file for it and other processes of the same user
// cannot ptrace it or read its memory through /proc/PID/mem. It also sets
// RLIMIT_CORE to 0 (noCoreFiles), which the daemon child and anything else
// it starts inherit. Failure is ignored: there is nothing better to do this
// early, and both only harden.
func setNonDumpable() {
	_ = unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0)
	noCoreFiles()
}
