// Command intelligencefs mounts a Twilio account's Conversational
// Intelligence data as a read-only filesystem and decrypts transcripts
// lazily, on read, keeping the plaintext in memory only.
//
// It also carries the commands around the mount: decrypt (one object, the
// way Twilio documents it), cat (one transcript to stdout), the set-up steps
// (keygen, keys, services, doctor) and demo (a built-in simulator). See
// README.md and `intelligencefs --help`.
package main

import (
	"context"
	"os"
)

func main() {
	// First thing: no core dumps and no same-user ptrace of a process that
	// will hold private keys and plaintext (Linux only; a no-op elsewhere).
	setNonDumpable()
	os.Exit(run(context.Background(), os.Args, os.Stdin, os.Stdout, os.Stderr))
}
