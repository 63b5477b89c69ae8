package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/intelligencefs/intelligencefs/fetch"
	"github.com/intelligencefs/intelligencefs/fetch/record"
)

// transcriptSIDPattern is a well-formed transcript SID.
var transcriptSIDPattern = regexp.MustCompile(`^GT[0-9a-fA-F]{32}$`)

// newTranscriptsCmd builds `transcripts`, the parent of `transcripts delete`.
func (a *app) newTranscriptsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "transcripts",
		Short: "Act on transcripts through the Twilio API (delete)",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	cmd.AddCommand(a.newTranscriptsDeleteCmd())
	return cmd
}

// Receipt results of `transcripts delete`.
const (
	receiptDeleted        = "deleted"
	receiptAlreadyDeleted = "already-deleted"
	receiptWouldDelete    = "would-delete"
	receiptFailed         = "failed"
)

// newTranscriptsDeleteCmd builds `transcripts delete`.
func (a *app) newTranscriptsDeleteCmd() *cobra.Command {
	var yes, dryRun bool
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
	conn := a.addConnFlags(cmd, false)
	conn.sealed = addSealedFlags(cmd.Flags()) // its entries of the deleted transcripts go too
	cmd.Flags().BoolVar(&yes, "yes", false, "delete without asking")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "check each transcript exists and print what would be deleted; delete nothing")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		sids, err := a.deleteTargets(args)
		if err != nil {
			return err
		}
		if !yes && !dryRun {
			if err := a.confirmDelete(sids, args[0] == "-"); err != nil {
				return err
			}
		}
		c, err := conn.connect(nil)
		if err != nil {
			return err
		}
		defer c.Client.Close()
		return a.deleteAll(cmd, c.Client, sids, dryRun)
	}
	return cmd
}

// deleteTargets returns the SIDs to delete: the arguments, or stdin's
// lines for "-". Every one must be a well-formed SID, checked before
// anything is deleted; duplicates are dropped.
func (a *app) deleteTargets(args []string) ([]string, error) {
	var raw []string
	if len(args) == 1 && args[0] == "-" {
		if a.stdin == nil {
			return nil, usagef("- reads SIDs from stdin, but there is none")
		}
		sc := bufio.NewScanner(a.stdin)
		for sc.Scan() {
			if l := strings.TrimSpace(sc.Text()); l != "" {
				raw = append(raw, l)
			}
		}
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("reading SIDs from stdin: %w", err)
		}
		if len(raw) == 0 {
			return nil, usagef("no transcript SIDs on stdin")
		}
	} else {
		raw = args
	}
	seen := map[string]bool{}
	var out []string
	for i, s := range raw {
		if !transcriptSIDPattern.MatchString(s) {
			return nil, usagef("%q (SID %d) is not a transcript SID (GT followed by 32 hex digits); nothing was deleted", truncate(s, 40), i+1)
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
func (a *app) confirmDelete(sids []string, fromStdin bool) error {
	in, out, closeTTY, ok := a.terminal(fromStdin)
	if !ok {
		return usagef("refusing to delete %d transcript(s) without confirmation: there is no terminal to ask on; pass --yes (or --dry-run to check first)", len(sids))
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
func (a *app) terminal(fromStdin bool) (io.Reader, io.Writer, func(), bool) {
	if !fromStdin && a.stdin != nil && term.IsTerminal(int(a.stdin.Fd())) {
		return a.stdin, a.stderr, func() {}, true
	}
	tty, err := os.OpenFile(ttyPath, os.O_RDWR, 0)
	if err != nil {
		return nil, nil, nil, false
	}
	if !term.IsTerminal(int(tty.Fd())) {
		tty.Close()
		return nil, nil, nil, false
	}
	var out io.Writer = a.stderr
	if ttyWritable {
		out = tty
	}
	return tty, out, func() { tty.Close() }, true
}

// deleteAll deletes (or, dry, checks) each SID and prints its receipt.
func (a *app) deleteAll(cmd *cobra.Command, client *fetch.Client, sids []string, dry bool) error {
	ctx := cmd.Context()
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
			line += receiptFailed + "\t" + time.Now().UTC().Format(time.RFC3339) + "\t" + oneLine(client.Redact(err.Error()))
		} else {
			line += result + "\t" + time.Now().UTC().Format(time.RFC3339)
		}
		if _, werr := fmt.Fprintln(a.stdout, line); werr != nil {
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
