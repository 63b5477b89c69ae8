package twiliosim

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/intelligencefs/intelligencefs/crypto"
)

func TestFaults(t *testing.T) {
	s := newTestServer(t, Options{})
	kr := keyring(t, s)
	tr := firstWithStatus(t, s, "call-centre-encrypted", StatusCompleted, nil)
	other := s.Transcripts(s.ServiceSID("call-centre-encrypted"))
	var otherSID string
	for _, x := range other {
		if x.SID != tr.SID && x.Status == StatusCompleted {
			otherSID = x.SID
			break
		}
	}
	apiPath := "/v2/Transcripts/" + tr.SID
	// rawGet does a GET and reports status, headers, body and the read error.
	rawGet := func(u string, auth bool) (int, http.Header, []byte, error) {
		if !strings.HasPrefix(u, "http") {
			u = s.URL + u
		}
		req, _ := http.NewRequest("GET", u, nil)
		if auth {
			req.SetBasicAuth(s.AccountSID, s.AuthToken)
		}
		res, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Do(req)
		if err != nil {
			return 0, nil, nil, err
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		return res.StatusCode, res.Header, b, err
	}
	// objectEnvelope fetches the sentences object of sid and parses it.
	objectEnvelope := func(t *testing.T, sid string) (int, crypto.Envelope, error) {
		loc := sentencesLocation(t, s, sid, true)
		st, h, b, err := rawGet(loc, false)
		if err != nil || st != 200 {
			return st, crypto.Envelope{}, err
		}
		env, err := crypto.ParseEnvelope(h.Get(crypto.HeaderWrappedKey), h.Get(crypto.HeaderIV), b)
		return st, env, err
	}
	tests := []struct {
		name   string
		faults Faults
		check  func(t *testing.T)
	}{
		{"429 with Retry-After, twice", Faults{TooManyRequests: Rule{Times: 2}, RetryAfter: 2 * time.Second}, func(t *testing.T) {
			for i := 0; i < 2; i++ {
				st, h, b, _ := rawGet(apiPath, true)
				if st != 429 || h.Get("Retry-After") != "2" || !strings.Contains(string(b), `"code":20429`) {
					t.Fatalf("attempt %d: %d %q %s", i, st, h.Get("Retry-After"), b)
				}
			}
			if st, _, _, _ := rawGet(apiPath, true); st != 200 {
				t.Fatalf("third: %d", st)
			}
			if s.Count(CounterFaultPrefix+"TooManyRequests") != 2 {
				t.Fatalf("fault count %d", s.Count(CounterFaultPrefix+"TooManyRequests"))
			}
		}},
		{"429 on objects only", Faults{TooManyRequests: Rule{Fraction: 1, Target: TargetObjects}}, func(t *testing.T) {
			if st, _, _, _ := rawGet(apiPath, true); st != 200 {
				t.Fatalf("api: %d", st)
			}
			st, h, b, _ := rawGet(sentencesLocation(t, s, tr.SID, true), false)
			if st != 429 || h.Get("Retry-After") != "0" || !strings.Contains(string(b), "<Code>SlowDown</Code>") {
				t.Fatalf("object: %d %q %s", st, h.Get("Retry-After"), b)
			}
		}},
		{"5xx burst", Faults{ServerError: Rule{Times: 3, Target: TargetAPI}, ServerErrorStatus: 502}, func(t *testing.T) {
			for i := 0; i < 3; i++ {
				st, _, b, _ := rawGet(apiPath, true)
				if st != 502 || !strings.Contains(string(b), `"status":502`) {
					t.Fatalf("attempt %d: %d %s", i, st, b)
				}
			}
			if st, _, _, _ := rawGet(apiPath, true); st != 200 {
				t.Fatalf("after burst: %d", st)
			}
		}},
		{"5xx default status on objects", Faults{ServerError: Rule{Fraction: 1, Target: TargetObjects}}, func(t *testing.T) {
			if st, _, _ := objectEnvelope(t, tr.SID); st != 503 {
				t.Fatalf("status %d", st)
			}
		}},
		{"fault for one transcript only", Faults{ServerError: Rule{Fraction: 1, TranscriptSID: tr.SID}}, func(t *testing.T) {
			if st, _, _, _ := rawGet(apiPath, true); st != 503 {
				t.Fatalf("target: %d", st)
			}
			if st, _, _, _ := rawGet("/v2/Transcripts/"+otherSID, true); st != 200 {
				t.Fatalf("other: %d", st)
			}
		}},
		{"reset mid-body", Faults{ResetMidBody: Rule{Times: 1}}, func(t *testing.T) {
			st, _, _, err := rawGet(apiPath, true)
			if err == nil {
				t.Fatalf("no error (status %d)", st)
			}
			if st, _, _, err := rawGet(apiPath, true); err != nil || st != 200 {
				t.Fatalf("after: %d %v", st, err)
			}
		}},
		{"truncated object body", Faults{TruncateBody: Rule{Times: 1, Target: TargetObjects}}, func(t *testing.T) {
			loc := sentencesLocation(t, s, tr.SID, true)
			_, _, b, err := rawGet(loc, false)
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("err %v after %d bytes", err, len(b))
			}
		}},
		{"tampered ciphertext", Faults{TamperCiphertext: Rule{Times: 1}}, func(t *testing.T) {
			_, env, err := objectEnvelope(t, tr.SID)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := kr.Open(tr.EncryptionCredentialSID, env, nil); !errors.Is(err, crypto.ErrAuth) {
				t.Fatalf("open: %v", err)
			}
			_, env, _ = objectEnvelope(t, tr.SID)
			if _, err := kr.Open(tr.EncryptionCredentialSID, env, nil); err != nil {
				t.Fatalf("second open: %v", err)
			}
		}},
		{"missing key header", Faults{MissingKeyHeader: Rule{Times: 1}}, func(t *testing.T) {
			if _, _, err := objectEnvelope(t, tr.SID); !errors.Is(err, crypto.ErrMalformed) {
				t.Fatalf("err %v", err)
			}
		}},
		{"missing IV header", Faults{MissingIVHeader: Rule{Times: 1}}, func(t *testing.T) {
			if _, _, err := objectEnvelope(t, tr.SID); !errors.Is(err, crypto.ErrMalformed) {
				t.Fatalf("err %v", err)
			}
		}},
		{"malformed key header", Faults{MalformedKeyHeader: Rule{Times: 1}}, func(t *testing.T) {
			if _, _, err := objectEnvelope(t, tr.SID); !errors.Is(err, crypto.ErrMalformed) {
				t.Fatalf("err %v", err)
			}
		}},
		{"malformed IV header", Faults{MalformedIVHeader: Rule{Times: 1}}, func(t *testing.T) {
			if _, _, err := objectEnvelope(t, tr.SID); !errors.Is(err, crypto.ErrMalformed) {
				t.Fatalf("err %v", err)
			}
		}},
		{"expired URLs", Faults{ExpiredURLs: Rule{Times: 1}}, func(t *testing.T) {
			st, _, b, _ := rawGet(sentencesLocation(t, s, tr.SID, true), false)
			if st != 403 || !strings.Contains(string(b), "Request has expired") {
				t.Fatalf("%d %s", st, b)
			}
			if st, _, _, _ := rawGet(sentencesLocation(t, s, tr.SID, true), false); st != 200 {
				t.Fatalf("fresh location: %d", st)
			}
		}},
		{"wrong credentials", Faults{WrongCredentials: true}, func(t *testing.T) {
			st, _, b, _ := rawGet(apiPath, true)
			if st != 401 || !strings.Contains(string(b), `"code":20003`) {
				t.Fatalf("%d %s", st, b)
			}
		}},
		{"API latency", Faults{APILatency: 50 * time.Millisecond}, func(t *testing.T) {
			start := time.Now()
			rawGet(apiPath, true)
			if d := time.Since(start); d < 50*time.Millisecond {
				t.Fatalf("API took %v", d)
			}
		}},
		{"object latency only", Faults{ObjectLatency: 80 * time.Millisecond}, func(t *testing.T) {
			start := time.Now()
			loc := sentencesLocation(t, s, tr.SID, true)
			if d := time.Since(start); d >= 80*time.Millisecond {
				t.Fatalf("API delayed %v", d)
			}
			start = time.Now()
			rawGet(loc, false)
			if d := time.Since(start); d < 80*time.Millisecond {
				t.Fatalf("object took %v", d)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s.ResetCounts()
			s.SetFaults(tc.faults)
			defer s.SetFaults(Faults{})
			tc.check(t)
		})
	}
}

func TestFaultFraction(t *testing.T) {
	s := newTestServer(t, Options{})
	s.SetFaults(Faults{ServerError: Rule{Fraction: 0.5}})
	bad := 0
	for i := 0; i < 200; i++ {
		if r := do(t, s, "GET", "/v2/Services", nil); r.status == 503 {
			bad++
		}
	}
	if bad < 50 || bad > 150 {
		t.Fatalf("%d of 200 failed with Fraction 0.5", bad)
	}
}

// TestConcurrentUse hammers the server while faults, transcripts and
// counters change, for the race detector.
func TestConcurrentUse(t *testing.T) {
	s := newTestServer(t, Options{Corpus: CorpusOptions{TranscriptsPerService: 50}})
	enc := s.ServiceSID("call-centre-encrypted")
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			c := &http.Client{Timeout: 5 * time.Second}
			for j := 0; ; j++ {
				select {
				case <-stop:
					return
				default:
				}
				txs := s.Transcripts(enc)
				x := txs[(i*7+j)%len(txs)]
				for _, p := range []string{"/v2/Transcripts?PageSize=20&ServiceSid=" + enc, "/v2/Transcripts/" + x.SID + "/Sentences/Encrypted"} {
					req, _ := http.NewRequest("GET", s.URL+p, nil)
					req.SetBasicAuth(s.AccountSID, s.AuthToken)
					if res, err := c.Do(req); err == nil {
						io.Copy(io.Discard, res.Body)
						res.Body.Close()
					}
				}
			}
		}(i)
	}
	for i := 0; i < 20; i++ {
		s.SetFaults(Faults{ServerError: Rule{Fraction: 0.1}, ResetMidBody: Rule{Times: 1}})
		sids, _ := s.AddTranscripts(enc, 1)
		s.DeleteTranscript(sids[0])
		_ = s.Counts()
		s.ResetCounts()
		time.Sleep(5 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
}

// TestConcurrencyLimit: beyond ConcurrencyLimit API requests in process,
// the simulator refuses at once with Twilio's 429 / 20429 and no
// Retry-After; requests within the limit, and later ones, are served; the
// object store is not limited.
func TestConcurrencyLimit(t *testing.T) {
	s := newTestServer(t, Options{})
	tr := firstWithStatus(t, s, "call-centre-encrypted", StatusCompleted, nil)
	loc := sentencesLocation(t, s, tr.SID, true)
	s.SetFaults(Faults{ConcurrencyLimit: 3, APILatency: 400 * time.Millisecond})
	path := "/v2/Transcripts/" + tr.SID
	var wg sync.WaitGroup
	held := make([]response, 3)
	for i := range held {
		wg.Go(func() { held[i] = do(t, s, "GET", path, nil) })
	}
	for s.Count(CounterAPIConcurrencyPeak) < 3 {
		time.Sleep(5 * time.Millisecond)
	}
	for range 2 {
		r := do(t, s, "GET", path, nil)
		if r.status != http.StatusTooManyRequests || r.json(t)["code"] != float64(20429) {
			t.Fatalf("over the limit: status %d body %s, want 429 code 20429", r.status, r.body)
		}
		if ra := r.header.Get("Retry-After"); ra != "" {
			t.Errorf("Retry-After %q sent; Twilio sends none with 20429", ra)
		}
	}
	wg.Wait()
	for i, r := range held {
		if r.status != http.StatusOK || r.header.Get("Twilio-Concurrent-Requests") == "" {
			t.Errorf("request %d within the limit: status %d, Twilio-Concurrent-Requests %q", i, r.status, r.header.Get("Twilio-Concurrent-Requests"))
		}
	}
	if n := s.Count(CounterFaultPrefix + "ConcurrencyLimit"); n != 2 {
		t.Errorf("%d refusals counted, want 2", n)
	}
	if p := s.Count(CounterAPIConcurrencyPeak); p != 4 {
		t.Errorf("peak %d, want 4 (3 in process and the refused arrivals one at a time)", p)
	}
	if r := do(t, s, "GET", path, nil); r.status != http.StatusOK {
		t.Errorf("after the burst: status %d", r.status)
	}
	// The object store has no account limit: downloads go on while the
	// API is full.
	s.SetFaults(Faults{ConcurrencyLimit: 1, APILatency: 400 * time.Millisecond})
	wg.Go(func() { do(t, s, "GET", path, nil) })
	for s.apiInFlight.Load() < 1 {
		time.Sleep(5 * time.Millisecond)
	}
	defer wg.Wait()
	var objs sync.WaitGroup
	for range 4 {
		objs.Go(func() {
			if r, err := getObject(t, loc); err != nil || r.status != http.StatusOK {
				t.Errorf("object download under an API limit of 1: %v %d", err, r.status)
			}
		})
	}
	objs.Wait()
}
