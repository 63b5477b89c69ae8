package fetch

import (
	"context"
	"errors"
	"github.com/intelligencefs/intelligencefs/fetch/record"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/intelligencefs/intelligencefs/fetch/twiliosim"
)

// TestSimTwilioErrorsReachTheLine checks that what the server answered
// reaches the one-line error: Twilio's code, message and more_info; 401 and
// 403 told apart; a proxy's HTML page as one readable phrase, not a
// decoder error; a 501 that is not "unavailable".
func TestSimTwilioErrorsReachTheLine(t *testing.T) {
	s, _ := newSim(t, twiliosim.Options{})
	ctx := context.Background()
	c, _ := simClient(t, s, func(c *Config) { c.MaxAttempts, c.MaxThrottleTime = 1, time.Millisecond })
	sid := pick(t, s, "call-centre-plain", false).SID
	cases := []struct {
		name   string
		faults twiliosim.Faults
		is     []error
		isNot  []error
		want   []string
		reject []string
	}{
		{name: "401", faults: twiliosim.Faults{WrongCredentials: true},
			is: []error{record.ErrAuth}, isNot: []error{record.ErrForbidden},
			want: []string{"HTTP 401", "Twilio rejected the credentials (20003 Authenticate", "more info: https://www.twilio.com/docs/errors/20003", "auth token for account " + s.AccountSID}},
		{name: "403", faults: twiliosim.Faults{ForbiddenCredentials: true},
			is:     []error{record.ErrAuth, record.ErrForbidden},
			want:   []string{"HTTP 403", "Twilio forbade the request", "20403 Forbidden", "restricted API key"},
			reject: []string{"rejected the credentials"}},
		{name: "html-502", faults: twiliosim.Faults{ServerError: twiliosim.Rule{Fraction: 1}, ServerErrorStatus: 502, ServerErrorHTML: true},
			is:     []error{record.ErrUnavailable},
			want:   []string{"HTTP 502", "text/html body instead of Twilio's JSON error", `"502 Bad Gateway"`},
			reject: []string{"invalid character", "decoding", "<"}},
		{name: "429", faults: twiliosim.Faults{TooManyRequests: twiliosim.Rule{Fraction: 1}, RetryAfter: -1},
			is:   []error{record.ErrUnavailable},
			want: []string{"HTTP 429", "20429 Too many requests", "more info: https://www.twilio.com/docs/errors/20429"}},
		{name: "501", faults: twiliosim.Faults{ServerError: twiliosim.Rule{Fraction: 1}, ServerErrorStatus: 501},
			is: []error{record.ErrNotImplemented}, isNot: []error{record.ErrUnavailable},
			want:   []string{"HTTP 501", "not implemented by the API", "20500"},
			reject: []string{"unavailable"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s.SetFaults(tc.faults)
			defer s.SetFaults(twiliosim.Faults{})
			_, err := c.FetchTranscript(ctx, sid)
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			for _, k := range tc.is {
				if !errors.Is(err, k) {
					t.Errorf("not %v: %s", k, msg)
				}
			}
			for _, k := range tc.isNot {
				if errors.Is(err, k) {
					t.Errorf("is %v: %s", k, msg)
				}
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("lacks %q: %s", w, msg)
				}
			}
			for _, r := range tc.reject {
				if strings.Contains(msg, r) {
					t.Errorf("has %q: %s", r, msg)
				}
			}
			if strings.ContainsAny(msg, "\r\n") {
				t.Errorf("more than one line: %q", msg)
			}
		})
	}
}

