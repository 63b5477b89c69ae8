package fetch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/intelligencefs/intelligencefs/fetch/record"
	"path/filepath"
	"testing"

	"github.com/intelligencefs/intelligencefs/crypto"
	"github.com/intelligencefs/intelligencefs/fetch/sealedcache"
	"github.com/intelligencefs/intelligencefs/fetch/twiliosim"
)

// TestSealedOpeners covers the client's side of the sealed cache on the
// simulator: a second client serves from the entries without requests; an
// entry whose envelope does not open (authenticated by the store, damaged
// before it was stored) is removed and the object downloaded, and a
// caller's own error is returned as is; a plain transcript is never
// stored; a 404 of the transcript leaves its entries, a proven delete
// drops them.
func TestSealedOpeners(t *testing.T) {
	s, ring := newSim(t, twiliosim.Options{Corpus: twiliosim.CorpusOptions{Seed: 5, TranscriptsPerService: 4}})
	dir := filepath.Join(t.TempDir(), "sealed")
	newClient := func() (*Client, *sealedcache.Store) {
		st, err := sealedcache.Open(sealedcache.Options{Dir: dir, SealKey: ring.DeriveSecret(sealedcache.SealKeyLabel)})
		if err != nil {
			t.Fatal(err)
		}
		c, _ := simClient(t, s, func(c *Config) { c.SealedCache = st })
		return c, st
	}
	ctx := context.Background()
	ti := pick(t, s, "call-centre-encrypted", true)
	c, _ := newClient()
	tr, err := c.FetchTranscript(ctx, ti.SID)
	if err != nil {
		t.Fatal(err)
	}
	openInto := func(out *[]byte) func(crypto.Envelope) error {
		return func(env crypto.Envelope) error {
			p, err := ring.Open(tr.EncryptionCredentialSID, env, nil)
			*out = p
			return err
		}
	}
	read := func(c *Client) ([]byte, [][]byte) {
		t.Helper()
		var doc []byte
		if err := c.OpenSentences(ctx, tr, openInto(&doc)); err != nil {
			t.Fatal(err)
		}
		rs, err := c.SealedOperatorResults(ctx, tr)
		if err != nil {
			t.Fatal(err)
		}
		var ops [][]byte
		for i := range rs.Len() {
			var op []byte
			if err := rs.Open(ctx, i, openInto(&op)); err != nil {
				t.Fatal(err)
			}
			ops = append(ops, op)
		}
		return doc, ops
	}
	check := func(doc []byte, ops [][]byte) {
		t.Helper()
		if !bytes.Equal(doc, s.SentencesPlaintext(ti.SID, ti.Redaction)) {
			t.Error("sentences differ")
		}
		want := s.OperatorResultPlaintexts(ti.SID, ti.Redaction)
		if len(ops) != len(want) {
			t.Fatalf("%d operator results, want %d", len(ops), len(want))
		}
		for i := range want {
			if !bytes.Equal(ops[i], want[i]) {
				t.Errorf("operator result %d differs", i)
			}
		}
	}
	check(read(c))
	c.Close()

	c2, st2 := newClient()
	s.ResetCounts()
	check(read(c2))
	if st := c2.Stats(); st.APIRequests != 0 || st.ObjectDownloads != 0 {
		t.Errorf("second client: %d API requests, %d downloads, want none", st.APIRequests, st.ObjectDownloads)
	}

	// An entry the store accepts but whose envelope does not open.
	v, _ := c2.sealedVersion(tr)
	env, _, ok := st2.Get(ti.SID, sealedcache.Sentences, v)
	if !ok {
		t.Fatal("no sentences entry")
	}
	bad := crypto.Envelope{WrappedKey: env.WrappedKey, IV: env.IV, Body: bytes.Clone(env.Body)}
	bad.Body[0] ^= 1
	st2.Remove(ti.SID, sealedcache.Sentences) // an entry is never overwritten
	st2.Put(ti.SID, sealedcache.Sentences, v, bad, "")
	st2.Flush()
	var doc []byte
	if err := c2.OpenSentences(ctx, tr, openInto(&doc)); err != nil || !bytes.Equal(doc, s.SentencesPlaintext(ti.SID, ti.Redaction)) {
		t.Fatalf("after a damaged entry: %v", err)
	}
	if st := c2.Stats(); st.ObjectDownloads != 1 {
		t.Errorf("%d downloads for one damaged entry, want 1", st.ObjectDownloads)
	}
	st2.Flush() // the download is stored again
	// The caller's own failure is not the entry's: returned, nothing removed.
	mine := errors.New("arena full")
	if err := c2.OpenSentences(ctx, tr, func(crypto.Envelope) error { return mine }); !errors.Is(err, mine) {
		t.Errorf("caller's error: %v", err)
	}
	if st := c2.Stats(); st.ObjectDownloads != 1 {
		t.Errorf("a caller's error cost a download")
	}

	// An operator result that open refuses as another transcript's: the
	// cached entry is removed and the object downloaded again, the refused
	// download is not kept, and the next read tries again.
	rs, err := c2.SealedOperatorResults(ctx, tr)
	if err != nil {
		t.Fatal(err)
	}
	refused, downloads := 0, c2.Stats().ObjectDownloads
	wrong := func(crypto.Envelope) error {
		refused++
		return fmt.Errorf("names another: %w", record.ErrWrongTranscript)
	}
	if err := rs.Open(ctx, 0, wrong); !errors.Is(err, record.ErrWrongTranscript) {
		t.Fatalf("refused result: %v", err)
	}
	st2.Flush()
	if refused != 2 || c2.Stats().ObjectDownloads != downloads+1 {
		t.Errorf("refused %d times with %d downloads: want the cached entry, then one download", refused, c2.Stats().ObjectDownloads-downloads)
	}
	if _, _, ok := st2.Get(ti.SID, sealedcache.OperatorResult(0), v); ok {
		t.Error("a refused operator result is still in the sealed cache")
	}
	var op0 []byte
	if err := rs.Open(ctx, 0, openInto(&op0)); err != nil || !bytes.Equal(op0, s.OperatorResultPlaintexts(ti.SID, ti.Redaction)[0]) {
		t.Fatalf("the read after a refusal: %v", err)
	}
	st2.Flush()
	if _, _, ok := st2.Get(ti.SID, sealedcache.OperatorResult(0), v); !ok {
		t.Error("the accepted download was not stored")
	}

	// Plain transcripts are never stored.
	pl := pick(t, s, "call-centre-plain", false)
	ptr, err := c2.FetchTranscript(ctx, pl.SID)
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := c2.sealedVersion(ptr); ok {
		t.Errorf("a plain transcript has a sealed version %+v", v)
	}

	// A 404 of the resource changes nothing on disk (another account's
	// view, a wrong region or a proxy answer 404 too; the catalog drops
	// what it sees gone); a delete this account proved drops the entries.
	entries := func() []string {
		m, _ := filepath.Glob(filepath.Join(dir, "v1", "*", ti.SID+".*"))
		return m
	}
	st2.Flush()
	before := entries()
	s.SetFaults(twiliosim.Faults{HideTranscripts: twiliosim.Rule{Fraction: 1, TranscriptSID: ti.SID}})
	if _, err := c2.FetchTranscript(ctx, ti.SID); !errors.Is(err, record.ErrNotFound) {
		t.Fatalf("fetch of a hidden transcript: %v", err)
	}
	s.SetFaults(twiliosim.Faults{})
	if len(before) == 0 || len(entries()) != len(before) {
		t.Errorf("a 404 of the transcript removed sealed entries: %d before, %d after", len(before), len(entries()))
	}
	if err := c2.DeleteTranscript(ctx, ti.SID); err != nil {
		t.Fatal(err)
	}
	c2.Close()
	if m := entries(); len(m) != 0 {
		t.Errorf("entries of a deleted transcript left: %v", m)
	}
}
