package twiliosim

import (
	"net/url"
	"strings"
	"testing"

	"github.com/intelligencefs/intelligencefs/crypto"
)

// firstWithStatus returns the newest transcript of a service in status, and
// (if enc is not nil) with or without encryption.
func firstWithStatus(t *testing.T, s *Server, svcName, status string, enc *bool) TranscriptInfo {
	t.Helper()
	for _, x := range s.Transcripts(s.ServiceSID(svcName)) {
		if x.Status == status && (enc == nil || *enc == (x.EncryptionCredentialSID != "")) {
			return x
		}
	}
	t.Fatalf("no %s transcript in %s", status, svcName)
	return TranscriptInfo{}
}

func TestEndpoints(t *testing.T) {
	s := newTestServer(t, Options{})
	k := testKeys(t)
	encSvc := s.ServiceSID("call-centre-encrypted")
	plainSvc := s.ServiceSID("call-centre-plain")
	yes, no := true, false
	enc := firstWithStatus(t, s, "call-centre-encrypted", StatusCompleted, nil)
	plain := firstWithStatus(t, s, "call-centre-plain", StatusCompleted, nil)
	mixedPlain := firstWithStatus(t, s, "call-centre-mixed", StatusCompleted, &no)
	mixedEnc := firstWithStatus(t, s, "call-centre-mixed", StatusCompleted, &yes)
	inProgress := firstWithStatus(t, s, "call-centre-encrypted", StatusInProgress, nil)
	pem, err := crypto.MarshalPublicKeyPEM(&k[0].PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	ly := operatorSIDs(0)[0]
	tests := []struct {
		name, method, path string
		form               url.Values
		hdr                []string
		status             int
		check              func(t *testing.T, r response)
	}{
		{"list services", "GET", "/v2/Services", nil, nil, 200, func(t *testing.T, r response) {
			m := r.json(t)
			if n := len(m["services"].([]any)); n != 3 {
				t.Errorf("%d services", n)
			}
			meta := m["meta"].(map[string]any)
			if meta["key"] != "services" || meta["url"] != s.URL+"/v2/Services?PageSize=50&Page=0" || meta["next_page_url"] != nil {
				t.Errorf("meta %v", meta)
			}
		}},
		{"fetch service", "GET", "/v2/Services/" + encSvc, nil, nil, 200, func(t *testing.T, r response) {
			if r.header.Get("ETag") == "" || r.json(t)["encryption_credential_sid"] != s.CredentialSIDs()[0] {
				t.Errorf("etag %q body %s", r.header.Get("ETag"), r.body)
			}
		}},
		{"fetch service by unique name", "GET", "/v2/Services/call-centre-plain", nil, nil, 200, func(t *testing.T, r response) {
			if m := r.json(t); m["sid"] != plainSvc || m["encryption_credential_sid"] != nil || m["unique_name"] != "call-centre-plain" {
				t.Errorf("body %s", r.body)
			}
		}},
		{"fetch service unknown", "GET", "/v2/Services/GA00000000000000000000000000000000", nil, nil, 404, nil},
		{"update service bad CR", "POST", "/v2/Services/" + plainSvc, url.Values{"EncryptionCredentialSid": {"CR123"}}, nil, 400, nil},
		{"update service unknown CR", "POST", "/v2/Services/" + plainSvc, url.Values{"EncryptionCredentialSid": {"CR" + strings.Repeat("0", 32)}}, nil, 400, nil},
		{"update service bad bool", "POST", "/v2/Services/" + plainSvc, url.Values{"DataLogging": {"maybe"}}, nil, 400, nil},
		{"update service media redaction needs auto", "POST", "/v2/Services/" + plainSvc, url.Values{"MediaRedaction": {"true"}}, nil, 400, nil},
		{"update service If-Match mismatch", "POST", "/v2/Services/" + plainSvc, url.Values{"FriendlyName": {"x"}}, []string{"If-Match", `"nope"`}, 412, func(t *testing.T, r response) {
			if m := r.json(t); m["code"] != float64(20412) || m["status"] != float64(412) {
				t.Errorf("body %s", r.body)
			}
		}},
		{"update service", "POST", "/v2/Services/" + plainSvc, url.Values{"FriendlyName": {"renamed"}}, nil, 200, func(t *testing.T, r response) {
			if m := r.json(t); m["friendly_name"] != "renamed" || m["version"] != float64(2) || r.header.Get("ETag") == "" {
				t.Errorf("body %s", r.body)
			}
		}},
		{"create service missing unique name", "POST", "/v2/Services", url.Values{"FriendlyName": {"x"}}, nil, 400, nil},
		{"create service", "POST", "/v2/Services", url.Values{"UniqueName": {"new-one"}}, nil, 201, func(t *testing.T, r response) {
			if m := r.json(t); m["unique_name"] != "new-one" || !strings.HasPrefix(m["sid"].(string), "GA") {
				t.Errorf("body %s", r.body)
			}
		}},
		{"list transcripts", "GET", "/v2/Transcripts?ServiceSid=" + encSvc + "&PageSize=5", nil, nil, 200, func(t *testing.T, r response) {
			m := r.json(t)
			if n := len(m["transcripts"].([]any)); n != 5 {
				t.Errorf("%d transcripts", n)
			}
			meta := m["meta"].(map[string]any)
			if !strings.HasPrefix(meta["next_page_url"].(string), s.URL+"/v2/Transcripts?ServiceSid="+encSvc+"&PageSize=5&Page=1&PageToken=") {
				t.Errorf("next %v", meta["next_page_url"])
			}
		}},
		{"list transcripts PageSize 0", "GET", "/v2/Transcripts?PageSize=0", nil, nil, 400, func(t *testing.T, r response) {
			if m := r.json(t); m["status"] != float64(400) || m["more_info"] == "" {
				t.Errorf("body %s", r.body)
			}
		}},
		{"list transcripts PageSize 1001", "GET", "/v2/Transcripts?PageSize=1001", nil, nil, 400, nil},
		{"list transcripts PageSize 1000", "GET", "/v2/Transcripts?PageSize=1000", nil, nil, 200, nil},
		{"list transcripts bad page", "GET", "/v2/Transcripts?Page=-1", nil, nil, 400, nil},
		{"list transcripts bad token", "GET", "/v2/Transcripts?PageToken=garbage", nil, nil, 400, nil},
		{"list transcripts bad date", "GET", "/v2/Transcripts?AfterDateCreated=yesterday", nil, nil, 400, nil},
		{"list transcripts bad service", "GET", "/v2/Transcripts?ServiceSid=XX", nil, nil, 400, nil},
		{"fetch transcript", "GET", "/v2/Transcripts/" + enc.SID, nil, nil, 200, func(t *testing.T, r response) {
			m := r.json(t)
			if m["sid"] != enc.SID || m["encryption_credential_sid"] != enc.EncryptionCredentialSID || len(m["links"].(map[string]any)) != 5 {
				t.Errorf("body %s", r.body)
			}
		}},
		{"fetch transcript unknown", "GET", "/v2/Transcripts/GT" + strings.Repeat("a", 32), nil, nil, 404, func(t *testing.T, r response) {
			if m := r.json(t); m["code"] != float64(20404) {
				t.Errorf("body %s", r.body)
			}
		}},
		{"fetch transcript malformed", "GET", "/v2/Transcripts/nope", nil, nil, 404, nil},
		{"list sentences", "GET", "/v2/Transcripts/" + plain.SID + "/Sentences?PageSize=5000", nil, nil, 200, func(t *testing.T, r response) {
			m := r.json(t)
			if len(m["sentences"].([]any)) != len(s.SentenceResources(plain.SID, false, false)) {
				t.Errorf("sentence count")
			}
		}},
		{"list sentences PageSize 5001", "GET", "/v2/Transcripts/" + plain.SID + "/Sentences?PageSize=5001", nil, nil, 400, nil},
		{"list sentences of encrypted is empty", "GET", "/v2/Transcripts/" + enc.SID + "/Sentences", nil, nil, 200, func(t *testing.T, r response) {
			if n := len(r.json(t)["sentences"].([]any)); n != 0 {
				t.Errorf("%d sentences", n)
			}
		}},
		{"list sentences of in-progress is empty", "GET", "/v2/Transcripts/" + inProgress.SID + "/Sentences", nil, nil, 200, func(t *testing.T, r response) {
			if n := len(r.json(t)["sentences"].([]any)); n != 0 {
				t.Errorf("%d sentences", n)
			}
		}},
		{"list sentences bad Redacted", "GET", "/v2/Transcripts/" + plain.SID + "/Sentences?Redacted=yes", nil, nil, 400, nil},
		{"list operator results", "GET", "/v2/Transcripts/" + mixedPlain.SID + "/OperatorResults?Redacted=false", nil, nil, 200, func(t *testing.T, r response) {
			m := r.json(t)
			n := len(m["operator_results"].([]any))
			if n < 1 || n > 3 || n != len(s.OperatorResultResources(mixedPlain.SID, false)) {
				t.Errorf("%d results", n)
			}
			if meta := m["meta"].(map[string]any); meta["url"] != s.URL+"/v2/Transcripts/"+mixedPlain.SID+"/OperatorResults?Redacted=false&PageSize=50&Page=0" {
				t.Errorf("meta url %v", meta["url"])
			}
		}},
		{"fetch operator result", "GET", "/v2/Transcripts/" + plain.SID + "/OperatorResults/" + ly, nil, nil, 200, func(t *testing.T, r response) {
			if string(r.body) != string(s.OperatorResultResources(plain.SID, false)[0]) {
				t.Errorf("body %s", r.body)
			}
		}},
		{"fetch operator result unknown", "GET", "/v2/Transcripts/" + plain.SID + "/OperatorResults/LY" + strings.Repeat("0", 32), nil, nil, 404, nil},
		{"encrypted sentences", "GET", "/v2/Transcripts/" + mixedEnc.SID + "/Sentences/Encrypted", nil, nil, 200, func(t *testing.T, r response) {
			m := r.json(t)
			if !strings.HasPrefix(m["location"].(string), s.URL+"/objects/"+mixedEnc.SID+"/sentences/r?X-Amz-") || m["transcript_sid"] != mixedEnc.SID || m["url"] != s.URL+"/v2/Transcripts/"+mixedEnc.SID+"/Sentences/Encrypted" {
				t.Errorf("body %s", r.body)
			}
		}},
		{"encrypted sentences unredacted", "GET", "/v2/Transcripts/" + enc.SID + "/Sentences/Encrypted?Redacted=false", nil, nil, 200, func(t *testing.T, r response) {
			if !strings.Contains(r.json(t)["location"].(string), "/sentences/u?") {
				t.Errorf("body %s", r.body)
			}
		}},
		{"encrypted sentences of plain transcript", "GET", "/v2/Transcripts/" + plain.SID + "/Sentences/Encrypted", nil, nil, 200, func(t *testing.T, r response) {
			if m := r.json(t); m["location"] != nil {
				t.Errorf("body %s", r.body)
			}
		}},
		{"encrypted operator results", "GET", "/v2/Transcripts/" + enc.SID + "/OperatorResults/Encrypted", nil, nil, 200, func(t *testing.T, r response) {
			locs := r.json(t)["locations"].([]any)
			if len(locs) != len(s.OperatorResultPlaintexts(enc.SID, true)) {
				t.Errorf("%d locations", len(locs))
			}
		}},
		{"encrypted operator results of in-progress", "GET", "/v2/Transcripts/" + inProgress.SID + "/OperatorResults/Encrypted", nil, nil, 200, func(t *testing.T, r response) {
			if m := r.json(t); m["locations"] != nil {
				t.Errorf("body %s", r.body)
			}
		}},
		{"media", "GET", "/v2/Transcripts/" + enc.SID + "/Media", nil, nil, 200, func(t *testing.T, r response) {
			m := r.json(t)
			o, err := getObject(t, m["media_url"].(string))
			if err != nil || o.status != 200 || !strings.HasPrefix(string(o.body), "RIFF") {
				t.Errorf("media %v %d", err, o.status)
			}
		}},
		{"create public key", "POST", "/v1/Credentials/PublicKeys", url.Values{"PublicKey": {string(pem)}, "FriendlyName": {"laptop"}}, nil, 201, func(t *testing.T, r response) {
			m := r.json(t)
			if !reCR.MatchString(m["sid"].(string)) || m["friendly_name"] != "laptop" || s.PublicKey(m["sid"].(string)) == nil {
				t.Errorf("body %s", r.body)
			}
		}},
		{"create public key missing", "POST", "/v1/Credentials/PublicKeys", url.Values{"FriendlyName": {"x"}}, nil, 400, nil},
		{"create public key not PEM", "POST", "/v1/Credentials/PublicKeys", url.Values{"PublicKey": {"hello"}}, nil, 400, nil},
		{"create public key long name", "POST", "/v1/Credentials/PublicKeys", url.Values{"PublicKey": {string(pem)}, "FriendlyName": {strings.Repeat("x", 65)}}, nil, 400, nil},
		{"list public keys", "GET", "/v1/Credentials/PublicKeys?PageSize=1", nil, nil, 200, func(t *testing.T, r response) {
			m := r.json(t)
			meta := m["meta"].(map[string]any)
			if len(m["credentials"].([]any)) != 1 || meta["key"] != "credentials" || meta["next_page_url"] == nil {
				t.Errorf("body %s", r.body)
			}
		}},
		{"fetch public key", "GET", "/v1/Credentials/PublicKeys/" + s.CredentialSIDs()[1], nil, nil, 200, func(t *testing.T, r response) {
			if m := r.json(t); m["friendly_name"] != "second" || m["url"] != s.URL+"/v1/Credentials/PublicKeys/"+s.CredentialSIDs()[1] {
				t.Errorf("body %s", r.body)
			}
		}},
		{"fetch public key unknown", "GET", "/v1/Credentials/PublicKeys/CR" + strings.Repeat("0", 32), nil, nil, 404, nil},
		{"unknown path", "GET", "/v2/Nope", nil, nil, 404, nil},
		{"wrong method", "PUT", "/v2/Transcripts", nil, nil, 405, nil},
		{"no auth", "GET", "/v2/Services", nil, []string{"Authorization", ""}, 401, func(t *testing.T, r response) {
			if m := r.json(t); m["code"] != float64(20003) || m["message"] != "Authenticate" || m["more_info"] != "https://www.twilio.com/docs/errors/20003" {
				t.Errorf("body %s", r.body)
			}
		}},
		{"bad auth", "GET", "/v2/Services", nil, []string{"Authorization", "Basic QUM6eA=="}, 401, nil},
		{"delete transcript", "DELETE", "/v2/Transcripts/" + plain.SID, nil, nil, 204, nil},
		{"deleted transcript is gone", "GET", "/v2/Transcripts/" + plain.SID, nil, nil, 404, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, s, tc.method, tc.path, tc.form, tc.hdr...)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			if r.status >= 400 {
				if m := r.json(t); m["status"] != float64(tc.status) {
					t.Errorf("error body %s", r.body)
				}
			}
			if tc.check != nil {
				tc.check(t, r)
			}
		})
	}
}

func TestAPIKeyAuth(t *testing.T) {
	s := newTestServer(t, Options{})
	for _, c := range []struct {
		user, pass string
		want       int
	}{
		{s.AccountSID, s.AuthToken, 200},
		{s.APIKeySID, s.APIKeySecret, 200},
		{s.APIKeySID, s.AuthToken, 401},
		{s.AccountSID, s.APIKeySecret, 401},
	} {
		r := do(t, s, "GET", "/v2/Services", nil, "Authorization", basic(c.user, c.pass))
		if r.status != c.want {
			t.Errorf("%s: status %d, want %d", c.user[:2], r.status, c.want)
		}
	}
}
