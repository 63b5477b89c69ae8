package fetch

import (
	"bytes"
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"github.com/intelligencefs/intelligencefs/fetch/record"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/intelligencefs/intelligencefs/crypto"
	"github.com/intelligencefs/intelligencefs/fetch/twiliosim"
)

var (
	simKeyOnce sync.Once
	simKeyPair [2]*rsa.PrivateKey
)

func simKeys() [2]*rsa.PrivateKey {
	simKeyOnce.Do(func() {
		for i := range simKeyPair {
			k, err := crypto.GenerateKey(2048)
			if err != nil {
				panic(err)
			}
			simKeyPair[i] = k
		}
	})
	return simKeyPair
}

// newSim starts a simulator with both test keys (rotation on unless the
// caller set Corpus otherwise) and a keyring that opens its objects. It
// fails the test if the object store ever saw an Authorization header.
func newSim(t testing.TB, opts twiliosim.Options) (*twiliosim.Server, *crypto.Keyring) {
	t.Helper()
	k := simKeys()
	opts.Keys = []twiliosim.Credential{{PublicKey: &k[0].PublicKey}, {PublicKey: &k[1].PublicKey}}
	s, err := twiliosim.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if n := s.Count(twiliosim.CounterObjectAuthViolations); n != 0 {
			t.Errorf("the object store saw %d requests with an Authorization header", n)
		}
		s.Close()
	})
	kr := crypto.NewKeyring()
	for i, sid := range s.CredentialSIDs() {
		kr.Add(k[i], sid)
	}
	return s, kr
}

func simClient(t testing.TB, s *twiliosim.Server, mod func(*Config)) (*Client, *fakeSleep) {
	return newTestClient(t, s.URL, func(c *Config) {
		c.AccountSID, c.AuthToken = s.AccountSID, s.AuthToken
		if mod != nil {
			mod(c)
		}
	})
}

// pick returns the first transcript of the service (by unique name) matching
// status and encryption.
func pick(t testing.TB, s *twiliosim.Server, uniqueName string, encrypted bool) twiliosim.TranscriptInfo {
	t.Helper()
	for _, tr := range s.Transcripts(s.ServiceSID(uniqueName)) {
		if tr.Status == twiliosim.StatusCompleted && (tr.EncryptionCredentialSID != "") == encrypted {
			return tr
		}
	}
	t.Fatalf("no completed transcript (encrypted=%v) in %s", encrypted, uniqueName)
	return twiliosim.TranscriptInfo{}
}

func jsonEqual(t testing.TB, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("invalid JSON %v: %s", err, a)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("invalid JSON %v: %s", err, b)
	}
	return reflect.DeepEqual(x, y)
}

