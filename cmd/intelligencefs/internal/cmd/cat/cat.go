// Package cat is `cat`: one transcript's sentences (or operator results)
// fetched, decrypted and written to stdout, without FUSE.
package cat

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/cmdutil"
	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/factory"
	"github.com/intelligencefs/intelligencefs/fetch/record"
	"github.com/intelligencefs/intelligencefs/fs/search"
)

// Options are the settings of one `cat`.
type Options struct {
	// Conn are the connection and key flags.
	Conn *factory.ConnFlags
	// OperatorResults prints the operator results instead of the sentences.
	OperatorResults bool
	// SID is the transcript (GT…).
	SID string
}

// NewCmd builds `cat`: one transcript's content to stdout, fetched and
// decrypted without FUSE (scripts, containers, a quick look).
func NewCmd(f *factory.Factory) *cobra.Command {
	opts := &Options{}
	cmd := &cobra.Command{
		Use:   "cat [--operator-results] [--unredacted] GT…",
		Short: "Print one transcript's sentences (or operator results), decrypted, to stdout",
		Long: `cat fetches one transcript's sentences document and prints it byte for byte
as Twilio sealed it (or, for a transcript that is not encrypted, as the plain
Sentences list assembles it). With --operator-results it prints the operator
results instead, as JSON Lines: each result's document compacted onto one
line, in the order Twilio lists their locations.

Takes the same credentials, --api-url and --private-key settings as mount.`,
		Example: `  intelligencefs cat --private-key private_key.pem GT0123… | jq '.sentences | length'
  intelligencefs cat --operator-results --private-key private_key.pem GT0123… | jq -c .`,
		Args: cmdutil.ExactArgs(1, "one transcript SID (GT…)"),
	}
	opts.Conn = f.AddConnFlags(cmd, true)
	cmd.Flags().BoolVar(&opts.OperatorResults, "operator-results", false, "print the operator results as JSON Lines instead of the sentences")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		opts.SID = args[0]
		return run(cmd.Context(), f, opts)
	}
	return cmd
}

// run fetches the transcript and writes its content to f.Stdout.
func run(ctx context.Context, f *factory.Factory, opts *Options) error {
	sid := opts.SID
	if !record.IsSID(sid, "GT") {
		return cmdutil.Usagef("cat: %q is not a transcript SID (GT followed by 32 hex digits)", cmdutil.Truncate(sid, 40))
	}
	c, err := opts.Conn.Connect(nil)
	if err != nil {
		return err
	}
	defer c.Client.Close()
	defer c.Keys.Zero() // as mount does: the keys are not needed after this
	t, err := c.Client.FetchTranscript(ctx, sid)
	if err != nil {
		return err
	}
	if !t.Completed() {
		return fmt.Errorf("transcript %s is %q: its content exists once it is completed", t.SID, t.Status)
	}
	// The same plan and decryption as the mount and search
	// (record.PlanContent through package search): the service decides
	// for a transcript that does not name its credential, and a plain
	// list that misses falls back to the sealed objects.
	if !opts.OperatorResults {
		doc, err := search.Sentences(ctx, c.Client, c.Keys, t)
		if err != nil {
			return err
		}
		defer clear(doc)
		_, err = f.Stdout.Write(doc)
		return err
	}
	docs, err := search.OperatorResults(ctx, c.Client, c.Keys, t)
	if err != nil {
		return err
	}
	return printOperatorResults(f.Stdout, t, docs)
}

// printOperatorResults prints each operator result compacted onto one line
// (JSON Lines) and wipes every document, printed or not.
func printOperatorResults(w io.Writer, t record.Transcript, docs [][]byte) error {
	defer func() {
		for _, d := range docs {
			clear(d)
		}
	}()
	var line bytes.Buffer
	defer func() { clear(line.Bytes()[:line.Cap()]) }()
	for i, doc := range docs {
		line.Reset()
		if err := json.Compact(&line, doc); err != nil {
			return fmt.Errorf("transcript %s: operator result %d is not JSON", t.SID, i+1)
		}
		line.WriteByte('\n')
		if _, err := w.Write(line.Bytes()); err != nil {
			return err
		}
	}
	return nil
}
