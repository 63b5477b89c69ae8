// Package factory is what every intelligencefs command is handed and
// shares: the process's streams and environment (Factory), the connection
// flags and credentials (environment, --env-file), private-key loading
// (KeyOptions, LoadKeyring), the sealed-cache, request-limit and
// plaintext-cache flags, and Connect, which turns the flags into a Twilio
// client and a keyring before anything else is done.
package factory

import (
	"io"
	"os"

	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/daemon"
)

// Factory is what every command is handed: the process's standard streams
// and environment. Commands read nothing global, so tests can run them
// in-process and the daemon child can be given different streams.
type Factory struct {
	Stdin  *os.File
	Stdout io.Writer
	Stderr io.Writer
	// Getenv reads the process environment (os.Getenv outside tests).
	Getenv func(string) string
	// Argv is the command line as the program got it; the daemon re-executes
	// itself with it.
	Argv []string
	// Child is set in the daemon child: its pipes to the waiting parent.
	Child *daemon.Child
}
