// Package search is `search`: grep over every transcript of the account
// (or of some services and dates) without a mount, through fs/search's
// engine, with grep's output forms, exit statuses and a progress line.
package search

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/cmdutil"
	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/factory"
	"github.com/intelligencefs/intelligencefs/fetch/record"
	fssearch "github.com/intelligencefs/intelligencefs/fs/search"
	"github.com/intelligencefs/intelligencefs/fs/sentencetext"
)

// searchFlags are the query and output flags of `search`.
type searchFlags struct {
	fixed, ignoreCase, filesOnly, count, jsonOut bool
	operatorResults, metadata                    bool
	services                                     []string
	since, until                                 string
	export                                       string
}

// Options are the settings of one `search`.
type Options struct {
	// Conn are the connection and key flags; Limits the request limits.
	Conn   *factory.ConnFlags
	Limits *factory.LimitFlags
	searchFlags
	// Pattern is the regular expression (or, with -F, fixed string).
	Pattern string
}

// NewCmd builds `search`: grep over every transcript without a mount.
func NewCmd(f *factory.Factory) *cobra.Command {
	opts := &Options{}
	cmd := &cobra.Command{
		Use:   "search [flags] PATTERN",
		Short: "Find text in every transcript of the account, decrypted in memory, without a mount",
		Long: `search lists the account's transcripts (or those of --service, created
within --since/--until), fetches and decrypts their sentences concurrently
with the same client, limits, retries and keys as mount, and prints each
matching sentence as it is found, in the sentences.txt form:

  GT…<TAB>[mm:ss.s] ch<N>: text

PATTERN is a Go regular expression (RE2 syntax) unless -F. Transcripts are
printed in the order their searches finish, each transcript's lines
together. Only sentences are requested unless --operator-results; nothing is
written to disk unless --export.

A transcript that cannot be searched (no key for it, damaged object, the
API gave up) is one warning on stderr; the search goes on. Exit status: 0
when something matched and nothing failed, 1 when nothing matched and
nothing failed, 2 when anything failed (as grep).

When stderr is a terminal a progress line shows transcripts searched, the
total once the listing is complete, matches, rate and time left.`,
		Example: `  intelligencefs search --private-key private_key.pem -F '+1 415 555 0100'
  intelligencefs search --private-key private_key.pem --unredacted -i -l 'jane doe' | intelligencefs transcripts delete -
  intelligencefs search --private-key private_key.pem --metadata -F CUST-1234 --export ./request-42`,
		Args: cmdutil.ExactArgs(1, "one PATTERN"),
	}
	opts.Conn = f.AddConnFlags(cmd, true)
	opts.Limits = factory.AddLimitFlags(cmd.Flags())
	fl := cmd.Flags()
	fl.BoolVarP(&opts.fixed, "fixed-strings", "F", false, "PATTERN is a fixed string, not a regular expression")
	fl.BoolVarP(&opts.ignoreCase, "ignore-case", "i", false, "match regardless of case")
	fl.BoolVarP(&opts.filesOnly, "files-with-matches", "l", false, "print only the SIDs of matching transcripts, one per line")
	fl.BoolVarP(&opts.count, "count", "c", false, "print GT…<TAB>count for each matching transcript")
	fl.BoolVar(&opts.jsonOut, "json", false, "print one JSON object per match (JSON Lines)")
	fl.StringArrayVar(&opts.services, "service", nil, "search only this service, a GA… SID or unique_name (repeatable)")
	fl.StringVar(&opts.since, "since", "", "only transcripts created at or after this time (YYYY-MM-DD or RFC 3339; UTC)")
	fl.StringVar(&opts.until, "until", "", "only transcripts created before this time (YYYY-MM-DD or RFC 3339; UTC)")
	fl.BoolVar(&opts.operatorResults, "operator-results", false, "also search the operator results (every string in them)")
	fl.BoolVar(&opts.metadata, "metadata", false, "also match the transcript's customer_key and its channel's participants")
	fl.StringVar(&opts.export, "export", "", "write each matching transcript (transcript.json, sentences.json, sentences.txt, operator results) under DIR/<GT…>/: plaintext on disk, files 0600, folders 0700")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		opts.Pattern = args[0]
		return run(cmd.Context(), f, opts)
	}
	return cmd
}