func TestSimServices(t *testing.T) {
	s, _ := newSim(t, twiliosim.Options{})
	c, _ := simClient(t, s, nil)
	ctx := context.Background()
	got, err := c.ListServices(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := s.Services()
	if len(got) != len(want) || len(got) < 3 {
		t.Fatalf("%d services, want %d", len(got), len(want))
	}
	for i, w := range want {
		g := got[i]
		if g.SID != w.SID || g.UniqueName != w.UniqueName || g.EncryptionCredentialSID != w.EncryptionCredentialSID ||
			g.DataLogging != w.DataLogging || g.AutoRedaction != w.AutoRedaction || g.Version != w.Version ||
			!g.DateCreated.Equal(w.DateCreated) || !bytes.Equal(g.JSON(), w.JSON) {
			t.Errorf("service %d: got %+v\nwant %+v", i, g, w)
		}
	}
	enc := s.ServiceSID("call-centre-encrypted")
	f, err := c.FetchService(ctx, enc)
	if err != nil {
		t.Fatal(err)
	}
	if f.ETag == "" || !f.Encrypted() {
		t.Fatalf("fetched %+v", f)
	}
	// Rotate the service to the other credential with the ETag, then try a
	// stale ETag.
	other := s.CredentialSIDs()[0]
	if other == f.EncryptionCredentialSID {
		other = s.CredentialSIDs()[1]
	}
	u, err := c.UpdateServiceEncryption(ctx, enc, other, f.ETag)
	if err != nil {
		t.Fatal(err)
	}
	if u.EncryptionCredentialSID != other || u.ETag == f.ETag || u.Version != f.Version+1 {
		t.Errorf("updated %+v", u)
	}
	if q := s.LastQuery(twiliosim.EndpointUpdateService); q != nil && q.Get("EncryptionCredentialSid") != "" {
		t.Errorf("form sent in the query: %v", q)
	}
	_, err = c.UpdateServiceEncryption(ctx, enc, f.EncryptionCredentialSID, f.ETag)
	if !errors.Is(err, record.ErrConflict) {
		t.Errorf("stale ETag: %v", err)
	}
	if _, err := c.FetchService(ctx, "GA"+strings.Repeat("0", 32)); !errors.Is(err, record.ErrNotFound) {
		t.Errorf("unknown service: %v", err)
	}
	if err := c.ValidateCredentials(ctx); err != nil {
		t.Error(err)
	}
}

func TestSimPublicKeys(t *testing.T) {
	s, _ := newSim(t, twiliosim.Options{})
	c, _ := simClient(t, s, nil)
	ctx := context.Background()
	key, err := crypto.GenerateKey(2048)
	if err != nil {
		t.Fatal(err)
	}
	pemBytes, err := crypto.MarshalPublicKeyPEM(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := c.CreatePublicKey(ctx, "laptop key", pemBytes)
	if err != nil {
		t.Fatal(err)
	}
	if !credentialSIDPattern.MatchString(pk.SID) || pk.FriendlyName != "laptop key" || pk.DateCreated.IsZero() {
		t.Errorf("created %+v", pk)
	}
	if got := s.PublicKey(pk.SID); got == nil || !got.Equal(&key.PublicKey) {
		t.Error("the simulator did not register the key")
	}
	keys, err := c.ListPublicKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var sids []string
	for _, k := range keys {
		sids = append(sids, k.SID)
	}
	if want := s.CredentialSIDs(); !reflect.DeepEqual(sids, want) {
		t.Errorf("listed %v, want %v", sids, want)
	}
	if _, err := c.CreatePublicKey(ctx, "bad", []byte("not a key")); err == nil {
		t.Error("a bad key was accepted")
	}
}

func TestSimAPIKeyAndWrongCredentials(t *testing.T) {
	s, _ := newSim(t, twiliosim.Options{})
	ctx := context.Background()
	k, _ := newTestClient(t, s.URL, func(c *Config) {
		c.AccountSID, c.AuthToken, c.APIKey, c.APISecret = s.AccountSID, "", s.APIKeySID, s.APIKeySecret
	})
	if _, err := k.ListServices(ctx); err != nil {
		t.Fatalf("API key: %v", err)
	}
	bad, _ := newTestClient(t, s.URL, func(c *Config) { c.AccountSID, c.AuthToken = s.AccountSID, "wrongtoken0123" })
	err := bad.ValidateCredentials(ctx)
	if !errors.Is(err, record.ErrAuth) || !strings.Contains(err.Error(), "auth token for account "+s.AccountSID) {
		t.Errorf("wrong token: %v", err)
	}
	assertClean(t, err, "wrongtoken0123")
	c, _ := simClient(t, s, nil)
	s.SetFaults(twiliosim.Faults{WrongCredentials: true})
	if _, err := c.FetchTranscript(ctx, pick(t, s, "call-centre-plain", false).SID); !errors.Is(err, record.ErrAuth) {
		t.Errorf("WrongCredentials fault: %v", err)
	}
	if _, err := c.EncryptedSentences(ctx, pick(t, s, "call-centre-encrypted", true).SID); !errors.Is(err, record.ErrAuth) {
		t.Errorf("WrongCredentials fault on sentences: %v", err)
	}
}

func TestSimRegionRewrite(t *testing.T) {
	t.Setenv("TWILIO_REGION", "ie1")
	t.Setenv("TWILIO_EDGE", "dublin")
	s, _ := newSim(t, twiliosim.Options{Corpus: twiliosim.CorpusOptions{TranscriptsPerService: 5}})
	c, _ := simClient(t, s, nil)
	if _, err := c.ListServices(context.Background()); err != nil {
		t.Fatal(err)
	}
	n := 0
	if err := c.ListTranscripts(context.Background(), record.TranscriptQuery{PageSize: 2}, func(ts []record.Transcript) error { n += len(ts); return nil }); err != nil {
		t.Fatal(err)
	}
	if n == 0 || s.Count(twiliosim.EndpointUnknown) != 0 {
		t.Errorf("listed %d, unknown paths %d", n, s.Count(twiliosim.EndpointUnknown))
	}
}

func TestSimTranscripts(t *testing.T) {
	s, _ := newSim(t, twiliosim.Options{Corpus: twiliosim.CorpusOptions{TranscriptsPerService: 2100, Rotation: true}})
	c, _ := simClient(t, s, nil)
	ctx := context.Background()
	for _, svc := range s.Services() {
		want := s.Transcripts(svc.SID)
		s.ResetCounts()
		var got []record.Transcript
		err := c.ListTranscripts(ctx, record.TranscriptQuery{ServiceSID: svc.SID}, func(ts []record.Transcript) error {
			got = append(got, ts...)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("%s: %d transcripts, want %d", svc.UniqueName, len(got), len(want))
		}
		if n, want := s.Count(twiliosim.EndpointListTranscripts), int64((len(want)+999)/1000); n != want {
			t.Errorf("%d list requests, want %d", n, want)
		}
		for i, w := range want {
			g := got[i]
			if g.SID != w.SID || g.ServiceSID != svc.SID || g.Status != w.Status || g.EncryptionCredentialSID != w.EncryptionCredentialSID ||
				!g.DateCreated.Equal(w.DateCreated) || !g.DateUpdated.Equal(w.DateUpdated) || g.Duration != w.Duration ||
				g.Redaction != w.Redaction || !g.MediaStartTime.Equal(w.MediaStartTime) {
				t.Fatalf("transcript %d: got %+v\nwant %+v", i, g, w)
			}
			if i%97 == 0 && !jsonEqual(t, g.JSON(), s.TranscriptJSON(w.SID)) {
				t.Fatalf("JSON differs:\n got %s\nwant %s", g.JSON(), s.TranscriptJSON(w.SID))
			}
		}
		// By-date and incremental refresh: AfterDateCreated is inclusive,
		// BeforeDateCreated exclusive.
		after, before := want[len(want)*2/3].DateCreated, want[len(want)/3].DateCreated
		var wantN int
		for _, w := range want {
			if !w.DateCreated.Before(after) && w.DateCreated.Before(before) {
				wantN++
			}
		}
		n := 0
		err = c.ListTranscripts(ctx, record.TranscriptQuery{ServiceSID: svc.SID, AfterDateCreated: after, BeforeDateCreated: before}, func(ts []record.Transcript) error {
			for _, tr := range ts {
				if tr.DateCreated.Before(after) || !tr.DateCreated.Before(before) {
					t.Errorf("%s created %v outside [%v, %v)", tr.SID, tr.DateCreated, after, before)
				}
			}
			n += len(ts)
			return nil
		})
		if err != nil || n != wantN {
			t.Errorf("date window: %d transcripts (want %d), %v", n, wantN, err)
		}
	}
	// Fetch, status filter, deletion.
	tr := pick(t, s, "call-centre-mixed", true)
	g, err := c.FetchTranscript(ctx, tr.SID)
	if err != nil || !jsonEqual(t, g.JSON(), s.TranscriptJSON(tr.SID)) || !g.Encrypted() || !g.Completed() {
		t.Fatalf("fetch: %v\n%s", err, g.JSON())
	}
	var statuses []string
	err = c.ListTranscripts(ctx, record.TranscriptQuery{Status: twiliosim.StatusInProgress, PageSize: 500}, func(ts []record.Transcript) error {
		for _, tr := range ts {
			statuses = append(statuses, tr.Status)
		}
		return nil
	})
	if err != nil || len(statuses) == 0 {
		t.Fatalf("status filter: %v %d", err, len(statuses))
	}
	for _, st := range statuses {
		if st != twiliosim.StatusInProgress {
			t.Fatalf("status filter returned %s", st)
		}
	}
	s.DeleteTranscript(tr.SID)
	if _, err := c.FetchTranscript(ctx, tr.SID); !errors.Is(err, record.ErrNotFound) {
		t.Errorf("deleted: %v", err)
	}
	if _, err := c.EncryptedSentences(ctx, tr.SID); !errors.Is(err, record.ErrNotFound) {
		t.Errorf("deleted sentences: %v", err)
	}
}

func TestSimContent(t *testing.T) {
	for _, unredacted := range []bool{false, true} {
		t.Run(map[bool]string{false: "default", true: "unredacted"}[unredacted], func(t *testing.T) {
			s, kr := newSim(t, twiliosim.Options{Corpus: twiliosim.CorpusOptions{TranscriptsPerService: 10, Rotation: true}})
			c, _ := simClient(t, s, func(c *Config) { c.Unredacted = unredacted })
			ctx := context.Background()
			checkRedacted := func(ep string, tr twiliosim.TranscriptInfo) bool {
				q := s.LastQuery(ep)
				if unredacted {
					if q.Get("Redacted") != "false" {
						t.Errorf("%s: Redacted=%q, want false", ep, q.Get("Redacted"))
					}
					return false
				}
				if q.Has("Redacted") {
					t.Errorf("%s: Redacted sent without Unredacted", ep)
				}
				return tr.Redaction
			}
			for _, name := range []string{"call-centre-encrypted", "call-centre-mixed"} {
				tr := pick(t, s, name, true)
				env, err := c.EncryptedSentences(ctx, tr.SID)
				if err != nil {
					t.Fatal(err)
				}
				red := checkRedacted(twiliosim.EndpointEncryptedSentences, tr)
				pt, err := kr.Open(tr.EncryptionCredentialSID, env, nil)
				if err != nil || !bytes.Equal(pt, s.SentencesPlaintext(tr.SID, red)) {
					t.Fatalf("sentences of %s: %v", tr.SID, err)
				}
				locs, err := c.operatorResultLocations(ctx, tr.SID)
				if err != nil || len(locs) == 0 {
					t.Fatalf("locations: %v %d", err, len(locs))
				}
				red = checkRedacted(twiliosim.EndpointEncryptedOperatorResults, tr)
				want := s.OperatorResultPlaintexts(tr.SID, red)
				if len(locs) != len(want) {
					t.Fatalf("%d locations, want %d", len(locs), len(want))
				}
				for i, loc := range locs {
					env, err := c.encryptedOperatorResult(ctx, tr.SID, loc)
					if err != nil {
						t.Fatal(err)
					}
					pt, err := kr.Open(tr.EncryptionCredentialSID, env, nil)
					if err != nil || !bytes.Equal(pt, want[i]) {
						t.Fatalf("operator result %d: %v", i, err)
					}
				}
			}
			for _, name := range []string{"call-centre-plain", "call-centre-mixed"} {
				tr := pick(t, s, name, false)
				doc, err := c.PlainSentences(ctx, tr.SID)
				if err != nil {
					t.Fatal(err)
				}
				red := checkRedacted(twiliosim.EndpointListSentences, tr)
				want := []byte(`{"sentences":[` + string(bytes.Join(s.SentenceResources(tr.SID, red, false), []byte(","))) + `]}`)
				if !bytes.Equal(doc, want) {
					t.Fatalf("plain sentences differ:\n got %.300s\nwant %.300s", doc, want)
				}
				if q := s.LastQuery(twiliosim.EndpointListSentences); q.Get("PageSize") != "5000" {
					t.Errorf("sentences page size %q", q.Get("PageSize"))
				}
				ors, err := c.PlainOperatorResults(ctx, tr.SID)
				if err != nil {
					t.Fatal(err)
				}
				red = checkRedacted(twiliosim.EndpointListOperatorResults, tr)
				if w := s.OperatorResultResources(tr.SID, red); len(ors) != len(w) || (len(w) > 0 && !bytes.Equal(ors[0], w[0])) {
					t.Fatalf("operator results: %d, want %d", len(ors), len(w))
				}
			}
		})
	}
}

func TestSimWordTimestamps(t *testing.T) {
	s, _ := newSim(t, twiliosim.Options{Corpus: twiliosim.CorpusOptions{TranscriptsPerService: 5}})
	c, _ := simClient(t, s, func(c *Config) { c.WordTimestamps = true })
	tr := pick(t, s, "call-centre-plain", false)
	doc, err := c.PlainSentences(context.Background(), tr.SID)
	if err != nil {
		t.Fatal(err)
	}
	want := []byte(`{"sentences":[` + string(bytes.Join(s.SentenceResources(tr.SID, tr.Redaction, true), []byte(","))) + `]}`)
	if !bytes.Equal(doc, want) || s.LastQuery(twiliosim.EndpointListSentences).Get("WordTimestamps") != "true" {
		t.Errorf("word timestamps not asked for or differ")
	}
}

// TestSimFaults runs EncryptedSentences (and a listing) under each fault.
func TestSimFaults(t *testing.T) {
	s, kr := newSim(t, twiliosim.Options{Corpus: twiliosim.CorpusOptions{TranscriptsPerService: 10}})
	tr := pick(t, s, "call-centre-encrypted", true)
	once := func(target twiliosim.Target) twiliosim.Rule { return twiliosim.Rule{Times: 1, Target: target} }
	times := func(n int, target twiliosim.Target) twiliosim.Rule { return twiliosim.Rule{Times: n, Target: target} }
	for _, tc := range []struct {
		name    string
		faults  twiliosim.Faults
		wantErr error // from EncryptedSentences
		openErr error // from Keyring.Open, when the fetch succeeds
		waits   []time.Duration
		// expected request counts (0 = not checked)
		locations, objects int64
	}{
		{name: "latency", faults: twiliosim.Faults{APILatency: 30 * time.Millisecond, ObjectLatency: 30 * time.Millisecond}, locations: 1, objects: 1},
		{name: "429 on API with Retry-After", faults: twiliosim.Faults{TooManyRequests: times(2, twiliosim.TargetAPI), RetryAfter: 2 * time.Second},
			waits: []time.Duration{2 * time.Second, 2 * time.Second}, locations: 3, objects: 1},
		{name: "429 on objects with Retry-After", faults: twiliosim.Faults{TooManyRequests: once(twiliosim.TargetObjects), RetryAfter: 7 * time.Second},
			waits: []time.Duration{7 * time.Second}, locations: 1, objects: 2},
		{name: "503 burst then success", faults: twiliosim.Faults{ServerError: times(3, twiliosim.TargetBoth)}, locations: 4, objects: 1},
		{name: "500 burst then success", faults: twiliosim.Faults{ServerError: times(2, twiliosim.TargetObjects), ServerErrorStatus: 500}, locations: 1, objects: 3},
		{name: "502 forever", faults: twiliosim.Faults{ServerError: twiliosim.Rule{Fraction: 1, Target: twiliosim.TargetAPI}, ServerErrorStatus: 502},
			wantErr: record.ErrUnavailable, locations: 5, objects: 0},
		{name: "reset mid-body on objects", faults: twiliosim.Faults{ResetMidBody: times(2, twiliosim.TargetObjects)}, locations: 1, objects: 3},
		{name: "reset mid-body on API", faults: twiliosim.Faults{ResetMidBody: once(twiliosim.TargetAPI)}, locations: 2, objects: 1},
		{name: "truncated body", faults: twiliosim.Faults{TruncateBody: times(2, twiliosim.TargetBoth)}, locations: 3, objects: 1},
		{name: "tampered ciphertext passes through", faults: twiliosim.Faults{TamperCiphertext: once(0)}, openErr: crypto.ErrAuth, locations: 1, objects: 1},
		{name: "missing key header", faults: twiliosim.Faults{MissingKeyHeader: once(0)}, wantErr: crypto.ErrMalformed, locations: 1, objects: 1},
		{name: "missing IV header", faults: twiliosim.Faults{MissingIVHeader: once(0)}, wantErr: crypto.ErrMalformed, locations: 1, objects: 1},
		{name: "malformed key header", faults: twiliosim.Faults{MalformedKeyHeader: once(0)}, wantErr: crypto.ErrMalformed, locations: 1, objects: 1},
		{name: "malformed IV header", faults: twiliosim.Faults{MalformedIVHeader: once(0)}, wantErr: crypto.ErrMalformed, locations: 1, objects: 1},
		{name: "expired URL then fresh one", faults: twiliosim.Faults{ExpiredURLs: once(0)}, locations: 2, objects: 2},
		{name: "permanently expired", faults: twiliosim.Faults{ExpiredURLs: twiliosim.Rule{Fraction: 1}}, wantErr: record.ErrExpired, locations: 2, objects: 2},
		{name: "wrong credentials", faults: twiliosim.Faults{WrongCredentials: true}, wantErr: record.ErrAuth, locations: 1, objects: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, fs := simClient(t, s, nil)
			s.ResetCounts()
			s.SetFaults(tc.faults)
			defer s.SetFaults(twiliosim.Faults{})
			env, err := c.EncryptedSentences(context.Background(), tr.SID)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err %v, want %v", err, tc.wantErr)
				}
				assertClean(t, err)
			} else if err != nil {
				t.Fatal(err)
			} else {
				pt, err := kr.Open(tr.EncryptionCredentialSID, env, nil)
				if tc.openErr != nil {
					if !errors.Is(err, tc.openErr) {
						t.Errorf("open: %v, want %v", err, tc.openErr)
					}
				} else if err != nil || !bytes.Equal(pt, s.SentencesPlaintext(tr.SID, tr.Redaction)) {
					t.Errorf("open: %v", err)
				}
			}
			if tc.waits != nil && !reflect.DeepEqual(fs.got(), tc.waits) {
				t.Errorf("waits %v, want %v (Retry-After honoured)", fs.got(), tc.waits)
			}
			if tc.locations != 0 {
				if n := s.Count(twiliosim.EndpointEncryptedSentences); n != tc.locations {
					t.Errorf("%d location requests, want %d", n, tc.locations)
				}
				if n := s.Count(twiliosim.EndpointObjectGet); n != tc.objects {
					t.Errorf("%d object requests, want %d", n, tc.objects)
				}
			}
			st := c.Stats()
			if st.APIRequests+st.ObjectDownloads != s.Count(twiliosim.EndpointEncryptedSentences)+s.Count(twiliosim.EndpointObjectGet) {
				t.Errorf("stats %+v disagree with the simulator's counts %v", st, s.Counts())
			}
		})
	}
}

