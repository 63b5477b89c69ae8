package main

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/intelligencefs/intelligencefs/fetch/record"
	"github.com/intelligencefs/intelligencefs/fs/search"
)

// newCatCmd builds `cat`: one transcript's content to stdout, fetched and
// decrypted without FUSE (scripts, containers, a quick look).
func (a *app) newCatCmd() *cobra.Command {
	var operatorResults bool
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
		Args: exactArgs(1, "one transcript SID (GT…)"),
	}
	conn := a.addConnFlags(cmd, true)
	cmd.Flags().BoolVar(&operatorResults, "operator-results", false, "print the operator results as JSON Lines instead of the sentences")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		ctx := cmd.Context()
		sid := args[0]
		if !transcriptSIDPattern.MatchString(sid) {
			return usagef("cat: %q is not a transcript SID (GT followed by 32 hex digits)", truncate(sid, 40))
		}
		c, err := conn.connect(nil)
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
		if !operatorResults {
			doc, err := search.Sentences(ctx, c.Client, c.Keys, t)
			if err != nil {
				return err
			}
			defer clear(doc)
			_, err = a.stdout.Write(doc)
			return err
		}
		docs, err := search.OperatorResults(ctx, c.Client, c.Keys, t)
		if err != nil {
			return err
		}
		return a.printOperatorResults(t, docs)
	}
	return cmd
}

// printOperatorResults prints each operator result compacted onto one line
// (JSON Lines) and wipes every document, printed or not.
func (a *app) printOperatorResults(t record.Transcript, docs [][]byte) error {
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
		if _, err := a.stdout.Write(line.Bytes()); err != nil {
			return err
		}
	}
	return nil
}
