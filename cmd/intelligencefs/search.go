package main

import (
	"bufio"
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

	"github.com/intelligencefs/intelligencefs/fs/search"
	"github.com/intelligencefs/intelligencefs/fs/sentencetext"
)

// searchFlags are the settings of `search`.
type searchFlags struct {
	fixed, ignoreCase, filesOnly, count, jsonOut bool
	operatorResults, metadata                    bool
	services                                     []string
	since, until                                 string
	export                                       string
}

// newSearchCmd builds `search`: grep over every transcript without a mount.
func (a *app) newSearchCmd() *cobra.Command {
	var f searchFlags
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
		Args: exactArgs(1, "one PATTERN"),
	}
	conn := a.addConnFlags(cmd, true)
	limits := addLimitFlags(cmd.Flags())
	fl := cmd.Flags()
	fl.BoolVarP(&f.fixed, "fixed-strings", "F", false, "PATTERN is a fixed string, not a regular expression")
	fl.BoolVarP(&f.ignoreCase, "ignore-case", "i", false, "match regardless of case")
	fl.BoolVarP(&f.filesOnly, "files-with-matches", "l", false, "print only the SIDs of matching transcripts, one per line")
	fl.BoolVarP(&f.count, "count", "c", false, "print GT…<TAB>count for each matching transcript")
	fl.BoolVar(&f.jsonOut, "json", false, "print one JSON object per match (JSON Lines)")
	fl.StringArrayVar(&f.services, "service", nil, "search only this service, a GA… SID or unique_name (repeatable)")
	fl.StringVar(&f.since, "since", "", "only transcripts created at or after this time (YYYY-MM-DD or RFC 3339; UTC)")
	fl.StringVar(&f.until, "until", "", "only transcripts created before this time (YYYY-MM-DD or RFC 3339; UTC)")
	fl.BoolVar(&f.operatorResults, "operator-results", false, "also search the operator results (every string in them)")
	fl.BoolVar(&f.metadata, "metadata", false, "also match the transcript's customer_key and its channel's participants")
	fl.StringVar(&f.export, "export", "", "write each matching transcript (transcript.json, sentences.json, sentences.txt, operator results) under DIR/<GT…>/: plaintext on disk, files 0600, folders 0700")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		q := search.Query{Pattern: args[0], Fixed: f.fixed, IgnoreCase: f.ignoreCase, Services: f.services,
			OperatorResults: f.operatorResults, Metadata: f.metadata}
		var err error
		if q.Since, err = parseDay("--since", f.since); err != nil {
			return err
		}
		if q.Until, err = parseDay("--until", f.until); err != nil {
			return err
		}
		if !q.Since.IsZero() && !q.Until.IsZero() && !q.Until.After(q.Since) {
			return usagef("--until must be later than --since")
		}
		if n := btoi(f.filesOnly) + btoi(f.count) + btoi(f.jsonOut); n > 1 {
			return usagef("-l, -c and --json choose the output: give at most one")
		}
		if _, err := search.Compile(q); err != nil {
			return usageError{err}
		}
		if err := limits.validate(); err != nil {
			return err
		}
		c, err := conn.connect(limits.tune)
		if err != nil {
			return err
		}
		defer c.Client.Close()
		defer c.Keys.Zero()
		eng := search.New(search.Options{Source: c.Client, Decrypter: c.Keys, Workers: limits.workers()})
		return a.runSearch(cmd, eng, q, f)
	}
	return cmd
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
	return time.Time{}, usagef("%s %q: want YYYY-MM-DD or an RFC 3339 time such as 2024-05-01T12:00:00Z", flag, truncate(v, 40))
}

// runSearch runs the engine and prints what it finds.
func (a *app) runSearch(cmd *cobra.Command, eng *search.Engine, q search.Query, f searchFlags) error {
	ctx := cmd.Context()
	out := bufio.NewWriter(a.stdout)
	prog := newProgressLine(a.stderr)
	var line []byte
	defer func() { clear(line[:cap(line)]) }()
	exported := 0
	var writeErr error
	h := search.Handler{
		Match: func(r *search.Result) error {
			line = formatMatches(line[:0], r, f)
			_, err := out.Write(line)
			if err == nil {
				err = out.Flush()
			}
			if err != nil {
				writeErr = err
				return err
			}
			if f.export != "" {
				if exported == 0 {
					prog.warn(fmt.Sprintf("writing plaintext copies of the matching transcripts under %s (files 0600, folders 0700): protect them and delete them once the request is answered", f.export))
				}
				if _, err := search.Export(ctx, f.export, r); err != nil {
					return err
				}
				exported++
			}
			return nil
		},
		Failure: func(fl search.Failure) {
			prog.warn("warning: " + fl.Err.Error() + " (search goes on)")
		},
		Progress: prog.update,
	}
	sum, err := eng.Run(ctx, q, h)
	prog.done()
	if f.export != "" && exported > 0 {
		fmt.Fprintf(a.stderr, "intelligencefs: exported %d transcript(s) under %s\n", exported, f.export)
	}
	switch {
	case writeErr != nil:
		return exitCodeError{code: 2, msg: "writing the results: " + writeErr.Error()}
	case err != nil:
		return exitCodeError{code: 2, msg: oneLine(err.Error())}
	case sum.Failed > 0:
		return exitCodeError{code: 2, msg: fmt.Sprintf("%d of %d transcript(s) could not be searched (see the warnings above)", sum.Failed, sum.Scanned)}
	case sum.Matched == 0:
		return exitCodeError{code: 1}
	}
	return nil
}

// formatMatches appends the output lines of r to dst.
func formatMatches(dst []byte, r *search.Result, f searchFlags) []byte {
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
		case search.InSentence:
			dst = sentencetext.AppendLine(dst, m.Sentence)
			continue
		case search.InOperatorResult:
			dst = append(dst, "operator-results/"...)
			dst = strconv.AppendInt(dst, int64(m.OperatorResult), 10)
			dst = append(dst, ".json "...)
		case search.InMetadata:
			dst = append(dst, "transcript.json "...)
		}
		dst = append(append(dst, m.Field...), ": "...)
		dst = appendOneLine(dst, m.Text)
		dst = append(dst, '\n')
	}
	return dst
}

// appendOneLine appends text with newlines and carriage returns escaped, as
// sentences.txt shows them.
func appendOneLine(dst, text []byte) []byte {
	for _, c := range text {
		switch c {
		case '\n':
			dst = append(dst, `\n`...)
		case '\r':
			dst = append(dst, `\r`...)
		default:
			dst = append(dst, c)
		}
	}
	return dst
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
func appendMatchJSON(dst []byte, r *search.Result, m search.Match) []byte {
	t := r.Transcript
	j := matchJSON{TranscriptSID: t.SID, ServiceSID: t.ServiceSID, Text: string(m.Text)}
	if !t.DateCreated.IsZero() {
		j.DateCreated = t.DateCreated.UTC().Format(time.RFC3339)
	}
	switch m.Kind {
	case search.InSentence:
		idx, start, ch := m.Sentence.Index, m.Sentence.Start, m.Sentence.Channel
		j.SentenceIndex, j.StartTime, j.Channel = &idx, &start, &ch
	case search.InOperatorResult:
		j.OperatorResult, j.Field = m.OperatorResult, m.Field
	case search.InMetadata:
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
func (p *progressLine) update(pr search.Progress) {
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
func progressText(pr search.Progress) string {
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
	fmt.Fprintln(p.w, "intelligencefs: "+oneLine(msg))
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
