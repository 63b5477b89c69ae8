// Package transcripts is `transcripts delete`: transcripts erased through
// the Twilio API, one receipt line each, with confirmation on a terminal.
package transcripts

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/cmdutil"
	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/factory"
	"github.com/intelligencefs/intelligencefs/fetch"
	"github.com/intelligencefs/intelligencefs/fetch/record"
)

// NewCmd builds `transcripts`, the parent of `transcripts delete`.
func NewCmd(f *factory.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "transcripts",
		Short: "Act on transcripts through the Twilio API (delete)",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newDeleteCmd(f))
	return cmd
}

// Receipt results of `transcripts delete`.
const (
	receiptDeleted        = "deleted"
	receiptAlreadyDeleted = "already-deleted"
	receiptWouldDelete    = "would-delete"
	receiptFailed         = "failed"
)

// deleteOptions are the settings of one `transcripts delete`.
type deleteOptions struct {
	conn        *factory.ConnFlags
	yes, dryRun bool
	// args are the SIDs, or "-" to read them from stdin.
	args []string
}

// newDeleteCmd builds `transcripts delete`.
func newDeleteCmd(f *factory.Factory) *cobra.Command {
	opts := &deleteOptions{}
	cmd := &cobra.Command{
		Use:   "delete [--yes] [--dry-run] GT… | -",
		Short: "Delete transcripts (and their content) through the Twilio API, with one receipt line each",
		Long: `delete erases transcripts through the Twilio API (DELETE on the Transcript
resource): Twilio removes the transcript, its sentences and its operator
results. Give the SIDs as arguments, or - to read them one per line from
stdin (e.g. from search -l).

It prints one receipt line per SID on stdout, tab-separated: the SID, the
result (deleted, already-deleted, would-delete with --dry-run, failed) and
the time (UTC), then for a failure the reason. Receipts carry no content.
A transcript that is already gone counts as done. The exit status is 1 if
any deletion failed.

Without --yes it shows how many transcripts and which, and asks for "yes"
on the terminal; with no terminal to ask on it refuses. --dry-run checks
that each transcript exists and deletes nothing. With --sealed-cache DIR
(as given to mount, cat and search) the transcripts' sealed objects are
removed from that cache too.`,
		Example: `  intelligencefs transcripts delete --dry-run GT0123…
  intelligencefs search -l -F '+14155550100' | intelligencefs transcripts delete --yes -`,
		Args: cobra.MinimumNArgs(1),
	}
	opts.conn = f.AddConnFlags(cmd, false)
	opts.conn.Sealed = factory.AddSealedFlags(cmd.Flags()) // its entries of the deleted transcripts go too
	cmd.Flags().BoolVar(&opts.yes, "yes", false, "delete without asking")
	cmd.Flags().BoolVar(&opts.dryRun, "dry-run", false, "check each transcript exists and print what would be deleted; delete nothing")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		opts.args = args
		return runDelete(cmd.Context(), f, opts)
	}
	return cmd
}

// runDelete checks every SID, asks for confirmation unless --yes or
// --dry-run, then deletes (or checks) each and prints its receipt.
func runDelete(ctx context.Context, f *factory.Factory, opts *deleteOptions) error {
	args, yes, dryRun := opts.args, opts.yes, opts.dryRun
	sids, err := deleteTargets(f, args)
	if err != nil {
		return err
	}
	if !yes && !dryRun {
		if err := confirmDelete(f, sids, args[0] == "-"); err != nil {
			return err
		}
	}
	c, err := opts.conn.Connect(nil)
	if err != nil {
		return err
	}
	defer c.Client.Close()
	return deleteAll(ctx, f, c.Client, sids, dryRun)
}