// run checks the query, connects and searches, printing to f.Stdout.
func run(ctx context.Context, f *factory.Factory, opts *Options) error {
	fl, conn, limits := opts.searchFlags, opts.Conn, opts.Limits
	q := fssearch.Query{Pattern: opts.Pattern, Fixed: fl.fixed, IgnoreCase: fl.ignoreCase, Services: fl.services,
		OperatorResults: fl.operatorResults, Metadata: fl.metadata}
	var err error
	if q.Since, err = parseDay("--since", fl.since); err != nil {
		return err
	}
	if q.Until, err = parseDay("--until", fl.until); err != nil {
		return err
	}
	if !q.Since.IsZero() && !q.Until.IsZero() && !q.Until.After(q.Since) {
		return cmdutil.Usagef("--until must be later than --since")
	}
	if n := btoi(fl.filesOnly) + btoi(fl.count) + btoi(fl.jsonOut); n > 1 {
		return cmdutil.Usagef("-l, -c and --json choose the output: give at most one")
	}
	if _, err := fssearch.Compile(q); err != nil {
		return cmdutil.UsageError{Err: err}
	}
	if err := limits.Validate(); err != nil {
		return err
	}
	c, err := conn.Connect(limits.Tune)
	if err != nil {
		return err
	}
	defer c.Client.Close()
	defer c.Keys.Zero()
	eng := fssearch.New(fssearch.Options{Source: c.Client, Decrypter: c.Keys, Workers: limits.Workers()})
	return runSearch(ctx, f, eng, q, fl)
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// parseDay parses a --since/--until value: a date (midnight UTC) or an RFC
// 3339 time.
func parseDay(flag, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse("2006-01-02", v); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t.UTC(), nil
	}
	return time.Time{}, cmdutil.Usagef("%s %q: want YYYY-MM-DD or an RFC 3339 time such as 2024-05-01T12:00:00Z", flag, cmdutil.Truncate(v, 40))
}

// runSearch runs the engine and prints what it finds.
func runSearch(ctx context.Context, f *factory.Factory, eng *fssearch.Engine, q fssearch.Query, fl searchFlags) error {
	out := bufio.NewWriter(f.Stdout)
	prog := newProgressLine(f.Stderr)
	var line []byte
	defer func() { clear(line[:cap(line)]) }()
	exported := 0
	var writeErr error
	h := fssearch.Handler{
		Match: func(r *fssearch.Result) error {
			line = formatMatches(line[:0], r, fl)
			_, err := out.Write(line)
			if err == nil {
				err = out.Flush()
			}
			if err != nil {
				writeErr = err
				return err
			}
			if fl.export != "" {
				if exported == 0 {
					prog.warn(fmt.Sprintf("writing plaintext copies of the matching transcripts under %s (files 0600, folders 0700): protect them and delete them once the request is answered", fl.export))
				}
				if _, err := fssearch.Export(ctx, fl.export, r); err != nil {
					return err
				}
				exported++
			}
			return nil
		},
		Failure: func(fl fssearch.Failure) {
			prog.warn("warning: " + fl.Err.Error() + " (search goes on)")
		},
		Progress: prog.update,
	}
	sum, err := eng.Run(ctx, q, h)
	prog.done()
	if fl.export != "" && exported > 0 {
		fmt.Fprintf(f.Stderr, "intelligencefs: exported %d transcript(s) under %s\n", exported, fl.export)
	}
	switch {
	case writeErr != nil:
		return cmdutil.ExitCodeError{Code: 2, Msg: "writing the results: " + writeErr.Error()}
	case err != nil:
		return cmdutil.ExitCodeError{Code: 2, Msg: cmdutil.OneLine(err.Error())}
	case sum.Failed > 0:
		return cmdutil.ExitCodeError{Code: 2, Msg: fmt.Sprintf("%d of %d transcript(s) could not be searched (see the warnings above)", sum.Failed, sum.Scanned)}
	case sum.Matched == 0:
		return cmdutil.ExitCodeError{Code: 1}
	}
	return nil
}

// formatMatches appends the output lines of r to dst.
func formatMatches(dst []byte, r *fssearch.Result, f searchFlags) []byte {
	t := r.Transcript
	switch {
	case f.filesOnly:
		return append(append(dst, t.SID...), '\n')
	case f.count:
		dst = append(append(dst, t.SID...), '\t')
		return append(strconv.AppendInt(dst, int64(len(r.Matches)), 10), '\n')
	}
	for _, m := range r.Matches {
		if f.jsonOut {
			dst = appendMatchJSON(dst, r, m)
			continue
		}
		dst = append(append(dst, t.SID...), '\t')
		switch m.Kind {
		case fssearch.InSentence:
			// The line as sentences.txt has it, escaped for the terminal.
			start := len(dst)
			dst = sentencetext.AppendLine(dst, m.Sentence)
			if line := dst[start:]; len(line) > 0 && line[len(line)-1] == '\n' {
				text := bytes.Clone(line[:len(line)-1])
				clear(line)
				dst = append(appendOneLine(dst[:start], text), '\n')
				clear(text) // plaintext: wiped like the Result's
			}
			continue
		case fssearch.InOperatorResult:
			dst = append(dst, "operator-results/"...)
			dst = strconv.AppendInt(dst, int64(m.OperatorResult), 10)
			dst = append(dst, ".json "...)
		case fssearch.InMetadata:
			dst = append(dst, "transcript.json "...)
		}
		dst = append(appendOneLine(dst, []byte(m.Field)), ": "...)
		dst = appendOneLine(dst, m.Text)
		dst = append(dst, '\n')
	}
	return dst
}

