package twiliosim

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/intelligencefs/intelligencefs/crypto"
	"github.com/intelligencefs/intelligencefs/fetch/record"
)

// keyring holds both test keys under the server's credential SIDs.
func keyring(t *testing.T, s *Server) *crypto.Keyring {
	k := testKeys(t)
	kr := crypto.NewKeyring()
	cr := s.CredentialSIDs()
	kr.Add(k[0], cr[0])
	kr.Add(k[1], cr[1])
	return kr
}

// sentencesLocation asks the API for a transcript's sentences location.
func sentencesLocation(t *testing.T, s *Server, sid string, redacted bool) string {
	t.Helper()
	r := do(t, s, "GET", "/v2/Transcripts/"+sid+"/Sentences/Encrypted?Redacted="+map[bool]string{true: "true", false: "false"}[redacted], nil)
	if r.status != 200 {
		t.Fatalf("status %d %s", r.status, r.body)
	}
	loc, _ := r.json(t)["location"].(string)
	return loc
}

// open downloads and decrypts one object.
func open(t *testing.T, kr *crypto.Keyring, cr, loc string) ([]byte, error) {
	t.Helper()
	o, err := getObject(t, loc)
	if err != nil {
		return nil, err
	}
	if o.status != 200 {
		t.Fatalf("object status %d %s", o.status, o.body)
	}
	if o.header.Get("Content-Length") == "" {
		t.Error("no Content-Length")
	}
	env, err := crypto.ParseEnvelope(o.header.Get(crypto.HeaderWrappedKey), o.header.Get(crypto.HeaderIV), o.body)
	if err != nil {
		return nil, err
	}
	return kr.Open(cr, env, nil)
}

func TestObjectsDecryptToGroundTruth(t *testing.T) {
	s := newTestServer(t, Options{Corpus: CorpusOptions{Rotation: true, TranscriptsPerService: 12}})
	kr := keyring(t, s)
	usedCreds := map[string]bool{}
	for _, x := range s.Transcripts("") {
		if x.EncryptionCredentialSID == "" || x.Status != StatusCompleted {
			continue
		}
		usedCreds[x.EncryptionCredentialSID] = true
		for _, red := range []bool{true, false} {
			pt, err := open(t, kr, x.EncryptionCredentialSID, sentencesLocation(t, s, x.SID, red))
			if err != nil {
				t.Fatalf("%s: %v", x.SID, err)
			}
			if string(pt) != string(s.SentencesPlaintext(x.SID, red)) {
				t.Fatalf("%s: sentences differ", x.SID)
			}
			r := do(t, s, "GET", "/v2/Transcripts/"+x.SID+"/OperatorResults/Encrypted?Redacted="+map[bool]string{true: "true", false: "false"}[red], nil)
			want := s.OperatorResultPlaintexts(x.SID, red)
			locs := r.json(t)["locations"].([]any)
			if len(locs) != len(want) {
				t.Fatalf("%d locations, want %d", len(locs), len(want))
			}
			for i, l := range locs {
				pt, err := open(t, kr, x.EncryptionCredentialSID, l.(string))
				if err != nil || string(pt) != string(want[i]) {
					t.Fatalf("operator result %d: %v", i, err)
				}
			}
		}
	}
	if len(usedCreds) != 2 {
		t.Fatalf("rotation used %d credentials", len(usedCreds))
	}
}

func TestObjectStoreRejections(t *testing.T) {
	var mu sync.Mutex
	now := time.Now()
	s := newTestServer(t, Options{URLTTL: time.Minute, Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return now }})
	tr := firstWithStatus(t, s, "call-centre-encrypted", StatusCompleted, nil)
	loc := sentencesLocation(t, s, tr.SID, true)
	u, _ := url.Parse(loc)
	if q := u.Query(); q.Get("X-Amz-Expires") != "60" || q.Get("X-Amz-Signature") == "" || q.Get("X-Amz-Date") == "" {
		t.Fatalf("query %v", q)
	}
	tamper := func(k, v string) string {
		q := u.Query()
		q.Set(k, v)
		c := *u
		c.RawQuery = q.Encode()
		return c.String()
	}
	tests := []struct {
		name   string
		url    string
		auth   bool
		status int
		code   string
	}{
		{"valid", loc, false, 200, ""},
		{"tampered signature", tamper("X-Amz-Signature", strings.Repeat("0", 64)), false, 403, "SignatureDoesNotMatch"},
		{"tampered expiry", tamper("X-Amz-Expires", "999999"), false, 403, "SignatureDoesNotMatch"},
		{"tampered path", strings.Replace(loc, "/sentences/r", "/sentences/u", 1), false, 403, "SignatureDoesNotMatch"},
		{"unsigned", s.URL + "/objects/" + tr.SID + "/sentences/r", false, 403, "AccessDenied"},
		{"authorization header", loc, true, 400, "InvalidArgument"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", tc.url, nil)
			if tc.auth {
				req.SetBasicAuth(s.AccountSID, s.AuthToken)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			b := make([]byte, 4096)
			n, _ := res.Body.Read(b)
			if res.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", res.StatusCode, tc.status, b[:n])
			}
			if tc.code != "" && !strings.Contains(string(b[:n]), "<Error><Code>"+tc.code+"</Code>") {
				t.Fatalf("body %s", b[:n])
			}
		})
	}
	if s.Count(CounterObjectAuthViolations) != 1 {
		t.Fatalf("auth violations %d", s.Count(CounterObjectAuthViolations))
	}
	// Expiry: one second before the end is fine, after it is 403.
	mu.Lock()
	now = now.Add(58 * time.Second)
	mu.Unlock()
	if o, _ := getObject(t, loc); o.status != 200 {
		t.Fatalf("before expiry: %d", o.status)
	}
	mu.Lock()
	now = now.Add(3 * time.Second)
	mu.Unlock()
	if o, _ := getObject(t, loc); o.status != 403 || !strings.Contains(string(o.body), "<Code>AccessDenied</Code><Message>Request has expired") {
		t.Fatalf("after expiry: %d %s", o.status, o.body)
	}
	// A deleted transcript's object is gone.
	loc2 := sentencesLocation(t, s, tr.SID, false)
	s.DeleteTranscript(tr.SID)
	if o, _ := getObject(t, loc2); o.status != 404 || !strings.Contains(string(o.body), "NoSuchKey") {
		t.Fatalf("deleted: %d %s", o.status, o.body)
	}
}

