package catalog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/intelligencefs/intelligencefs/crypto"
	"github.com/intelligencefs/intelligencefs/fetch/record"
	"github.com/intelligencefs/intelligencefs/fs/plaincache"
)

// TestLoader is the one table of how content is had, for every reader (the
// mount's catalog, cat, search, the viewer): which endpoints the plan
// sends a transcript to (record.PlanContent, with its service when the
// transcript does not name its credential), the plain-then-sealed
// fallback, and every integrity check, on an in-memory Source. Each case
// gives the documents served, byte for byte, or the error class, and the
// calls made; every document comes back in an arena buffer and every
// plain copy handed out on the heap is cleared.
func TestLoader(t *testing.T) {
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	const cred = "CR0123456789abcdef0123456789abcdef"
	const other = "GTffffffffffffffffffffffffffffffff"
	sent := func(s string) string { return `{"sentences":[{"transcript":"` + s + `"}]}` }
	op := func(sid, name string) string { return fmt.Sprintf(`{"name":%q,"transcript_sid":%q}`, name, sid) }
	// Services: svcEnc got its credential at base (transcripts created
	// after it are sealed, older completed ones fall back), svcPlain has
	// none; a transcript of svcGone cannot have its service fetched.
	const svcEnc, svcPlain, svcGone = "GA000000000000000000000000000000e1", "GA000000000000000000000000000000e2", "GA000000000000000000000000000000e3"
	type content struct {
		plainSent  *string
		plainOps   []string
		sealedSent *string
		sealedOps  []string
		badTag     bool // the sealed content fails authentication
		short      bool // the sealed sentences' body is shorter than a tag
		failPlain  error
		failSealed error
	}
	str := func(s string) *string { return &s }
	cases := []struct {
		name    string
		tr      func(sid string) record.Transcript
		c       content
		noKey   bool
		sent    *string  // want sentences (nil: want sentErr)
		ops     []string // want operator results (nil with opsErr)
		sentErr error
		opsErr  error
		calls   map[string]int64 // calls to check (only those named)
	}{
		{
			name: "credential-named-sealed",
			tr:   func(sid string) record.Transcript { return tx(sid, svcEnc, cred, base.Add(-time.Hour)) },
			c:    content{plainSent: str(sent("plain")), sealedSent: str(sent("sealed")), sealedOps: []string{"A", "B"}},
			sent: str(sent("sealed")), ops: []string{"A", "B"},
			calls: map[string]int64{"PlainSentences": 0, "PlainOperatorResults": 0, "FetchService": 0},
		},
		{
			name: "service-credential-created-after",
			tr:   func(sid string) record.Transcript { return tx(sid, svcEnc, "", base.Add(time.Hour)) },
			c:    content{sealedSent: str(sent("sealed")), sealedOps: []string{"A"}},
			sent: str(sent("sealed")), ops: []string{"A"},
			calls: map[string]int64{"PlainSentences": 0, "PlainOperatorResults": 0},
		},
		{
			name: "older-plain-present",
			tr:   func(sid string) record.Transcript { return tx(sid, svcEnc, "", base.Add(-time.Hour)) },
			c:    content{plainSent: str(sent("plain")), plainOps: []string{"P"}, sealedSent: str(sent("sealed"))},
			sent: str(sent("plain")), ops: []string{"P"},
			calls: map[string]int64{"OpenSentences": 0, "SealedOperatorResults": 0},
		},
		{
			name: "older-plain-empty-falls-back",
			tr:   func(sid string) record.Transcript { return tx(sid, svcEnc, "", base.Add(-time.Hour)) },
			c:    content{plainSent: str(`{"sentences":[]}`), plainOps: []string{}, sealedSent: str(sent("sealed")), sealedOps: []string{"A"}},
			sent: str(sent("sealed")), ops: []string{"A"},
		},
		{
			name: "older-plain-error-falls-back",
			tr:   func(sid string) record.Transcript { return tx(sid, svcEnc, "", base.Add(-time.Hour)) },
			c:    content{failPlain: record.ErrUnavailable, sealedSent: str(sent("sealed")), sealedOps: []string{"A"}},
			sent: str(sent("sealed")), ops: []string{"A"},
		},
		{
			name: "older-plain-empty-sealed-absent-is-empty",
			tr:   func(sid string) record.Transcript { return tx(sid, svcEnc, "", base.Add(-time.Hour)) },
			c:    content{plainSent: str(`{"sentences":[]}`), plainOps: []string{}},
			sent: str(`{"sentences":[]}`), ops: []string{},
		},
		{
			// The mount's behaviour (cat and search failed here before):
			// an empty plain list stands when the sealed one cannot be had.
			name: "older-plain-empty-sealed-failing-is-empty",
			tr:   func(sid string) record.Transcript { return tx(sid, svcEnc, "", base.Add(-time.Hour)) },
			c:    content{plainOps: []string{}, plainSent: str(sent("plain")), failSealed: record.ErrUnavailable},
			sent: str(sent("plain")), ops: []string{},
		},
		{
			name:    "older-plain-error-sealed-failing",
			tr:      func(sid string) record.Transcript { return tx(sid, svcEnc, "", base.Add(-time.Hour)) },
			c:       content{failPlain: record.ErrUnavailable, failSealed: record.ErrAuth},
			sentErr: record.ErrUnavailable, opsErr: record.ErrUnavailable,
		},
		{
			name: "plain-service",
			tr:   func(sid string) record.Transcript { return tx(sid, svcPlain, "", base.Add(time.Hour)) },
			c:    content{plainSent: str(sent("plain")), plainOps: []string{"P", "Q"}},
			sent: str(sent("plain")), ops: []string{"P", "Q"},
			calls: map[string]int64{"OpenSentences": 0, "SealedOperatorResults": 0},
		},
		{
			// The mount's behaviour (cat and search failed here before):
			// a service that cannot be fetched leaves the plan to the
			// transcript, which names no credential: plain.
			name: "service-unavailable-plans-from-transcript",
			tr:   func(sid string) record.Transcript { return tx(sid, svcGone, "", base.Add(time.Hour)) },
			c:    content{plainSent: str(sent("plain")), plainOps: []string{"P"}},
			sent: str(sent("plain")), ops: []string{"P"},
		},
		{
			name: "sealed-swapped-result-refused",
			tr:   func(sid string) record.Transcript { return tx(sid, svcEnc, cred, base) },
			c:    content{sealedSent: str(sent("sealed")), sealedOps: []string{"A", "swap:" + other}},
			sent: str(sent("sealed")), opsErr: record.ErrWrongTranscript,
		},
		{
			name: "plain-swapped-result-refused",
			tr:   func(sid string) record.Transcript { return tx(sid, svcPlain, "", base) },
			c:    content{plainSent: str(sent("plain")), plainOps: []string{"swap:" + other}},
			sent: str(sent("plain")), opsErr: record.ErrWrongTranscript,
		},
		{
			name:    "sealed-altered",
			tr:      func(sid string) record.Transcript { return tx(sid, svcEnc, cred, base) },
			c:       content{sealedSent: str(sent("sealed")), sealedOps: []string{"A"}, badTag: true},
			sentErr: crypto.ErrAuth, opsErr: crypto.ErrAuth,
		},
		{
			name:    "sealed-malformed",
			tr:      func(sid string) record.Transcript { return tx(sid, svcEnc, cred, base) },
			c:       content{sealedSent: str(""), short: true, sealedOps: []string{}},
			sentErr: crypto.ErrMalformed, ops: []string{},
		},
		{
			name:  "sealed-no-key",
			tr:    func(sid string) record.Transcript { return tx(sid, svcEnc, cred, base) },
			c:     content{sealedSent: str(sent("sealed")), sealedOps: []string{"A"}},
			noKey: true, sentErr: crypto.ErrUnwrap, opsErr: crypto.ErrUnwrap,
		},
		{
			name: "sealed-listing-fails",
			tr:   func(sid string) record.Transcript { return tx(sid, svcEnc, cred, base) },
			c:    content{sealedSent: str(sent("sealed")), failSealed: record.ErrUnavailable},
			sent: str(sent("sealed")), opsErr: record.ErrUnavailable,
		},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sid := gtSID(100 + i)
			src := newMemSource()
			src.services = []record.Service{
				{SID: svcEnc, EncryptionCredentialSID: cred, DateUpdated: base},
				{SID: svcPlain, DateUpdated: base},
			}
			dec := &xorDecrypter{key: 0x5c}
			tr := tc.tr(sid)
			doc := func(s string) string {
				if other, ok := strings.CutPrefix(s, "swap:"); ok {
					return op(other, "swapped")
				}
				return op(sid, s)
			}
			if c := tc.c.plainSent; c != nil {
				src.plainSent[sid] = []byte(*c)
			}
			if tc.c.plainOps != nil {
				src.plainOps[sid] = [][]byte{}
				for _, o := range tc.c.plainOps {
					src.plainOps[sid] = append(src.plainOps[sid], []byte(doc(o)))
				}
			}
			seal := func(s string) crypto.Envelope {
				env := dec.seal([]byte(s))
				if tc.c.badTag {
					env.Body[len(env.Body)-1] ^= 1
				}
				return env
			}
			if c := tc.c.sealedSent; c != nil {
				env := seal(*c)
				if tc.c.short {
					env.Body = env.Body[:crypto.TagSize-1]
				}
				src.sealedSent[sid] = env
			}
			if tc.c.sealedOps != nil {
				src.sealedOps[sid] = []crypto.Envelope{}
				for _, o := range tc.c.sealedOps {
					src.sealedOps[sid] = append(src.sealedOps[sid], seal(doc(o)))
				}
			}
			src.failPlain, src.failSealed = tc.c.failPlain, tc.c.failSealed
			var d Decrypter = dec
			if tc.noKey {
				d = nil
			}
			arena, err := plaincache.New(plaincache.Options{Mlock: plaincache.MlockOff})
			if err != nil {
				t.Fatal(err)
			}
			defer arena.Close()
			l, err := NewLoader(LoaderOptions{Source: src, Decrypter: d, Alloc: arena.Alloc})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()

			b, err := l.Sentences(ctx, tr)
			switch {
			case tc.sent == nil && !errors.Is(err, tc.sentErr):
				t.Errorf("sentences: %v, want %v", err, tc.sentErr)
			case tc.sent != nil && err != nil:
				t.Errorf("sentences: %v", err)
			case tc.sent != nil && string(bytesOrNil(b)) != *tc.sent:
				t.Errorf("sentences %q, want %q", bytesOrNil(b), *tc.sent)
			}
			if b != nil {
				b.Release()
			}

			var got []string
			rs, err := l.OperatorResults(ctx, tr)
			if err == nil {
				for i := range rs.Len() {
					ob, oerr := rs.Open(ctx, i)
					if oerr != nil {
						err = oerr
						break
					}
					got = append(got, string(bytesOrNil(ob)))
					if ob != nil {
						ob.Release()
					}
				}
			}
			if rs != nil {
				rs.Release()
			}
			var want []string
			for _, o := range tc.ops {
				want = append(want, doc(o))
			}
			switch {
			case tc.ops == nil && !errors.Is(err, tc.opsErr):
				t.Errorf("operator results: %v, want %v", err, tc.opsErr)
			case tc.ops != nil && err != nil:
				t.Errorf("operator results: %v", err)
			case tc.ops != nil && !slices.Equal(got, want):
				t.Errorf("operator results %q, want %q", got, want)
			}
			if errors.Is(tc.opsErr, record.ErrWrongTranscript) {
				if err == nil || !bytes.Contains([]byte(err.Error()), []byte(other)) || !bytes.Contains([]byte(err.Error()), []byte(sid)) {
					t.Errorf("the refusal does not name both transcripts: %v", err)
				}
				if tc.c.sealedOps != nil && len(src.rejected) != 1 {
					t.Errorf("refused sealed results reported to the Source: %v, want one", src.rejected)
				}
			}
			for m, n := range tc.calls {
				if got := src.count(m); got != n {
					t.Errorf("%s called %d times, want %d", m, got, n)
				}
			}
			if st := arena.Stats(); st.LiveBytes != 0 {
				t.Errorf("%d bytes of arena still live after every buffer was released", st.LiveBytes)
			}
			if !src.allCleared() {
				t.Error("a plain document handed out on the heap was not cleared")
			}
		})
	}
}

