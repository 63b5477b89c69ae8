//go:build !unix

package main

// setNonDumpable does nothing where there is neither PR_SET_DUMPABLE nor
// RLIMIT_CORE (Windows: crash dumps are Windows Error Reporting's, set per
// machine or per program).
func setNonDumpable() {}
