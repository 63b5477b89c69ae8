// Command intelligencefs mounts a Twilio account's Conversational
// Intelligence data as a read-only filesystem and decrypts transcripts
// lazily, on read.
//
// It also carries the commands around the mount: decrypt (one object, the
// way Twilio documents it), cat (one transcript to stdout), search, serve
// (a local viewer), the set-up steps (keygen, keys, services, doctor) and
// demo (a built-in simulator). The command tree is internal/root; each
// command is a package under internal/cmd. See README.md and
// `intelligencefs --help`.
package main

import (
	"context"
	"os"

	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/root"
)

func main() {
	// First thing: no core dumps (RLIMIT_CORE 0 wherever it exists) and,
	// on Linux, no same-user ptrace of a process that will hold private
	// keys and plaintext (PR_SET_DUMPABLE 0).
	setNonDumpable()
	os.Exit(root.Run(context.Background(), os.Args, os.Stdin, os.Stdout, os.Stderr))
}
