//go:build unix

package main

import "golang.org/x/sys/unix"

// noCoreFiles sets RLIMIT_CORE to 0, soft and hard: no core file for this
// process or its children, and none can raise it again. Failure is ignored
// (see setNonDumpable).
func noCoreFiles() {
	_ = unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{Cur: 0, Max: 0})
}
