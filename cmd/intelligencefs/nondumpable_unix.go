//go:build unix && !linux

package main

// setNonDumpable sets RLIMIT_CORE to 0 (noCoreFiles): macOS and the BSDs
// have no PR_SET_DUMPABLE, but the core limit keeps a crash of cat, search,
// serve or a mount from writing its memory (keys, plaintext) to a core file.
func setNonDumpable() { noCoreFiles() }
