package fetch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/intelligencefs/intelligencefs/crypto"
	"github.com/intelligencefs/intelligencefs/fetch/record"
	"github.com/intelligencefs/intelligencefs/fetch/sealedcache"
	"github.com/intelligencefs/intelligencefs/fetch/twiliosim"
)

// TestForgedSIDsNeverListed: a listing that carries the holdout of hostile
// strings as transcript SIDs (queued transcripts "../../escaped", escape
// sequences, header breaks), or services whose SIDs are not SIDs, gives
// only the real resources, with one warning per listing that quotes the
// string escaped. Before the check, every forged transcript was handed to
// the caller (search --export wrote "../../escaped/transcript.json").
func TestForgedSIDsNeverListed(t *testing.T) {
	s, _ := newSim(t, twiliosim.Options{Corpus: twiliosim.CorpusOptions{TranscriptsPerService: 3}})
	logs := &syncBuffer{}
	c, _ := simClient(t, s, func(cfg *Config) {
		cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	})
	ctx := context.Background()
	svc := s.ServiceSID("call-centre")
	want := map[string]bool{}
	for _, tr := range s.Transcripts(svc) {
		want[tr.SID] = true
	}
	s.SetFaults(twiliosim.Faults{ForgedTranscriptSIDs: twiliosim.HostileNames, HostileServices: true})
	defer s.SetFaults(twiliosim.Faults{})
	got := 0
	err := c.ListTranscripts(ctx, record.TranscriptQuery{ServiceSID: svc}, func(page []record.Transcript) error {
		for _, tr := range page {
			if !want[tr.SID] {
				t.Errorf("listed %q, which the service does not hold", tr.SID)
			}
			got++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got != len(want) {
		t.Errorf("%d transcripts listed, want %d", got, len(want))
	}
	services, err := c.ListServices(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, sv := range services {
		if !record.IsSID(sv.SID, "GA") {
			t.Errorf("service %q listed", sv.SID)
		}
	}
	out := logs.String()
	if n := strings.Count(out, "SIDs are not well formed"); n != 2 {
		t.Errorf("%d warnings, want one per listing (2):\n%s", n, out)
	}
	if strings.ContainsAny(out, "\x1b\x07\x00\u202e") {
		t.Errorf("a warning carries raw control characters: %q", out)
	}
}

// TestFetchTranscriptRequiresItsSID: an answer naming another transcript
// than the one asked for is an error naming both, never a Transcript under
// the asked name. Before, the other transcript was returned as is.
func TestFetchTranscriptRequiresItsSID(t *testing.T) {
	s, _ := newSim(t, twiliosim.Options{Corpus: twiliosim.CorpusOptions{TranscriptsPerService: 3}})
	c, _ := simClient(t, s, nil)
	ti := pick(t, s, "call-centre", false)
	s.SetFaults(twiliosim.Faults{OtherTranscript: twiliosim.Rule{Fraction: 1, TranscriptSID: ti.SID}})
	defer s.SetFaults(twiliosim.Faults{})
	tr, err := c.FetchTranscript(context.Background(), ti.SID)
	if !errors.Is(err, record.ErrMalformedSID) || !strings.Contains(err.Error(), ti.SID) || !strings.Contains(err.Error(), "instead") {
		t.Fatalf("got %q, %v; want an error naming %s and the SID answered", tr.SID, err, ti.SID)
	}
	if tr.SID != "" {
		t.Errorf("a transcript was returned with the error: %s", tr.SID)
	}
}

// TestDeleteOnlyWhatIsProven: DeleteTranscript returns nil only for a 204
// to a DELETE of a transcript this account proved it owns (GET first,
// account_sid this account's). A transcript hidden behind 404s (another
// account's view, a wrong region, a proxy), one of another account, a
// proxy answering the DELETE 200 or with a redirect, and an account that
// does not hold it are all "not deleted", and send no DELETE where
// ownership was not proven. Before, every 404 counted as done and any 2xx
// or 3xx as deleted.
func TestDeleteOnlyWhatIsProven(t *testing.T) {
	ctx := context.Background()
	s, _ := newSim(t, twiliosim.Options{Corpus: twiliosim.CorpusOptions{TranscriptsPerService: 6}})
	other, _ := newSim(t, twiliosim.Options{Corpus: twiliosim.CorpusOptions{Seed: 99, TranscriptsPerService: 1}})
	c, _ := simClient(t, s, nil)
	stranger, _ := simClient(t, other, nil) // another account, its own credentials
	keyOnly, _ := newTestClient(t, s.URL, func(cfg *Config) {
		cfg.AccountSID, cfg.AuthToken, cfg.APIKey, cfg.APISecret = "", "", s.APIKeySID, s.APIKeySecret
	})
	ts := s.Transcripts(s.ServiceSID("call-centre"))
	cases := []struct {
		name     string
		c        *Client
		faults   func(sid string) twiliosim.Faults
		notFound bool // the error wraps ErrNotFound
		deletes  int64
		say      string
	}{
		{"hidden behind 404", c, func(sid string) twiliosim.Faults {
			return twiliosim.Faults{HideTranscripts: twiliosim.Rule{Fraction: 1, TranscriptSID: sid}}
		}, true, 0, "HTTP 404"},
		{"of another account", c, func(sid string) twiliosim.Faults {
			return twiliosim.Faults{ForeignAccount: twiliosim.Rule{Fraction: 1, TranscriptSID: sid}}
		}, true, 0, twiliosim.ForeignAccountSID},
		{"DELETE answered 200", c, func(string) twiliosim.Faults { return twiliosim.Faults{DeleteStatus: 200} }, false, 1, "not 204"},
		{"DELETE answered 302", c, func(string) twiliosim.Faults { return twiliosim.Faults{DeleteStatus: 302} }, false, 1, "not 204"},
		{"another account's credentials", stranger, func(string) twiliosim.Faults { return twiliosim.Faults{} }, true, 0, "HTTP 404"},
		{"API key without account SID", keyOnly, func(string) twiliosim.Faults { return twiliosim.Faults{} }, true, 0, "account SID"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sid := ts[i].SID
			s.SetFaults(tc.faults(sid))
			defer s.SetFaults(twiliosim.Faults{})
			s.ResetCounts()
			err := tc.c.DeleteTranscript(ctx, sid)
			if err == nil || errors.Is(err, record.ErrNotFound) != tc.notFound || !strings.Contains(err.Error(), tc.say) {
				t.Fatalf("err %v; want not-found=%v saying %q", err, tc.notFound, tc.say)
			}
			if n := s.Count(twiliosim.EndpointDeleteTranscript); n != tc.deletes {
				t.Errorf("%d DELETE requests, want %d", n, tc.deletes)
			}
			if s.TranscriptJSON(sid) == nil {
				t.Errorf("the transcript was deleted")
			}
		})
	}
	// Proven and answered 204: deleted; a second delete is not found.
	sid := ts[len(cases)].SID
	if err := c.DeleteTranscript(ctx, sid); err != nil {
		t.Fatal(err)
	}
	if s.TranscriptJSON(sid) != nil {
		t.Error("still there after a 204")
	}
	if err := c.DeleteTranscript(ctx, sid); !errors.Is(err, record.ErrNotFound) {
		t.Errorf("second delete: %v", err)
	}
}

// TestAPIOrigin: the origin receipts and the sealed cache name is the
// API's, edge and region applied, or the --api-url.
func TestAPIOrigin(t *testing.T) {
	for _, tc := range []struct {
		api, edge, region, want string
	}{
		{"", "", "", "https://intelligence.twilio.com"},
		{"", "dublin", "ie1", "https://intelligence.dublin.ie1.twilio.com"},
		{"http://127.0.0.1:8080/prefix/", "", "", "http://127.0.0.1:8080/prefix"},
	} {
		c, _ := newTestClient(t, tc.api, func(cfg *Config) { cfg.Edge, cfg.Region = tc.edge, tc.region })
		if got := c.APIOrigin(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc, got, tc.want)
		}
	}
}

// TestSealedCacheNotPlantedByAnotherAPI: a run against an untrusted API
// (another simulator with the same account, transcripts and keys, serving
// another transcript's operator results) fills the sealed cache; a later
// run against the real API, sharing the directory, serves none of it: it
// downloads, and reads the real results. Before the entries named their
// account and origin, the planted results were served with no request.
func TestSealedCacheNotPlantedByAnotherAPI(t *testing.T) {
	ctx := context.Background()
	opts := twiliosim.Options{Corpus: twiliosim.CorpusOptions{Seed: 5, TranscriptsPerService: 4}}
	real, ring := newSim(t, opts)
	fake, _ := newSim(t, opts)
	dir := filepath.Join(t.TempDir(), "sealed")
	ti := pick(t, real, "call-centre-encrypted", true)
	fake.SetFaults(twiliosim.Faults{SwapOperatorResults: twiliosim.Rule{Fraction: 1, TranscriptSID: ti.SID}})
	read := func(s *twiliosim.Server) [][]byte {
		t.Helper()
		st, err := sealedcache.Open(sealedcache.Options{Dir: dir, SealKey: ring.DeriveSecret(sealedcache.SealKeyLabel)})
		if err != nil {
			t.Fatal(err)
		}
		c, _ := simClient(t, s, func(cfg *Config) { cfg.SealedCache = st })
		defer c.Close()
		tr, err := c.FetchTranscript(ctx, ti.SID)
		if err != nil {
			t.Fatal(err)
		}
		rs, err := c.SealedOperatorResults(ctx, tr)
		if err != nil {
			t.Fatal(err)
		}
		var out [][]byte
		for i := range rs.Len() {
			err := rs.Open(ctx, i, func(env crypto.Envelope) error {
				p, err := ring.Open(tr.EncryptionCredentialSID, env, nil)
				out = append(out, p)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		return out
	}
	want := real.OperatorResultPlaintexts(ti.SID, ti.Redaction)
	if len(want) == 0 {
		t.Fatal("the transcript has no operator results")
	}
	planted := read(fake)
	if len(planted) == len(want) && bytes.Equal(planted[0], want[0]) {
		t.Fatal("the fake API served the real results: nothing was planted")
	}
	real.ResetCounts()
	got := read(real)
	if len(got) != len(want) {
		t.Fatalf("%d results, want %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Errorf("operator result %d is what the other API planted", i)
		}
	}
	if n := real.Count(twiliosim.EndpointObjectGet); n != int64(len(want)) {
		t.Errorf("%d downloads from the real API, want %d (nothing served from the planted entries)", n, len(want))
	}
}

// TestPublicKeySIDsChecked: public keys whose SID (or account) is not a
// SID are not listed, and a created key answered with a made-up SID is an
// error, so no server string is printed as a credential or bound to a key.
func TestPublicKeySIDsChecked(t *testing.T) {
	good := "CR0123456789abcdef0123456789abcdef"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.Method == http.MethodPost {
			fmt.Fprint(w, `{"sid":"../../x\u001b[2J","account_sid":"`+testAccount+`","friendly_name":"k"}`)
			return
		}
		fmt.Fprint(w, `{"credentials":[{"sid":"`+good+`","account_sid":"`+testAccount+`"},{"sid":"CR/..","account_sid":"`+testAccount+`"},{"sid":"\u001b]0;x\u0007","account_sid":null}],"meta":{"next_page_url":null}}`)
	}))
	defer srv.Close()
	c, _ := newTestClient(t, srv.URL, nil)
	keys, err := c.ListPublicKeys(context.Background())
	if err != nil || len(keys) != 1 || keys[0].SID != good {
		t.Errorf("listed %+v, %v; want only %s", keys, err, good)
	}
	if _, err := c.CreatePublicKey(context.Background(), "k", []byte("pem")); !errors.Is(err, record.ErrMalformedSID) {
		t.Errorf("create answered with a made-up SID: %v", err)
	}
}
