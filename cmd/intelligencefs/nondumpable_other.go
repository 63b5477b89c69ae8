//go:build !linux

package main

// setNonDumpable does nothing outside Linux, where PR_SET_DUMPABLE does not
// exist.
func setNonDumpable() {}