// appendOneLine appends text on one line, escaped for the terminal: line
// breaks as sentences.txt shows them (\n, \r), and every other control
// character, bidirectional override or invalid byte as a Go escape
// (record.AppendSafeText), so no escape sequence in a transcript or an
// operator result reaches the terminal.
func appendOneLine(dst, text []byte) []byte {
	return record.AppendSafeText(dst, text)
}

// matchJSON is one line of --json output.
type matchJSON struct {
	TranscriptSID  string   `json:"transcript_sid"`
	ServiceSID     string   `json:"service_sid"`
	DateCreated    string   `json:"date_created"`
	SentenceIndex  *int64   `json:"sentence_index,omitempty"`
	StartTime      *float64 `json:"start_time,omitempty"`
	Channel        *int64   `json:"channel,omitempty"`
	OperatorResult int      `json:"operator_result,omitempty"`
	Field          string   `json:"field,omitempty"`
	Text           string   `json:"text"`
}

// appendMatchJSON appends one JSON line for m.
func appendMatchJSON(dst []byte, r *fssearch.Result, m fssearch.Match) []byte {
	t := r.Transcript
	j := matchJSON{TranscriptSID: t.SID, ServiceSID: t.ServiceSID, Text: string(m.Text)}
	if !t.DateCreated.IsZero() {
		j.DateCreated = t.DateCreated.UTC().Format(time.RFC3339)
	}
	switch m.Kind {
	case fssearch.InSentence:
		idx, start, ch := m.Sentence.Index, m.Sentence.Start, m.Sentence.Channel
		j.SentenceIndex, j.StartTime, j.Channel = &idx, &start, &ch
	case fssearch.InOperatorResult:
		j.OperatorResult, j.Field = m.OperatorResult, m.Field
	case fssearch.InMetadata:
		j.Field = m.Field
	}
	b, err := json.Marshal(j)
	if err != nil { // a struct of strings and numbers: cannot happen
		panic(err)
	}
	dst = append(dst, b...)
	clear(b)
	return append(dst, '\n')
}

// progressLine is the one line of progress a search shows on stderr when
// stderr is a terminal (nothing otherwise). Warnings go through it so they
// do not land in the middle of the line.
type progressLine struct {
	w    io.Writer
	tty  bool
	mu   sync.Mutex
	last time.Time
	on   bool // a progress line is on screen
}

func newProgressLine(w io.Writer) *progressLine {
	p := &progressLine{w: w}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		p.tty = true
	}
	return p
}

// update redraws the line, at most ten times a second.
func (p *progressLine) update(pr fssearch.Progress) {
	if !p.tty {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	if now.Sub(p.last) < 100*time.Millisecond {
		return
	}
	p.last = now
	fmt.Fprintf(p.w, "\r\x1b[K%s", progressText(pr))
	p.on = true
}

// progressText is the text of the progress line.
func progressText(pr fssearch.Progress) string {
	var b strings.Builder
	fmt.Fprintf(&b, "searched %d", pr.Scanned)
	if pr.ListingDone {
		fmt.Fprintf(&b, "/%d", pr.Listed)
	} else {
		fmt.Fprintf(&b, "/%d+", pr.Listed)
	}
	fmt.Fprintf(&b, " transcripts, %d matches in %d", pr.Matches, pr.Matched)
	if pr.Failed > 0 {
		fmt.Fprintf(&b, ", %d failed", pr.Failed)
	}
	if secs := pr.Elapsed.Seconds(); secs > 0 && pr.Scanned > 0 {
		rate := float64(pr.Scanned) / secs
		fmt.Fprintf(&b, ", %.0f/s", rate)
		if pr.ListingDone {
			left := time.Duration(float64(pr.Listed-pr.Scanned) / rate * float64(time.Second))
			fmt.Fprintf(&b, ", ETA %s", left.Round(time.Second))
		}
	}
	return b.String()
}

// warn prints one line on stderr, clearing the progress line first.
func (p *progressLine) warn(msg string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.on {
		fmt.Fprint(p.w, "\r\x1b[K")
		p.on = false
		p.last = time.Time{}
	}
	fmt.Fprintln(p.w, "intelligencefs: "+cmdutil.OneLine(msg))
}

// done clears the progress line.
func (p *progressLine) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.on {
		fmt.Fprint(p.w, "\r\x1b[K")
		p.on = false
	}
}
