package twiliosim

import (
	"testing"

	"github.com/intelligencefs/intelligencefs/crypto"
)

func TestSmokeEncryptedRoundTrip(t *testing.T) {
	s := newTestServer(t, Options{})
	k := testKeys(t)
	kr := crypto.NewKeyring()
	kr.Add(k[0], s.CredentialSIDs()[0])
	kr.Add(k[1], s.CredentialSIDs()[1])
	enc := s.ServiceSID("call-centre-encrypted")
	var tr TranscriptInfo
	for _, x := range s.Transcripts(enc) {
		if x.Status == StatusCompleted {
			tr = x
			break
		}
	}
	r := do(t, s, "GET", "/v2/Transcripts/"+tr.SID+"/Sentences/Encrypted", nil)
	if r.status != 200 {
		t.Fatalf("status %d %s", r.status, r.body)
	}
	loc := r.json(t)["location"].(string)
	o, err := getObject(t, loc)
	if err != nil || o.status != 200 {
		t.Fatalf("object: %v %d %s", err, o.status, o.body)
	}
	env, err := crypto.ParseEnvelope(o.header.Get(crypto.HeaderWrappedKey), o.header.Get(crypto.HeaderIV), o.body)
	if err != nil {
		t.Fatal(err)
	}
	pt, err := kr.Open(tr.EncryptionCredentialSID, env, nil)
	if err != nil {
		t.Fatal(err)
	}
	if string(pt) != string(s.SentencesPlaintext(tr.SID, true)) {
		t.Fatalf("plaintext differs")
	}
	t.Logf("%s", pt[:300])
}
