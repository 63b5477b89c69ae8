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
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/cmdutil"
	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/factory"
	"github.com/intelligencefs/intelligencefs/fetch"
	"github.com/intelligencefs/intelligencefs/fetch/record"
	"github.com/intelligencefs/intelligencefs/fetch/sealedcache"
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
	// receiptDeleted: the API answered 204 to a DELETE of a transcript
	// this account proved it owns (a GET under these credentials naming
	// this account first).
	receiptDeleted = "deleted"
	// receiptNotFound: nothing was proven: a 404 (gone already, another
	// account's credentials, a wrong region or edge, a proxy) or a
	// transcript of another account. The exit status is 1.
	receiptNotFound = "not-found"
	// receiptWouldDelete: --dry-run proved the account owns it.
	receiptWouldDelete = "would-delete"
	// receiptFailed: any other answer (a 200 or a redirect to the DELETE,
	// rejected credentials, the API unreachable).
	receiptFailed = "failed"
)

// deleteOptions are the settings of one `transcripts delete`.
type deleteOptions struct {
	conn        *factory.ConnFlags
	yes, dryRun bool
	// sealedDirs are the --sealed-cache directories to remove a deleted
	// transcript's entries from, besides the default one.
	sealedDirs []string
	// defaultSealed is the default sealed cache's directory ("" for none):
	// DefaultSealedDir, replaced in tests.
	defaultSealed string
	// args are the SIDs, or "-" to read them from stdin.
	args []string
}

// DefaultSealedDir is the sealed cache `transcripts delete` always cleans
// when it exists, besides those given with --sealed-cache: the
// directory the README suggests, under the user's cache directory
// (~/.cache/intelligencefs/sealed on Linux). "" when there is none.
func DefaultSealedDir() string {
	d, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(d, "intelligencefs", "sealed")
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
result, the time (UTC), the account SID and the API origin the receipt is
for, then for anything but deleted the reason. Receipts carry no content.

  deleted       the API answered 204 No Content to the DELETE of a
                transcript this account proved it owns: a GET of it under
                these credentials, naming this account, came first
  not-found     nothing was proven: a 404 (already gone, another account's
                credentials, a wrong region or edge, a proxy) or a
                transcript of another account
  would-delete  --dry-run: the account proved it owns it
  failed        any other answer (a 200 or a redirect to the DELETE,
                rejected credentials, the API unreachable)

The exit status is 1 unless every SID was deleted (or, with --dry-run,
would be).

Without --yes it shows how many transcripts and which, and asks for "yes"
on the terminal; with no terminal to ask on it refuses. --dry-run proves
each transcript is the account's and changes nothing anywhere. A deleted
transcript's sealed objects are removed from every --sealed-cache DIR
given (repeatable) and from the default one (` + "`~/.cache/intelligencefs/sealed`" + `)
when it exists. What delete cannot reach is said on stderr: copies made
with search --export or out of a mount, and running mounts, which show the
transcript until their next full relist.`,
		Example: `  intelligencefs transcripts delete --dry-run GT0123…
  intelligencefs search -l -F '+14155550100' | intelligencefs transcripts delete --yes -`,
		Args: cobra.MinimumNArgs(1),
	}
	opts.conn = f.AddConnFlags(cmd, false)
	opts.defaultSealed = DefaultSealedDir()
	cmd.Flags().StringArrayVar(&opts.sealedDirs, factory.FlagSealedCache, nil, "remove the deleted transcripts' sealed objects from this cache directory too (repeatable; the default one is always cleaned when it exists)")
	cmd.Flags().BoolVar(&opts.yes, "yes", false, "delete without asking")
	cmd.Flags().BoolVar(&opts.dryRun, "dry-run", false, "prove each transcript is this account's and print what would be deleted; change nothing")
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
	return deleteAll(ctx, f, c.Client, sids, dryRun, opts.sealedCaches())
}

// sealedCaches are the sealed cache directories a deletion cleans: those
// given, then the default one when it exists, each once.
func (o *deleteOptions) sealedCaches() []string {
	var out []string
	seen := map[string]bool{}
	add := func(d string) {
		if d = filepath.Clean(d); !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	for _, d := range o.sealedDirs {
		add(d)
	}
	if o.defaultSealed != "" {
		if fi, err := os.Stat(o.defaultSealed); err == nil && fi.IsDir() {
			add(o.defaultSealed)
		}
	}
	return out
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

// deleteAll deletes (or, dry, proves) each SID and prints its receipt;
// after a deletion, the transcript's entries go from every sealed cache in
// caches. It ends with one line on stderr saying what it could not reach.
func deleteAll(ctx context.Context, f *factory.Factory, client *fetch.Client, sids []string, dry bool, caches []string) error {
	account, origin := client.AccountSID(), client.APIOrigin()
	if account == "" {
		account = "-"
	}
	counts := map[string]int{}
	var cleaned []string
	for _, sid := range sids {
		var err error
		result := receiptDeleted
		if dry {
			result = receiptWouldDelete
			_, err = client.OwnedTranscript(ctx, sid)
		} else {
			err = client.DeleteTranscript(ctx, sid)
		}
		switch {
		case err == nil:
		case errors.Is(err, record.ErrNotFound):
			result = receiptNotFound
		default:
			result = receiptFailed
		}
		fields := []string{sid, result, time.Now().UTC().Format(time.RFC3339), account, record.SafeText(origin)}
		if err != nil {
			fields = append(fields, cmdutil.OneLine(client.Redact(err.Error())))
		}
		if result == receiptDeleted {
			if problems := purgeSealed(caches, sid); len(problems) > 0 {
				fields = append(fields, "sealed cache: "+strings.Join(problems, "; "))
			}
			cleaned = append(cleaned, sid)
		}
		counts[result]++
		if _, werr := fmt.Fprintln(f.Stdout, strings.Join(fields, "\t")); werr != nil {
			return werr
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	if len(cleaned) > 0 {
		where := "no sealed cache was named (--sealed-cache DIR) and the default one does not exist"
		if len(caches) > 0 {
			where = "their sealed objects were removed from " + strings.Join(caches, ", ")
		}
		fmt.Fprintf(f.Stderr, "intelligencefs: %d transcript(s) deleted through the API; %s. Not reached: sealed caches not named here, copies made with search --export or out of a mount, and running mounts, which show them until their next full relist (or remount).\n", len(cleaned), where)
	}
	want := receiptDeleted
	if dry {
		want = receiptWouldDelete
	}
	if n := len(sids) - counts[want]; n > 0 {
		return fmt.Errorf("%d of %d transcript(s) not %s: %d not found (not proven this account's), %d failed (see the receipts)",
			n, len(sids), strings.ReplaceAll(want, "-", " "), counts[receiptNotFound], counts[receiptFailed])
	}
	return nil
}

// purgeSealed removes sid's entries from every cache directory in dirs
// and returns one phrase per directory it could not clean. A directory
// that does not exist holds nothing of sid.
func purgeSealed(dirs []string, sid string) []string {
	var problems []string
	for _, d := range dirs {
		st, err := sealedcache.Open(sealedcache.Options{Dir: d, MustExist: true})
		if errors.Is(err, sealedcache.ErrNotExist) {
			continue
		}
		if err == nil {
			_, err = st.Purge(sid)
			st.Close()
		}
		if err != nil {
			problems = append(problems, cmdutil.OneLine(err.Error()))
		}
	}
	return problems
}