func TestCreatedKeyBecomesUsable(t *testing.T) {
	s := newTestServer(t, Options{})
	k, err := crypto.GenerateKey(2048)
	if err != nil {
		t.Fatal(err)
	}
	pem, _ := crypto.MarshalPublicKeyPEM(&k.PublicKey)
	r := do(t, s, "POST", "/v1/Credentials/PublicKeys", url.Values{"PublicKey": {string(pem)}})
	cr := r.json(t)["sid"].(string)
	if !s.PublicKey(cr).Equal(&k.PublicKey) {
		t.Fatal("PublicKey does not return the created key")
	}
	plain := s.ServiceSID("call-centre-plain")
	svc := do(t, s, "GET", "/v2/Services/"+plain, nil)
	etag := svc.header.Get("ETag")
	r = do(t, s, "POST", "/v2/Services/"+plain, url.Values{"EncryptionCredentialSid": {cr}}, "If-Match", etag)
	if r.status != 200 || r.json(t)["encryption_credential_sid"] != cr {
		t.Fatalf("update: %d %s", r.status, r.body)
	}
	// The old ETag no longer matches.
	if r := do(t, s, "POST", "/v2/Services/"+plain, url.Values{"FriendlyName": {"x"}}, "If-Match", etag); r.status != 412 {
		t.Fatalf("stale If-Match: %d", r.status)
	}
	sids, err := s.AddTranscripts(plain, 2)
	if err != nil {
		t.Fatal(err)
	}
	kr := crypto.NewKeyring()
	kr.Add(k, cr)
	for _, sid := range sids {
		pt, err := open(t, kr, cr, sentencesLocation(t, s, sid, false))
		if err != nil || string(pt) != string(s.SentencesPlaintext(sid, false)) {
			t.Fatalf("new transcript: %v", err)
		}
	}
	// Existing transcripts stay plain unless asked.
	old := s.Transcripts(plain)[5]
	if old.EncryptionCredentialSID != "" {
		t.Fatal("existing transcript became encrypted")
	}
	if err := s.SetServiceEncryption(plain, cr, true); err != nil {
		t.Fatal(err)
	}
	if s.Transcripts(plain)[5].EncryptionCredentialSID != cr {
		t.Fatal("SetServiceEncryption(existing) did not apply")
	}
	if s.PublicKey("CR"+strings.Repeat("f", 32)) != nil {
		t.Fatal("unknown credential has a key")
	}
}

func TestSetTranscriptStatus(t *testing.T) {
	s := newTestServer(t, Options{})
	tr := firstWithStatus(t, s, "call-centre-encrypted", StatusInProgress, nil)
	if loc := sentencesLocation(t, s, tr.SID, true); loc != "" {
		t.Fatal("in-progress transcript has a location")
	}
	if err := s.SetTranscriptStatus(tr.SID, StatusCompleted); err != nil {
		t.Fatal(err)
	}
	if loc := sentencesLocation(t, s, tr.SID, true); loc == "" {
		t.Fatal("completed transcript has no location")
	}
	if err := s.SetTranscriptStatus(tr.SID, "done"); err == nil {
		t.Fatal("bad status accepted")
	}
	// What the simulator does not hold is record.ErrNotFound, as fetch
	// reports it.
	for name, err := range map[string]error{
		"transcript": s.SetTranscriptStatus("GT"+strings.Repeat("0", 32), StatusCompleted),
		"service":    s.SetServiceEncryption("GA"+strings.Repeat("0", 32), "", false),
	} {
		if !errors.Is(err, record.ErrNotFound) {
			t.Errorf("unknown %s: %v, want record.ErrNotFound", name, err)
		}
	}
}