// TestProblemText covers the error bodies the servers send.
func TestProblemText(t *testing.T) {
	h := func(ct string) http.Header { return http.Header{"Content-Type": {ct}} }
	cases := []struct {
		name, ct, body, want string
	}{
		{"twilio", "application/json", `{"code":20404,"message":"The requested resource was not found","more_info":"https://www.twilio.com/docs/errors/20404","status":404}`,
			"20404 The requested resource was not found; more info: https://www.twilio.com/docs/errors/20404"},
		{"s3", "application/xml", `<?xml version="1.0"?><Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>`,
			"AccessDenied: Request has expired"},
		{"html", "text/html; charset=utf-8", "<html><head><title>504 Gateway Time-out</title></head><body>x</body></html>",
			`a text/html body instead of Twilio's JSON error, so a proxy or gateway answered: "504 Gateway Time-out"`},
		{"text", "text/plain", "upstream connect error\nor disconnect/reset before headers",
			`a text/plain body instead of Twilio's JSON error, so a proxy or gateway answered: "upstream connect error or disconnect/reset before headers"`},
		{"empty", "text/plain", "", ""},
	}
	for _, tc := range cases {
		if got := problemText(502, h(tc.ct), []byte(tc.body)); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestSimUniqueNameThroughList resolves a unique name without relying on
// GET /v2/Services/{unique_name}, which the API documents for SIDs only.
func TestSimUniqueNameThroughList(t *testing.T) {
	s, _ := newSim(t, twiliosim.Options{})
	s.SetFaults(twiliosim.Faults{NoUniqueNameFetch: true})
	c, _ := simClient(t, s, nil)
	ctx := context.Background()
	svc, err := c.FetchService(ctx, "call-centre-plain")
	if err != nil || svc.SID != s.ServiceSID("call-centre-plain") || svc.ETag == "" {
		t.Fatalf("by unique name: %+v, %v", svc, err)
	}
	if _, err := c.FetchService(ctx, "no-such-name"); !errors.Is(err, record.ErrNotFound) {
		t.Errorf("unknown name: %v", err)
	}
}

// TestSimSentencePageFallback: a server that refuses PageSize 5000 gets
// the same document with 1000, and one refusal only.
func TestSimSentencePageFallback(t *testing.T) {
	s, _ := newSim(t, twiliosim.Options{})
	c, _ := simClient(t, s, nil)
	ctx := context.Background()
	sid := pick(t, s, "call-centre-plain", false).SID
	want, err := c.PlainSentences(ctx, sid)
	if err != nil {
		t.Fatal(err)
	}
	c2, _ := simClient(t, s, nil)
	s.SetFaults(twiliosim.Faults{MaxSentencePageSize: 1000})
	s.ResetCounts()
	for range 2 {
		got, err := c2.PlainSentences(ctx, sid)
		if err != nil || string(got) != string(want) {
			t.Fatalf("with 1000: %v, %d bytes, want %d", err, len(got), len(want))
		}
	}
	if n := s.Count(twiliosim.EndpointListSentences); n != 3 {
		t.Errorf("%d Sentences requests for two documents, want 3 (one refused)", n)
	}
}

// TestSimNullLocations: "location": null and "locations": null are both
// not-found, not "no results".
func TestSimNullLocations(t *testing.T) {
	s, _ := newSim(t, twiliosim.Options{})
	c, _ := simClient(t, s, nil)
	ctx := context.Background()
	sid := pick(t, s, "call-centre-encrypted", true).SID
	s.SetFaults(twiliosim.Faults{NullLocations: twiliosim.Rule{Fraction: 1}})
	if _, err := c.EncryptedSentences(ctx, sid); !errors.Is(err, record.ErrNotFound) {
		t.Errorf("location null: %v", err)
	}
	if locs, err := c.operatorResultLocations(ctx, sid); !errors.Is(err, record.ErrNotFound) {
		t.Errorf("locations null: %v, %d", err, len(locs))
	}
}

// TestSimDateFiltersOnClient: a server that ignores or widens the date
// filters still yields only the transcripts asked for.
func TestSimDateFiltersOnClient(t *testing.T) {
	s, _ := newSim(t, twiliosim.Options{Corpus: twiliosim.CorpusOptions{TranscriptsPerService: 40}})
	c, _ := simClient(t, s, nil)
	ctx := context.Background()
	svc := s.ServiceSID("call-centre-plain")
	all := s.Transcripts(svc)
	day := all[len(all)/2].DateCreated.UTC().Truncate(24 * time.Hour)
	q := record.TranscriptQuery{ServiceSID: svc, AfterDateCreated: day, BeforeDateCreated: day.Add(24 * time.Hour)}
	want := map[string]bool{}
	for _, tr := range all {
		if !tr.DateCreated.Before(day) && tr.DateCreated.Before(q.BeforeDateCreated) {
			want[tr.SID] = true
		}
	}
	for _, f := range []twiliosim.Faults{{}, {IgnoreDateFilters: true}, {DateFilterSlack: 36 * time.Hour}} {
		s.SetFaults(f)
		got := map[string]bool{}
		err := c.ListTranscripts(ctx, q, func(ts []record.Transcript) error {
			for _, tr := range ts {
				got[tr.SID] = true
			}
			return nil
		})
		if err != nil || len(got) != len(want) {
			t.Errorf("%+v: %v, %d transcripts, want %d", f, err, len(got), len(want))
		}
		for sid := range got {
			if !want[sid] {
				t.Errorf("%+v: %s is not of %s", f, sid, day.Format(time.DateOnly))
			}
		}
	}
}

// TestObjectTLSFailureNamesHost: a certificate that does not match the
// object store host is one line naming the host; a dotted bucket in
// virtual-hosted style is explained.
func TestObjectTLSFailureNamesHost(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	tr := srv.Client().Transport.(*http.Transport).Clone()
	c, _ := newTestClient(t, srv.URL, func(cfg *Config) { cfg.Transport = tr })
	// httptest's certificate names 127.0.0.1 and example.com, not localhost.
	loc := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1) + "/obj?X-Amz-Signature=secret"
	_, err := c.encryptedOperatorResult(context.Background(), gt(1), loc)
	if !errors.Is(err, record.ErrUnavailable) || !strings.Contains(err.Error(), "TLS handshake with the object store localhost failed") {
		t.Errorf("TLS failure: %v", err)
	}
	assertClean(t, err, "secret")
	if st := c.Stats(); st.ObjectDownloads != 1 {
		t.Errorf("%d attempts: a certificate failure is not retried", st.ObjectDownloads)
	}
	for host, want := range map[string]string{
		"com.twilio.us1.sentences.s3.amazonaws.com":                 "com.twilio.us1.sentences",
		"my.bucket.s3.us-east-1.amazonaws.com":                      "my.bucket",
		"plainbucket.s3.amazonaws.com":                              "",
		"s3.amazonaws.com":                                          "",
		"com.twilio.us1.sentences.s3.example.com":                   "",
		"com.twilio.us1.operatorresults.s3-us-west-2.amazonaws.com": "com.twilio.us1.operatorresults",
	} {
		b, ok := dottedS3Bucket(host)
		if ok != (want != "") || b != want && want != "" {
			t.Errorf("%s: %q %v, want %q", host, b, ok, want)
		}
		if msg := tlsProblem(host, errors.New("x509: certificate is valid for *.s3.amazonaws.com")); strings.Contains(msg, "wildcard") != (want != "") {
			t.Errorf("%s: %s", host, msg)
		}
	}
}

// TestLocationExpiry reads a presigned URL's own expiry.
func TestLocationExpiry(t *testing.T) {
	cases := []struct {
		url  string
		want time.Time
		ok   bool
	}{
		{"https://b.s3.amazonaws.com/GT1?X-Amz-Date=20260102T030405Z&X-Amz-Expires=900&X-Amz-Signature=s",
			time.Date(2026, 1, 2, 3, 19, 5, 0, time.UTC), true},
		{"https://b.s3.amazonaws.com/GT1?AWSAccessKeyId=A&Expires=1767323045&Signature=s",
			time.Unix(1767323045, 0).UTC(), true},
		{"https://b.s3.amazonaws.com/GT1?X-Amz-Date=bogus&X-Amz-Expires=900", time.Time{}, false},
		{"https://b.s3.amazonaws.com/GT1?X-Amz-Date=20260102T030405Z&X-Amz-Expires=99999999", time.Time{}, false},
		{"https://b.s3.amazonaws.com/GT1", time.Time{}, false},
	}
	for _, tc := range cases {
		got, ok := record.LocationExpiry(tc.url)
		if ok != tc.ok || !got.Equal(tc.want) {
			t.Errorf("%s: %v %v, want %v %v", record.Redact(tc.url), got, ok, tc.want, tc.ok)
		}
	}
	if a, b := objectKey("https://h/p/1?X-Amz-Signature=a"), objectKey("https://h/p/1?X-Amz-Signature=b"); a != b || a == objectKey("https://h/p/2?X-Amz-Signature=a") {
		t.Errorf("keys %q %q", a, b)
	}
}
