package main

import (
	"errors"

	"github.com/spf13/cobra"

	"github.com/intelligencefs/intelligencefs/fetch"
)

// errNeedsLinux is what mount, demo and the fstab form say outside Linux.
var errNeedsLinux = errors.New("mounting needs Linux (or WSL2); decrypt, cat, keygen, keys, services and doctor work here")

// mountRequest is one mount to make: from `mount`, the fstab form or demo.
type mountRequest struct {
	flags      *mountFlags
	mountPoint string
	// fsName is what /proc/mounts shows as the source ("intelligencefs", or
	// the fstab form's SOURCE).
	fsName string
	// daemon detaches once mounted (--daemon, or the fstab form without -f).
	daemon bool
	// connect builds the connection (client and keyring), applying tune to
	// the client configuration; flags.conn.connect for mount, the simulator
	// for demo.
	connect func(tune func(*fetch.Config)) (*connection, error)
	// onReady, when set, runs once the mount answers (demo prints what to try).
	onReady func(mountPoint string)
}

// newMountCmd builds `mount`.
func (a *app) newMountCmd() *cobra.Command {
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
		Args: exactArgs(1, "one MOUNTPOINT"),
	}
	conn := a.addConnFlags(cmd, true)
	m := addMountFlags(cmd, conn)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return a.runMount(cmd.Context(), mountRequest{
			flags:      m,
			mountPoint: args[0],
			fsName:     "intelligencefs",
			daemon:     m.daemon,
			connect:    conn.connect,
		})
	}
	return cmd
}