func TestSimOperatorResultExpiry(t *testing.T) {
	s, kr := newSim(t, twiliosim.Options{Corpus: twiliosim.CorpusOptions{TranscriptsPerService: 5}})
	tr := pick(t, s, "call-centre-encrypted", true)
	c, _ := simClient(t, s, nil)
	ctx := context.Background()
	// The fresh answer lists the locations in another order: the refresh
	// maps by object, not by position.
	s.SetFaults(twiliosim.Faults{ExpiredURLs: twiliosim.Rule{Times: 1}, ReverseLocations: true})
	locs, err := c.operatorResultLocations(ctx, tr.SID) // these have expired
	if err != nil {
		t.Fatal(err)
	}
	last := len(locs) - 1
	env, err := c.encryptedOperatorResult(ctx, tr.SID, locs[last])
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := kr.Open(tr.EncryptionCredentialSID, env, nil); err != nil || !bytes.Equal(pt, s.OperatorResultPlaintexts(tr.SID, tr.Redaction)[last]) {
		t.Fatalf("refreshed result %d: %v", last, err)
	}
	if n := s.Count(twiliosim.EndpointEncryptedOperatorResults); n != 2 {
		t.Errorf("%d location requests, want 2", n)
	}
	s.SetFaults(twiliosim.Faults{ExpiredURLs: twiliosim.Rule{Fraction: 1}})
	locs, _ = c.operatorResultLocations(ctx, tr.SID)
	if _, err := c.encryptedOperatorResult(ctx, tr.SID, locs[0]); !errors.Is(err, record.ErrExpired) {
		t.Errorf("permanently expired: %v", err)
	}
	s.SetFaults(twiliosim.Faults{})
	gone := strings.Replace(locs[0], "/operator-results/", "/operator-results/9", 1)
	if _, err := c.encryptedOperatorResult(ctx, tr.SID, gone); !errors.Is(err, record.ErrNotFound) {
		t.Errorf("a location of an object no longer listed: %v", err)
	}
}

