package fetch

import (
	"context"
	"errors"
	"fmt"
	"github.com/intelligencefs/intelligencefs/fetch/record"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/intelligencefs/intelligencefs/crypto"
)

const secretSig = "S1GNATURESECRETdeadbeef"

func presigned(base, path string) string {
	return base + path + "?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=900&X-Amz-Signature=" + secretSig
}

func twilioErr(w http.ResponseWriter, status, code int) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"code":%d,"message":"error %d","more_info":"https://www.twilio.com/docs/errors/%d","status":%d}`, code, code, code, status)
}

func assertClean(t *testing.T, err error, extra ...string) {
	t.Helper()
	msg := err.Error()
	for _, bad := range append([]string{secretSig, testToken, "X-Amz-Signature=S", "\n"}, extra...) {
		if strings.Contains(msg, bad) {
			t.Errorf("error leaks %q: %s", bad, msg)
		}
	}
	if strings.Contains(msg, "?") && !strings.Contains(msg, "?"+record.Redacted) {
		t.Errorf("error has a query string: %s", msg)
	}
}

func TestClientRedact(t *testing.T) {
	c, _ := newTestClient(t, "", nil)
	if got := c.Redact("token " + testToken + " end"); strings.Contains(got, testToken) {
		t.Errorf("client Redact kept the auth token: %q", got)
	}
}

func TestNewValidation(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"no credentials", Config{}, false},
		{"key without secret", Config{APIKey: "SK1"}, false},
		{"token with symbols", Config{AccountSID: testAccount, AuthToken: "a-b"}, false},
		{"https anywhere", Config{AccountSID: testAccount, AuthToken: testToken, APIURL: "https://proxy.example:8443/base"}, true},
		{"http loopback v4", Config{AccountSID: testAccount, AuthToken: testToken, APIURL: "http://127.3.2.1:9"}, true},
		{"http loopback v6", Config{AccountSID: testAccount, AuthToken: testToken, APIURL: "http://[::1]:9"}, true},
		{"http localhost", Config{AccountSID: testAccount, AuthToken: testToken, APIURL: "http://localhost:9"}, true},
		{"http remote", Config{AccountSID: testAccount, AuthToken: testToken, APIURL: "http://example.com"}, false},
		{"http private", Config{AccountSID: testAccount, AuthToken: testToken, APIURL: "http://10.0.0.1"}, false},
		{"userinfo", Config{AccountSID: testAccount, AuthToken: testToken, APIURL: "https://u:p@example.com"}, false},
		{"ftp", Config{AccountSID: testAccount, AuthToken: testToken, APIURL: "ftp://127.0.0.1"}, false},
		{"api key", Config{APIKey: "SK0000", APISecret: "sec", AccountSID: testAccount}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := New(tc.cfg)
			if (err == nil) != tc.ok {
				t.Fatalf("New: err=%v, want ok=%v", err, tc.ok)
			}
			if err != nil {
				if strings.Contains(err.Error(), "p@") || (tc.cfg.AuthToken != "" && strings.Contains(err.Error(), tc.cfg.AuthToken)) {
					t.Errorf("error leaks: %v", err)
				}
				return
			}
			c.Close()
		})
	}
}

// apiMux is a tiny fake of the few endpoints unit tests need.
func transcriptJSON(sid, base string) string {
	return fmt.Sprintf(`{"account_sid":"%s","service_sid":"GA00000000000000000000000000000001","sid":"%s",
	"date_created":"2026-01-02T03:04:05Z","date_updated":"2026-01-02T03:05:05Z","status":"completed",
	"channel":{"media_properties":{"media_url":"https://x/y"}},"data_logging":false,"language_code":"en-US",
	"customer_key":null,"media_start_time":null,"duration":42,"url":"%s/v2/Transcripts/%s","redaction":true,
	"encryption_credential_sid":null,"links":{}}`, testAccount, sid, base, sid)
}

func gt(i int) string { return fmt.Sprintf("GT%032x", i) }

func TestRegionAndEdgeRewrite(t *testing.T) {
	t.Setenv("TWILIO_REGION", "ie1")
	t.Setenv("TWILIO_EDGE", "dublin")
	var hosts, paths []string
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hosts, paths = append(hosts, r.Host), append(paths, r.URL.Path)
		mu.Unlock()
		u, p, ok := r.BasicAuth()
		if !ok || u != testAccount || p != testToken {
			twilioErr(w, 401, 20003)
			return
		}
		fmt.Fprint(w, transcriptJSON(gt(1), "https://intelligence.dublin.ie1.twilio.com"))
	}))
	defer srv.Close()
	c, _ := newTestClient(t, srv.URL+"/prefix", nil)
	if c.edge != "dublin" || c.region != "ie1" {
		t.Fatalf("edge/region from env: %q %q", c.edge, c.region)
	}
	tr, err := c.FetchTranscript(context.Background(), gt(1))
	if err != nil {
		t.Fatal(err)
	}
	if tr.SID != gt(1) || !tr.Completed() || tr.Encrypted() {
		t.Errorf("transcript %+v", tr)
	}
	if want := srv.Listener.Addr().String(); hosts[0] != want || paths[0] != "/prefix/v2/Transcripts/"+gt(1) {
		t.Errorf("request went to %s%s, want %s/prefix/v2/Transcripts/…", hosts[0], paths[0], want)
	}
	if !strings.Contains(string(tr.JSON()), `"url":"https://intelligence.dublin.ie1.twilio.com/v2/Transcripts/`+gt(1)+`"`) {
		t.Errorf("url base not kept: %s", tr.JSON())
	}
	// The rewrite itself, as the RequestHandler would hand it over.
	k := c.newCall(context.Background())
	got, _ := k.rh.BuildUrl("http://127.0.0.1:8080/v2/Transcripts")
	if !strings.Contains(got, "ie1") {
		t.Fatalf("expected twilio-go to mangle a loopback host under a region, got %s", got)
	}
	rw, _ := rewriteURL(got, c.apiURL)
	if rw != srv.URL+"/prefix/v2/Transcripts" {
		t.Errorf("rewrite %s -> %s", got, rw)
	}
}

func TestRetryAfterHonoured(t *testing.T) {
	date := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	// Without Retry-After the first refusal is retried at once (the
	// adaptive limit's cut paces it), later ones back off with jitter.
	for _, tc := range []struct {
		name, header string
		min, max     [2]time.Duration // of the two waits
	}{
		{"seconds", "3", [2]time.Duration{3 * time.Second, 3 * time.Second}, [2]time.Duration{3 * time.Second, 3 * time.Second}},
		{"http date", date, [2]time.Duration{85 * time.Second, 85 * time.Second}, [2]time.Duration{91 * time.Second, 91 * time.Second}},
		{"absent (at once, then backoff with jitter)", "", [2]time.Duration{0, 125 * time.Millisecond}, [2]time.Duration{0, 250 * time.Millisecond}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var n atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if n.Add(1) <= 2 {
					if tc.header != "" {
						w.Header().Set("Retry-After", tc.header)
					}
					twilioErr(w, 429, 20429)
					return
				}
				fmt.Fprint(w, transcriptJSON(gt(1), ""))
			}))
			defer srv.Close()
			c, fs := newTestClient(t, srv.URL, func(c *Config) { c.MaxThrottleTime = 10 * time.Minute })
			if _, err := c.FetchTranscript(context.Background(), gt(1)); err != nil {
				t.Fatal(err)
			}
			waits := fs.got()
			if len(waits) != 2 {
				t.Fatalf("waits %v", waits)
			}
			for i, w := range waits {
				if w < tc.min[i] || w > tc.max[i] {
					t.Errorf("wait %d: %v not in [%v, %v]", i+1, w, tc.min[i], tc.max[i])
				}
			}
			st := c.Stats()
			if st.Retries != 2 || st.APIRequests != 3 || st.RetryWait != waits[0]+waits[1] {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

func TestRetryBudget(t *testing.T) {
	for _, tc := range []struct {
		name       string
		status     int
		retryAfter string
		cfg        func(*Config)
		attempts   int
		is         error
	}{
		{"503 until attempts run out", 503, "", nil, 5, record.ErrUnavailable},
		{"502 with 3 attempts", 502, "", func(c *Config) { c.MaxAttempts = 3 }, 3, record.ErrUnavailable},
		{"500", 500, "", func(c *Config) { c.MaxAttempts = 2 }, 2, record.ErrUnavailable},
		{"429 beyond time budget", 429, "120", nil, 1, record.ErrUnavailable},
		{"429 within budget", 429, "20", nil, 4, record.ErrUnavailable}, // waits 20+20+20 <= 60s; a 4th would pass 60s
		{"404 not retried", 404, "", nil, 1, record.ErrNotFound},
		{"401 not retried", 401, "", nil, 1, record.ErrAuth},
		{"400 not retried", 400, "", nil, 1, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var n atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n.Add(1)
				if tc.retryAfter != "" {
					w.Header().Set("Retry-After", tc.retryAfter)
				}
				twilioErr(w, tc.status, 20000+tc.status)
			}))
			defer srv.Close()
			c, _ := newTestClient(t, srv.URL, tc.cfg)
			_, err := c.FetchTranscript(context.Background(), gt(1))
			var fe *Error
			if !errors.As(err, &fe) {
				t.Fatalf("err %v is not *Error", err)
			}
			if fe.Status != tc.status || fe.Attempts != tc.attempts || int(n.Load()) != tc.attempts {
				t.Errorf("status %d attempts %d (server saw %d), want %d/%d: %v", fe.Status, fe.Attempts, n.Load(), tc.status, tc.attempts, err)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("errors.Is(%v, %v) = false", err, tc.is)
			}
			for _, s := range []error{record.ErrUnavailable, record.ErrNotFound, record.ErrAuth} {
				if s != tc.is && errors.Is(err, s) {
					t.Errorf("also matches %v: %v", s, err)
				}
			}
			if fe.SID != gt(1) || fe.Op == "" {
				t.Errorf("op/sid %q %q", fe.Op, fe.SID)
			}
			// A 404 is the answer to a name that does not exist, not a
			// failure: it is not counted.
			wantErrors := int64(1)
			if tc.is == record.ErrNotFound {
				wantErrors = 0
			}
			if c.Stats().Errors != wantErrors {
				t.Errorf("errors counter %d, want %d", c.Stats().Errors, wantErrors)
			}
			assertClean(t, err)
		})
	}
}

func TestAuthErrorNamesCredentialKind(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { twilioErr(w, 401, 20003) }))
	defer srv.Close()
	c, _ := newTestClient(t, srv.URL, nil)
	err := c.ValidateCredentials(context.Background())
	if !errors.Is(err, record.ErrAuth) || !strings.Contains(err.Error(), "auth token for account "+testAccount) {
		t.Errorf("token: %v", err)
	}
	assertClean(t, err)
	k, _ := newTestClient(t, srv.URL, func(c *Config) {
		c.APIKey, c.APISecret, c.AuthToken = "SK00000000000000000000000000000009", "keysecretKEYSECRET", ""
	})
	err = k.ValidateCredentials(context.Background())
	if !errors.Is(err, record.ErrAuth) || !strings.Contains(err.Error(), "API key SK00000000000000000000000000000009") {
		t.Errorf("key: %v", err)
	}
	assertClean(t, err, "keysecretKEYSECRET")
}

func TestPostRetries(t *testing.T) {
	svc := `{"sid":"GA00000000000000000000000000000001","unique_name":"u","encryption_credential_sid":"CR00000000000000000000000000000002","data_logging":true,"version":2}`
	for _, tc := range []struct {
		name      string
		first     int // status of the first answer
		wantCalls int32
		wantErr   error
	}{
		{"429 is retried", 429, 2, nil},
		{"503 is not retried", 503, 1, record.ErrUnavailable},
		{"412 conflict", 412, 1, record.ErrConflict},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var n atomic.Int32
			var forms []string
			var mu sync.Mutex
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				mu.Lock()
				forms = append(forms, string(b)+"|"+r.Header.Get("If-Match"))
				mu.Unlock()
				if n.Add(1) == 1 {
					twilioErr(w, tc.first, 20000)
					return
				}
				w.Header().Set("ETag", `"v2"`)
				fmt.Fprint(w, svc)
			}))
			defer srv.Close()
			c, _ := newTestClient(t, srv.URL, nil)
			s, err := c.UpdateServiceEncryption(context.Background(), "GA00000000000000000000000000000001", "CR00000000000000000000000000000002", `"v1"`)
			if n.Load() != tc.wantCalls {
				t.Errorf("calls %d want %d", n.Load(), tc.wantCalls)
			}
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err %v want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range forms {
				if f != `EncryptionCredentialSid=CR00000000000000000000000000000002|"v1"` {
					t.Errorf("request body/If-Match %q (body must be re-sent on retry)", f)
				}
			}
			if s.ETag != `"v2"` || !s.Encrypted() || !s.DataLogging || string(s.JSON()) != svc {
				t.Errorf("service %+v %s", s, s.JSON())
			}
		})
	}
}

func TestPostRetriedWhenRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c, fs := newTestClient(t, "http://"+addr, func(c *Config) { c.MaxAttempts = 3 })
	_, err = c.UpdateServiceEncryption(context.Background(), "GA00000000000000000000000000000001", "CR00000000000000000000000000000002", "")
	if !errors.Is(err, record.ErrUnavailable) || len(fs.got()) != 2 {
		t.Errorf("err %v, waits %v (want 2 retries of a refused POST)", err, fs.got())
	}
	assertClean(t, err)
}

// TestTransportErrorsRedacted checks every transport failure kind, on both
// the API and the object store, for leaks of the presigned query string and
// the auth token.
func TestTransportErrorsRedacted(t *testing.T) {
	tlsSrv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	tlsSrv.Config.ErrorLog = log.New(io.Discard, "", 0)
	tlsSrv.StartTLS()
	defer tlsSrv.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + ln.Addr().String()
	ln.Close()
	reset := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		conn.(*net.TCPConn).SetLinger(0)
		conn.Close()
	}))
	defer reset.Close()
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	defer slow.Close()

	for _, tc := range []struct{ name, base string }{
		{"tls", tlsSrv.URL}, {"refused", refused}, {"reset", reset.URL}, {"timeout", slow.URL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs syncBuffer
			c, _ := newTestClient(t, tc.base+"/", func(c *Config) {
				c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
				c.Timeout = 2 * time.Second
				if tc.name == "timeout" {
					c.Timeout = 100 * time.Millisecond
				}
				c.MaxAttempts = 2
			})
			_, err := c.FetchTranscript(context.Background(), gt(1))
			if !errors.Is(err, record.ErrUnavailable) {
				t.Errorf("api: %v is not ErrUnavailable", err)
			}
			assertClean(t, err)
			_, err = c.encryptedOperatorResult(context.Background(), gt(1), presigned(tc.base, "/objects/GT/1"))
			if !errors.Is(err, record.ErrUnavailable) {
				t.Errorf("object: %v is not ErrUnavailable", err)
			}
			assertClean(t, err)
			var fe *Error
			if tc.name == "tls" && (!errors.As(err, &fe) || fe.Attempts != 1 || !strings.Contains(err.Error(), "certificate")) {
				t.Errorf("a TLS verification failure is reported and not retried: %v", err)
			}
			if tc.name == "timeout" && !strings.Contains(err.Error(), "no complete response within") {
				t.Errorf("timeout not named: %v", err)
			}
			t.Logf("%s", err)
			if l := logs.String(); strings.Contains(l, secretSig) || strings.Contains(l, testToken) ||
				(tc.name != "tls" && !strings.Contains(l, "retries exhausted")) || !strings.Contains(l, "/objects/GT/1") {
				t.Errorf("logs leak or lack the warning:\n%s", l)
			}
		})
	}
}

func sealedObject(t *testing.T) (crypto.Envelope, http.HandlerFunc) {
	t.Helper()
	key, err := crypto.GenerateKey(2048)
	if err != nil {
		t.Fatal(err)
	}
	env, err := crypto.Seal(&key.PublicKey, []byte(`{"sentences":[]}`))
	if err != nil {
		t.Fatal(err)
	}
	return env, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			w.WriteHeader(400)
			return
		}
		w.Header().Set(crypto.HeaderWrappedKey, env.EncodedKey())
		w.Header().Set(crypto.HeaderIV, env.EncodedIV())
		w.Write(env.Body)
	}
}

func TestObjectDownloadRules(t *testing.T) {
	env, serve := sealedObject(t)
	var redirectedTo atomic.Int32
	var authSeen atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			authSeen.Add(1)
		}
		serve(w, r)
	})
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/elsewhere", http.StatusFound)
	})
	mux.HandleFunc("/elsewhere", func(w http.ResponseWriter, r *http.Request) { redirectedTo.Add(1); serve(w, r) })
	mux.HandleFunc("/short", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		w.Header().Set(crypto.HeaderWrappedKey, env.EncodedKey())
		w.Header().Set(crypto.HeaderIV, env.EncodedIV())
		w.Write([]byte("short"))
	})
	mux.HandleFunc("/v2/", func(w http.ResponseWriter, r *http.Request) { twilioErr(w, 404, 20404) })
	srv := httptest.NewServer(mux)
	defer srv.Close()
	c, _ := newTestClient(t, srv.URL, nil)
	ctx := context.Background()

	got, err := c.encryptedOperatorResult(ctx, gt(1), presigned(srv.URL, "/ok"))
	if err != nil || string(got.Body) != string(env.Body) || string(got.IV) != string(env.IV) {
		t.Fatalf("download: %v", err)
	}
	if authSeen.Load() != 0 {
		t.Error("object store saw an Authorization header")
	}
	if st := c.Stats(); st.ObjectDownloads != 1 || st.BytesDownloaded != int64(len(env.Body)) || st.APIRequests != 0 {
		t.Errorf("stats %+v", st)
	}

	_, err = c.encryptedOperatorResult(ctx, gt(1), presigned(srv.URL, "/redirect"))
	if err == nil || redirectedTo.Load() != 0 {
		t.Errorf("redirect followed or accepted: %v", err)
	}
	assertClean(t, err)

	_, err = c.encryptedOperatorResult(ctx, gt(1), presigned(srv.URL, "/short"))
	if !errors.Is(err, record.ErrUnavailable) {
		t.Errorf("short body: %v", err)
	}
	var fe *Error
	if errors.As(err, &fe); fe == nil || fe.Attempts != DefaultMaxAttempts {
		t.Errorf("short body not retried: %v", err)
	}
	assertClean(t, err)

	before := c.Stats().ObjectDownloads
	_, err = c.encryptedOperatorResult(ctx, gt(1), presigned("http://example.com", "/ok"))
	if !errors.Is(err, record.ErrInsecureURL) || c.Stats().ObjectDownloads != before {
		t.Errorf("plain http to a remote host: %v", err)
	}
	assertClean(t, err)
}

func TestListTranscriptsStreams(t *testing.T) {
	const pages = 3
	var delivered atomic.Int32 // pages handed to the callback
	var early atomic.Bool
	var srvURL string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		page := 0
		fmt.Sscan(r.URL.Query().Get("Page"), &page)
		if int(delivered.Load()) != page {
			early.Store(true)
		}
		if r.URL.Query().Get("PageSize") != "2" || r.URL.Query().Get("ServiceSid") != "GA00000000000000000000000000000001" ||
			r.URL.Query().Get("AfterDateCreated") != "2026-01-01T00:00:00Z" {
			twilioErr(w, 400, 20001)
			return
		}
		var items []string
		for i := 0; i < 2; i++ {
			items = append(items, transcriptJSON(gt(page*2+i), srvURL))
		}
		next := "null"
		if page+1 < pages {
			next = fmt.Sprintf(`"%s/v2/Transcripts?ServiceSid=GA00000000000000000000000000000001&AfterDateCreated=2026-01-01T00%%3A00%%3A00Z&PageSize=2&Page=%d&PageToken=PT%d"`, "https://intelligence.twilio.com", page+1, page+1)
		}
		fmt.Fprintf(w, `{"transcripts":[%s],"meta":{"key":"transcripts","page":%d,"page_size":2,"next_page_url":%s}}`, strings.Join(items, ","), page, next)
	}))
	defer srv.Close()
	srvURL = srv.URL
	c, _ := newTestClient(t, srv.URL, nil)
	var got []string
	err := c.ListTranscripts(context.Background(), record.TranscriptQuery{
		ServiceSID: "GA00000000000000000000000000000001", PageSize: 2,
		AfterDateCreated: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
	}, func(ts []record.Transcript) error {
		for _, tr := range ts {
			got = append(got, tr.SID)
		}
		delivered.Add(1)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if early.Load() {
		t.Error("a page was requested before the previous one was delivered")
	}
	if len(got) != pages*2 || got[5] != gt(5) || c.Stats().APIRequests != pages {
		t.Errorf("got %v, %d requests", got, c.Stats().APIRequests)
	}
	stop := errors.New("stop")
	if err := c.ListTranscripts(context.Background(), record.TranscriptQuery{ServiceSID: "GA00000000000000000000000000000001", PageSize: 2,
		AfterDateCreated: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}, func([]record.Transcript) error { return stop }); err != stop {
		t.Errorf("callback error not returned as is: %v", err)
	}
}

// TestConcurrencyLimits: API requests and object downloads each stay within
// their own limit, and downloads do not take the API's slots (Twilio limits
// API concurrency; the object store is another service).
func TestConcurrencyLimits(t *testing.T) {
	_, serve := sealedObject(t)
	type gauge struct{ now, peak atomic.Int32 }
	var api, obj, all gauge
	enter := func(g *gauge) {
		n := g.now.Add(1)
		for p := g.peak.Load(); n > p && !g.peak.CompareAndSwap(p, n); p = g.peak.Load() {
		}
	}
	track := func(g *gauge, h http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			enter(g)
			enter(&all)
			time.Sleep(5 * time.Millisecond)
			h(w, r)
			g.now.Add(-1)
			all.now.Add(-1)
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/obj", track(&obj, serve))
	mux.HandleFunc("/v2/", track(&api, func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, transcriptJSON(gt(1), "")) }))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	c, _ := newTestClient(t, srv.URL, func(c *Config) { c.MaxConcurrency, c.MaxObjectConcurrency = 4, 3 })
	var wg sync.WaitGroup
	for i := 0; i < 96; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			if i%2 == 0 {
				_, err = c.FetchTranscript(context.Background(), gt(1))
			} else {
				_, err = c.encryptedOperatorResult(context.Background(), gt(1), srv.URL+"/obj")
			}
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	for _, tc := range []struct {
		name  string
		g     *gauge
		limit int32
	}{{"API requests", &api, 4}, {"object downloads", &obj, 3}} {
		if p := tc.g.peak.Load(); p > tc.limit || p < 2 {
			t.Errorf("%s: peak in flight %d, limit %d", tc.name, p, tc.limit)
		}
	}
	if p := all.peak.Load(); p <= 4 {
		t.Errorf("peak of all requests %d: object downloads seem to take API slots", p)
	}
	if c.Stats().InFlight != 0 {
		t.Errorf("slots leaked: %d", c.Stats().InFlight)
	}
}

func TestContextCancelWhileWaiting(t *testing.T) {
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-block
		fmt.Fprint(w, transcriptJSON(gt(1), ""))
	}))
	defer srv.Close()
	defer close(block)
	c, _ := newTestClient(t, srv.URL, func(c *Config) { c.MaxConcurrency = 1; c.RateLimit = 1000 })
	go c.FetchTranscript(context.Background(), gt(1))
	for c.Stats().InFlight == 0 {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.FetchTranscript(ctx, gt(2))
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 2*time.Second {
		t.Errorf("err %v after %v", err, time.Since(start))
	}
	if errors.Is(err, record.ErrUnavailable) {
		t.Errorf("a caller's deadline is not ErrUnavailable: %v", err)
	}
	_, err = c.encryptedOperatorResult(ctx, gt(1), srv.URL+"/obj")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("object: %v", err)
	}
}

func TestMalformedSIDMakesNoRequest(t *testing.T) {
	c, _ := newTestClient(t, "http://127.0.0.1:1", nil)
	ctx := context.Background()
	for _, sid := range []string{"", "GT123", "../../v1/Credentials", "GA00000000000000000000000000000001"} {
		if _, err := c.FetchTranscript(ctx, sid); !errors.Is(err, record.ErrNotFound) {
			t.Errorf("FetchTranscript(%q): %v", sid, err)
		}
		if _, err := c.EncryptedSentences(ctx, sid); !errors.Is(err, record.ErrNotFound) {
			t.Errorf("EncryptedSentences(%q): %v", sid, err)
		}
		if _, err := c.PlainSentences(ctx, sid); !errors.Is(err, record.ErrNotFound) {
			t.Errorf("PlainSentences(%q): %v", sid, err)
		}
	}
	if st := c.Stats(); st.APIRequests != 0 {
		t.Errorf("requests made: %+v", st)
	}
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestRateLimit(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		fmt.Fprint(w, transcriptJSON(gt(1), ""))
	}))
	defer srv.Close()
	c, _ := newTestClient(t, srv.URL, func(c *Config) { c.RateLimit = 20 })
	start := time.Now()
	var wg sync.WaitGroup
	for i := 0; i < 30; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.FetchTranscript(context.Background(), gt(1)); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	// 20 burst, then 10 more at 20/s: at least ~0.5s.
	if d := time.Since(start); d < 400*time.Millisecond {
		t.Errorf("30 requests at 20/s took %v", d)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	for i := 0; i < 3; i++ {
		c.FetchTranscript(ctx, gt(1))
	}
	if _, err := c.FetchTranscript(ctx, gt(1)); err == nil {
		t.Error("a request beyond the rate within a short deadline succeeded")
	}
}

func TestNextPageURLVetted(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"services":[],"meta":{"next_page_url":"https://evil.example/v2/Services?Page=1"}}`)
	}))
	defer srv.Close()
	c, _ := newTestClient(t, srv.URL, nil)
	c.apiURL = nil // as against Twilio itself: next_page_url must stay on Twilio
	c.base = &rewriteRT{to: srv.URL, next: http.DefaultTransport}
	c.apiRT.base = c.base
	_, err := c.ListServices(context.Background())
	if err == nil || !strings.Contains(err.Error(), "outside Twilio") {
		t.Errorf("err %v", err)
	}
}

// rewriteRT sends every request to one test server (standing in for the
// Twilio hosts).
type rewriteRT struct {
	to   string
	next http.RoundTripper
}

func (r *rewriteRT) RoundTrip(req *http.Request) (*http.Response, error) {
	u := *req.URL
	u.Scheme, u.Host = "http", strings.TrimPrefix(r.to, "http://")
	req = req.Clone(req.Context())
	req.URL = &u
	return r.next.RoundTrip(req)
}
