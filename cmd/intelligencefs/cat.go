package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/intelligencefs/intelligencefs/crypto"
	"github.com/intelligencefs/intelligencefs/fetch"
	"github.com/intelligencefs/intelligencefs/fetch/record"
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
		var svc record.Service
		if record.NeedsService(t) {
			// The transcript does not name its credential: its service
			// decides (record.PlanContent, as the mount does).
			if svc, err = c.Client.FetchService(ctx, t.ServiceSID); err != nil {
				return fmt.Errorf("transcript %s: its service (to know whether it is encrypted): %w", t.SID, err)
			}
		}
		p := record.PlanContent(t, svc)
		st := p.Sealed(t) // as the sealed-content methods and the key see it
		// open decrypts one envelope into *doc. The client may call it
		// twice (a sealed-cache entry that does not open, then the
		// download); its error keeps the crypto sentinel for that.
		open := func(doc *[]byte) func(crypto.Envelope) error {
			return func(env crypto.Envelope) error {
				plain, err := c.Keys.Open(st.EncryptionCredentialSID, env, make([]byte, 0, max(env.PlaintextLen(), 0)))
				if err != nil {
					return openError(st, err)
				}
				*doc = plain
				return nil
			}
		}
		if !operatorResults {
			doc, err := catSentences(ctx, c.Client, t, p, open)
			if err != nil {
				return err
			}
			defer clear(doc)
			_, err = a.stdout.Write(doc)
			return err
		}
		return a.catOperatorResults(cmd, c.Client, t, p, open)
	}
	return cmd
}

// catSentences fetches t's sentences document as p says: sealed, plain, or
// plain then sealed when the plain list misses.
func catSentences(ctx context.Context, client *fetch.Client, t record.Transcript, p record.ContentPlan, open func(*[]byte) func(crypto.Envelope) error) ([]byte, error) {
	var doc []byte
	if p.Encrypted {
		err := client.OpenSentences(ctx, p.Sealed(t), open(&doc))
		return doc, err
	}
	doc, err := client.PlainSentences(ctx, t.SID)
	if p.PlainMissed(err, record.EmptySentences(doc)) {
		var sealed []byte
		serr := client.OpenSentences(ctx, p.Sealed(t), open(&sealed))
		if serr == nil {
			clear(doc)
			return sealed, nil
		}
		err = record.MissedErr(err, serr)
	}
	return doc, err
}

// catOperatorResults prints each operator result compacted onto one line.
func (a *app) catOperatorResults(cmd *cobra.Command, client *fetch.Client, t record.Transcript, p record.ContentPlan, open func(*[]byte) func(crypto.Envelope) error) error {
	ctx := cmd.Context()
	var line bytes.Buffer
	defer func() { clear(line.Bytes()[:line.Cap()]) }()
	emit := func(i int, doc []byte) error {
		defer clear(doc)
		line.Reset()
		if err := json.Compact(&line, doc); err != nil {
			return fmt.Errorf("transcript %s: operator result %d is not JSON", t.SID, i+1)
		}
		line.WriteByte('\n')
		_, err := a.stdout.Write(line.Bytes())
		return err
	}
	if !p.Encrypted {
		docs, err := client.PlainOperatorResults(ctx, t.SID)
		if !p.PlainMissed(err, len(docs) == 0) {
			if err != nil {
				return err
			}
			for i, d := range docs {
				if err := emit(i, d); err != nil {
					return err
				}
			}
			return nil
		}
		// The plain list missed: the sealed locations, when there are any.
		locs, lerr := client.OperatorResultLocations(ctx, p.Sealed(t))
		if lerr != nil || len(locs) == 0 {
			for _, d := range docs {
				clear(d)
			}
			return record.MissedErr(err, lerr)
		}
		for _, d := range docs {
			clear(d)
		}
		return a.catSealedResults(ctx, client, p.Sealed(t), locs, open, emit)
	}
	locs, err := client.OperatorResultLocations(ctx, p.Sealed(t))
	if err != nil {
		return err
	}
	return a.catSealedResults(ctx, client, p.Sealed(t), locs, open, emit)
}

// catSealedResults opens and emits the sealed operator results at locs.
func (a *app) catSealedResults(ctx context.Context, client *fetch.Client, t record.Transcript, locs []string, open func(*[]byte) func(crypto.Envelope) error, emit func(int, []byte) error) error {
	for i, loc := range locs {
		var doc []byte
		if err := client.OpenOperatorResult(ctx, t, i, loc, nil, open(&doc)); err != nil {
			return err
		}
		if err := emit(i, doc); err != nil {
			return err
		}
	}
	return nil
}

// openError says which key is missing when a transcript does not decrypt.
func openError(t record.Transcript, err error) error {
	switch {
	case errors.Is(err, crypto.ErrUnwrap):
		return fmt.Errorf("transcript %s: %w (it was encrypted for credential %s: give its private key with --private-key %s=PATH)", t.SID, err, t.EncryptionCredentialSID, t.EncryptionCredentialSID)
	case errors.Is(err, crypto.ErrAuth):
		return fmt.Errorf("transcript %s: %w (the object was altered or damaged; nothing printed)", t.SID, err)
	}
	return fmt.Errorf("transcript %s: %w", t.SID, err)
}