func TestSimConcurrencyLimit(t *testing.T) {
	var apiCur, apiPeak, objCur, objPeak atomic.Int64
	s, _ := newSim(t, twiliosim.Options{
		Corpus: twiliosim.CorpusOptions{TranscriptsPerService: 60},
		OnRequest: func(ri twiliosim.RequestInfo) {
			cur, peak := &apiCur, &apiPeak
			if ri.Endpoint == twiliosim.EndpointObjectGet {
				cur, peak = &objCur, &objPeak
			}
			n := cur.Add(1)
			for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
			}
			time.Sleep(3 * time.Millisecond) // OnRequest runs inside the handler
			cur.Add(-1)
		},
	})
	c, _ := simClient(t, s, func(c *Config) { c.MaxConcurrency, c.MaxObjectConcurrency = 5, 4 })
	var wg sync.WaitGroup
	for _, tr := range s.Transcripts(s.ServiceSID("call-centre-encrypted")) {
		if tr.Status != twiliosim.StatusCompleted {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.EncryptedSentences(context.Background(), tr.SID); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if p := apiPeak.Load(); p > 5 || p < 2 {
		t.Errorf("API requests: peak in flight at the simulator %d, limit 5", p)
	}
	if p := objPeak.Load(); p > 4 || p < 2 {
		t.Errorf("object downloads: peak in flight at the simulator %d, limit 4", p)
	}
}
