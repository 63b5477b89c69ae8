package twiliosim

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/twilio/twilio-go"
	"github.com/twilio/twilio-go/client"
	accounts "github.com/twilio/twilio-go/rest/accounts/v1"
	intelligence "github.com/twilio/twilio-go/rest/intelligence/v2"
)

// rewriteTransport sends every request to the simulator, whatever host
// twilio-go chose.
type rewriteTransport struct{ base *url.URL }

func (rt rewriteTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.URL.Scheme, r.URL.Host, r.Host = rt.base.Scheme, rt.base.Host, ""
	return http.DefaultTransport.RoundTrip(r)
}

// sdk returns a twilio-go client talking to s.
func sdk(t *testing.T, s *Server) *twilio.RestClient {
	t.Setenv("TWILIO_EDGE", "")
	t.Setenv("TWILIO_REGION", "")
	base, _ := url.Parse(s.URL)
	c := &client.Client{
		Credentials: client.NewCredentials(s.APIKeySID, s.APIKeySecret),
		HTTPClient:  &http.Client{Transport: rewriteTransport{base}},
	}
	c.SetAccountSid(s.AccountSID)
	return twilio.NewRestClientWithParams(twilio.ClientParams{Client: c})
}

func TestTwilioGoPagesThroughLists(t *testing.T) {
	s := newTestServer(t, Options{Corpus: CorpusOptions{TranscriptsPerService: 23}})
	tw := sdk(t, s)
	svc := s.ServiceSID("call-centre-mixed")

	trs, err := tw.IntelligenceV2.ListTranscript((&intelligence.ListTranscriptParams{}).SetServiceSid(svc).SetPageSize(5))
	if err != nil {
		t.Fatal(err)
	}
	want := s.Transcripts(svc)
	if len(trs) != len(want) {
		t.Fatalf("twilio-go listed %d transcripts, want %d", len(trs), len(want))
	}
	for i := range trs {
		if *trs[i].Sid != want[i].SID {
			t.Fatalf("transcript %d: %s, want %s", i, *trs[i].Sid, want[i].SID)
		}
	}
	if got := s.Count(EndpointListTranscripts); got != 5 {
		t.Errorf("%d list requests for 23 transcripts at 5 per page", got)
	}

	all, err := tw.IntelligenceV2.ListTranscript(&intelligence.ListTranscriptParams{})
	if err != nil || len(all) != 69 {
		t.Fatalf("all transcripts: %d, %v", len(all), err)
	}

	services, err := tw.IntelligenceV2.ListService((&intelligence.ListServiceParams{}).SetPageSize(1))
	if err != nil || len(services) != 3 {
		t.Fatalf("services: %d, %v", len(services), err)
	}

	plain := firstWithStatus(t, s, "call-centre-plain", StatusCompleted, nil)
	sents, err := tw.IntelligenceV2.ListSentence(plain.SID, (&intelligence.ListSentenceParams{}).SetPageSize(2).SetRedacted(false).SetWordTimestamps(true))
	if err != nil || len(sents) != len(s.SentenceResources(plain.SID, false, true)) {
		t.Fatalf("sentences: %d, %v", len(sents), err)
	}
	if sents[0].StartTime == nil || *sents[0].Transcript == "" {
		t.Fatalf("sentence %+v", sents[0])
	}

	ors, err := tw.IntelligenceV2.ListOperatorResult(plain.SID, (&intelligence.ListOperatorResultParams{}).SetPageSize(1))
	if err != nil || len(ors) != len(s.OperatorResultResources(plain.SID, false)) {
		t.Fatalf("operator results: %d, %v", len(ors), err)
	}
	or, err := tw.IntelligenceV2.FetchOperatorResult(plain.SID, *ors[0].OperatorSid, &intelligence.FetchOperatorResultParams{})
	if err != nil || *or.Name != *ors[0].Name {
		t.Fatalf("fetch operator result: %v", err)
	}

	enc := firstWithStatus(t, s, "call-centre-encrypted", StatusCompleted, nil)
	es, err := tw.IntelligenceV2.FetchEncryptedSentences(enc.SID, &intelligence.FetchEncryptedSentencesParams{})
	if err != nil || es.Location == nil {
		t.Fatalf("encrypted sentences: %+v, %v", es, err)
	}
	eo, err := tw.IntelligenceV2.FetchEncryptedOperatorResults(enc.SID, &intelligence.FetchEncryptedOperatorResultsParams{})
	if err != nil || eo.Locations == nil || len(*eo.Locations) == 0 {
		t.Fatalf("encrypted operator results: %+v, %v", eo, err)
	}
	if _, err := tw.IntelligenceV2.FetchMedia(enc.SID, &intelligence.FetchMediaParams{}); err != nil {
		t.Fatal(err)
	}
	tr, err := tw.IntelligenceV2.FetchTranscript(enc.SID)
	if err != nil || *tr.EncryptionCredentialSid != enc.EncryptionCredentialSID {
		t.Fatalf("transcript: %v", err)
	}

	keys, err := tw.AccountsV1.ListCredentialPublicKey((&accounts.ListCredentialPublicKeyParams{}).SetPageSize(1))
	if err != nil || len(keys) != 2 {
		t.Fatalf("public keys: %d, %v", len(keys), err)
	}
	upd, err := tw.IntelligenceV2.UpdateService(svc, (&intelligence.UpdateServiceParams{}).SetEncryptionCredentialSid(*keys[1].Sid))
	if err != nil || *upd.EncryptionCredentialSid != *keys[1].Sid {
		t.Fatalf("update service: %v", err)
	}

	// Errors arrive as TwilioRestError.
	_, err = tw.IntelligenceV2.FetchTranscript("GT00000000000000000000000000000000")
	if re, ok := err.(*client.TwilioRestError); !ok || re.Code != 20404 || re.Status != 404 {
		t.Fatalf("404: %#v", err)
	}
}