// TestLoaderPlaintextInArena: what the Loader returns lies in the arena
// its Alloc gives, decrypted in place, and it is zeroed when released.
func TestLoaderPlaintextInArena(t *testing.T) {
	src := newMemSource()
	dec := &xorDecrypter{key: 0x33}
	sid := gtSID(7)
	plain := []byte(`{"sentences":[{"transcript":"arena-only marker"}]}`)
	src.sealedSent[sid] = dec.seal(plain)
	var zeroed [][]byte
	arena, err := plaincache.New(plaincache.Options{Mlock: plaincache.MlockOff, OnZeroed: func(mem []byte) {
		zeroed = append(zeroed, bytes.Clone(mem))
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer arena.Close()
	var allocated []*plaincache.Buffer
	l, err := NewLoader(LoaderOptions{Source: src, Decrypter: dec, Alloc: func(n int) (*plaincache.Buffer, error) {
		b, err := arena.Alloc(n)
		allocated = append(allocated, b)
		return b, err
	}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := l.Sentences(context.Background(), tx(sid, testService, "CR1", time.Now()))
	if err != nil || b == nil {
		t.Fatalf("sentences: %v", err)
	}
	if len(allocated) != 1 || allocated[0] != b || !bytes.Equal(b.Bytes(), plain) {
		t.Fatalf("the plaintext is not the one arena buffer allocated (%d buffers)", len(allocated))
	}
	b.Release()
	if len(zeroed) != 1 || bytes.ContainsFunc(zeroed[0], func(r rune) bool { return r != 0 }) {
		t.Error("the released buffer was not zeroed")
	}
}

// tx is a completed transcript of service svc, sealed to cred ("" unnamed).
func tx(sid, svc, cred string, created time.Time) record.Transcript {
	return record.Transcript{SID: sid, ServiceSID: svc, Status: "completed", EncryptionCredentialSID: cred,
		DateCreated: created, DateUpdated: created.Add(time.Second)}
}

func bytesOrNil(b *plaincache.Buffer) []byte {
	if b == nil {
		return []byte{}
	}
	return b.Bytes()
}
