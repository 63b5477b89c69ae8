// Package mount is `mount` and the fstab form (intelligencefs SOURCE
// MOUNTPOINT -o OPTS): its flags, and the mount in three steps (prepare:
// flags, credentials, keys, mount point; mount: fs.Mount and readiness;
// serve: until a signal or an unmount), with the daemon parent's hand-over.
// demo mounts through Run too.
package mount

import (
	"errors"

	"github.com/spf13/cobra"

	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/cmdutil"
	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/factory"
	"github.com/intelligencefs/intelligencefs/fetch"
)

// ErrNeedsLinux is what mount, demo and the fstab form say outside Linux.
var ErrNeedsLinux = errors.New("mounting needs Linux (or WSL2); decrypt, cat, keygen, keys, services and doctor work here")

// Request is one mount to make: from `mount`, the fstab form or demo.
type Request struct {
	// Options are the mount's flags.
	Options *Options
	// MountPoint is a directory, or /dev/fd/N.
	MountPoint string
	// FsName is what /proc/mounts shows as the source ("intelligencefs", or
	// the fstab form's SOURCE).
	FsName string
	// Daemon detaches once mounted (--daemon, or the fstab form without -f).
	Daemon bool
	// Connect builds the connection (client and keyring), applying tune to
	// the client configuration; the connection flags' Connect for mount, the
	// simulator for demo.
	Connect func(tune func(*fetch.Config)) (*factory.Connection, error)
	// OnReady, when set, runs once the mount answers (demo prints what to try).
	OnReady func(mountPoint string)
}

// NewCmd builds `mount`.
func NewCmd(f *factory.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "mount [flags] MOUNTPOINT",
		Short: "Mount the account's Conversational Intelligence data read-only at MOUNTPOINT (Linux)",
		Long: `mount serves the account's Intelligence services and transcripts at
MOUNTPOINT, read-only. Encrypted transcripts are fetched and decrypted on
read with the --private-key files; the plaintext is held only in memory.

Runs in the foreground: Ctrl-C or SIGTERM unmounts. With --daemon it detaches
once the mount is ready. Under systemd (Type=notify) it signals readiness on
$NOTIFY_SOCKET. SIGUSR1 logs a line of cache and fetch counters.

The tree: services/<GA>/{service.json, transcripts.jsonl,
transcripts/<GT>/…}, services/<unique_name> -> <GA>. A recursive walk from
the mount or services/ (grep -r, find, du, tar, rg) meets each transcript
once: services/<GA>/by-date/YYYY/MM/DD/<GT> (grouped by date_created, UTC)
and transcripts/<GT> are not listed but resolve by path.

Credentials come from TWILIO_ACCOUNT_SID + TWILIO_AUTH_TOKEN, or TWILIO_API_KEY
+ TWILIO_API_SECRET (+ TWILIO_ACCOUNT_SID), in the environment or an
--env-file; never from flags.`,
		Example: `  export TWILIO_ACCOUNT_SID=AC… TWILIO_AUTH_TOKEN=…
  intelligencefs mount --private-key ~/.config/intelligencefs/private_key.pem ~/ci
  grep -rl --include=sentences.txt refund ~/ci/services/`,
		Args: cmdutil.ExactArgs(1, "one MOUNTPOINT"),
	}
	conn := f.AddConnFlags(cmd, true)
	m := AddFlags(cmd, conn)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return Run(cmd.Context(), f, Request{
			Options:    m,
			MountPoint: args[0],
			FsName:     "intelligencefs",
			Daemon:     m.Daemon,
			Connect:    conn.Connect,
		})
	}
	return cmd
}