// deleteTargets returns the SIDs to delete: the arguments, or stdin's
// lines for "-". Every one must be a well-formed SID, checked before
// anything is deleted; duplicates are dropped.
func deleteTargets(f *factory.Factory, args []string) ([]string, error) {
	var raw []string
	if len(args) == 1 && args[0] == "-" {
		if f.Stdin == nil {
			return nil, cmdutil.Usagef("- reads SIDs from stdin, but there is none")
		}
		sc := bufio.NewScanner(f.Stdin)
		for sc.Scan() {
			if l := strings.TrimSpace(sc.Text()); l != "" {
				raw = append(raw, l)
			}
		}
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("reading SIDs from stdin: %w", err)
		}
		if len(raw) == 0 {
			return nil, cmdutil.Usagef("no transcript SIDs on stdin")
		}
	} else {
		raw = args
	}
	seen := map[string]bool{}
	var out []string
	for i, s := range raw {
		if !record.IsSID(s, "GT") {
			return nil, cmdutil.Usagef("%q (SID %d) is not a transcript SID (GT followed by 32 hex digits); nothing was deleted", cmdutil.Truncate(s, 40), i+1)
		}
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out, nil
}

// errNotConfirmed is a deletion the user did not confirm.
var errNotConfirmed = errors.New("not confirmed: nothing was deleted")

// confirmDelete shows what is about to be deleted and asks for "yes" on
// the terminal: stdin when it is one (and did not carry the SIDs), else the
// process's controlling terminal. Without a terminal it refuses.
func confirmDelete(f *factory.Factory, sids []string, fromStdin bool) error {
	in, out, closeTTY, ok := terminal(f, fromStdin)
	if !ok {
		return cmdutil.Usagef("refusing to delete %d transcript(s) without confirmation: there is no terminal to ask on; pass --yes (or --dry-run to check first)", len(sids))
	}
	defer closeTTY()
	fmt.Fprintf(out, "About to delete %d transcript(s) and their content through the Twilio API; this cannot be undone:\n", len(sids))
	for _, s := range sids {
		fmt.Fprintf(out, "  %s\n", s)
	}
	fmt.Fprint(out, `Type "yes" to delete: `)
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && line == "" {
		return errNotConfirmed
	}
	if strings.TrimSpace(line) != "yes" {
		return errNotConfirmed
	}
	return nil
}

// terminal returns a terminal to ask on: stdin and stderr when stdin is a
// terminal (and not the list of SIDs), else the controlling terminal.
func terminal(f *factory.Factory, fromStdin bool) (io.Reader, io.Writer, func(), bool) {
	if !fromStdin && f.Stdin != nil && term.IsTerminal(int(f.Stdin.Fd())) {
		return f.Stdin, f.Stderr, func() {}, true
	}
	tty, err := os.OpenFile(ttyPath, os.O_RDWR, 0)
	if err != nil {
		return nil, nil, nil, false
	}
	if !term.IsTerminal(int(tty.Fd())) {
		tty.Close()
		return nil, nil, nil, false
	}
	var out io.Writer = f.Stderr
	if ttyWritable {
		out = tty
	}
	return tty, out, func() { tty.Close() }, true
}

// deleteAll deletes (or, dry, checks) each SID and prints its receipt.
func deleteAll(ctx context.Context, f *factory.Factory, client *fetch.Client, sids []string, dry bool) error {
	failed := 0
	for _, sid := range sids {
		var err error
		result := receiptDeleted
		if dry {
			result = receiptWouldDelete
			_, err = client.FetchTranscript(ctx, sid)
		} else {
			err = client.DeleteTranscript(ctx, sid)
		}
		if errors.Is(err, record.ErrNotFound) {
			result, err = receiptAlreadyDeleted, nil
		}
		line := sid + "\t"
		if err != nil {
			failed++
			line += receiptFailed + "\t" + time.Now().UTC().Format(time.RFC3339) + "\t" + cmdutil.OneLine(client.Redact(err.Error()))
		} else {
			line += result + "\t" + time.Now().UTC().Format(time.RFC3339)
		}
		if _, werr := fmt.Fprintln(f.Stdout, line); werr != nil {
			return werr
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d deletion(s) failed (see the receipts)", failed, len(sids))
	}
	return nil
}
