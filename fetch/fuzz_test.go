package fetch

import (
	"bytes"
	"context"
	"encoding/json"
	"github.com/intelligencefs/intelligencefs/fetch/record"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Seeds shaped like the API's responses (INTELLIGENCE_API.md and the
// simulator); more are in testdata/fuzz.
var (
	seedService    = `{"account_sid":"AC00000000000000000000000000000001","auto_redaction":true,"media_redaction":false,"auto_transcribe":false,"data_logging":false,"date_created":"2024-07-01T12:00:00Z","date_updated":"2024-07-01T12:00:00Z","friendly_name":"Call centre","language_code":"en-US","sid":"GA0123456789abcdef0123456789abcdef","unique_name":"call-centre","url":"https://intelligence.twilio.com/v2/Services/GA0123456789abcdef0123456789abcdef","webhook_url":"","webhook_http_method":"POST","read_only_attached_operator_sids":[],"version":1,"encryption_credential_sid":"CR0123456789abcdef0123456789abcdef"}`
	seedTranscript = `{"account_sid":"AC00000000000000000000000000000001","service_sid":"GA0123456789abcdef0123456789abcdef","sid":"GT0123456789abcdef0123456789abcdef","date_created":"2024-07-02T09:30:00Z","date_updated":"2024-07-02T09:31:10Z","status":"completed","channel":{"media_properties":{"source_sid":"RE0123456789abcdef0123456789abcdef"},"participants":[{"channel_participant":1,"role":"Customer"}]},"data_logging":false,"language_code":"en-US","customer_key":null,"media_start_time":"2024-07-02T09:29:00Z","duration":70,"url":"https://intelligence.twilio.com/v2/Transcripts/GT0123456789abcdef0123456789abcdef","redaction":true,"encryption_credential_sid":"CR0123456789abcdef0123456789abcdef","links":{"sentences":"x","media":"y","operator_results":"z","encrypted_sentences":"a","encrypted_operator_results":"b"}}`
	seedMeta       = `"meta":{"page":0,"page_size":50,"first_page_url":"https://intelligence.twilio.com/v2/Services?PageSize=50&Page=0","previous_page_url":null,"url":"https://intelligence.twilio.com/v2/Services?PageSize=50&Page=0","next_page_url":null,"key":"%s"}`
)

func page(key, items string) string {
	return `{"` + key + `":[` + items + `],` + strings.Replace(seedMeta, "%s", key, 1) + `}`
}

// FuzzDecodePage serves the fuzzed body as the answer to the first request
// of each client call (list pages, sentences and operator results pages,
// encrypted locations and, for locations that point back, the object) and
// checks that the client never panics or hangs and that its errors never
// carry the auth token.
func FuzzDecodePage(f *testing.F) {
	f.Add(uint8(0), []byte(page("services", seedService)))
	f.Add(uint8(1), []byte(page("transcripts", seedTranscript)))
	f.Add(uint8(2), []byte(page("sentences", `{"media_channel":1,"sentence_index":0,"start_time":"0.5","end_time":"1.0","transcript":"hi","sid":"GX0123456789abcdef0123456789abcdef","confidence":"0.9","words":[]}`)))
	f.Add(uint8(3), []byte(page("operator_results", `{"operator_type":"text-generation","name":"Summary","text_generation_results":{"result":"x"}}`)))
	f.Add(uint8(4), []byte(`{"location":"LOOPBACK/objects/GT0123456789abcdef0123456789abcdef/sentences?X-Amz-Signature=abc"}`))
	f.Add(uint8(5), []byte(`{"locations":["LOOPBACK/objects/a?X-Amz-Signature=1","https://example.com/b"]}`))
	f.Add(uint8(0), []byte(`{"services":[{}],"meta":{"next_page_url":"https://evil.example/v2/Services?Page=1"}}`))
	f.Add(uint8(1), []byte(`{"transcripts":[{"sid":5}],"meta":{"next_page_url":"LOOPBACK/v2/Transcripts?Page=1"}}`))

	var body atomic.Pointer[[]byte]
	var first atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := *body.Load()
		if !first.CompareAndSwap(true, false) {
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"code":20404,"message":"not found","status":404}`))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(b)
	}))
	f.Cleanup(srv.Close)
	c, _ := newTestClient(f, srv.URL, func(c *Config) { c.MaxAttempts = 1; c.Timeout = 2 * time.Second })
	const gtSID = "GT0123456789abcdef0123456789abcdef"

	f.Fuzz(func(t *testing.T, which uint8, raw []byte) {
		b := bytes.ReplaceAll(raw, []byte("LOOPBACK"), []byte(srv.URL))
		body.Store(&b)
		first.Store(true)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var err error
		switch which % 6 {
		case 0:
			_, err = c.ListServices(ctx)
		case 1:
			err = c.ListTranscripts(ctx, record.TranscriptQuery{ServiceSID: "GA0123456789abcdef0123456789abcdef"}, func(ts []record.Transcript) error {
				for _, tr := range ts {
					if !json.Valid(tr.JSON()) {
						t.Fatalf("transcript.json is not JSON: %q", tr.JSON())
					}
				}
				return nil
			})
		case 2:
			var doc []byte
			if doc, err = c.PlainSentences(ctx, gtSID); err == nil && !json.Valid(doc) {
				t.Fatalf("sentences document is not JSON: %q", doc)
			}
		case 3:
			var docs [][]byte
			docs, err = c.PlainOperatorResults(ctx, gtSID)
			for _, d := range docs {
				if !json.Valid(d) {
					t.Fatalf("operator result is not JSON: %q", d)
				}
			}
		case 4:
			_, err = c.EncryptedSentences(ctx, gtSID)
		case 5:
			var locs []string
			if locs, err = c.operatorResultLocations(ctx, gtSID); err == nil && len(locs) > 0 {
				first.Store(true)
				_, err = c.encryptedOperatorResult(ctx, gtSID, locs[0])
			}
		}
		if ctx.Err() != nil {
			t.Fatalf("call %d did not finish in time", which%6)
		}
		if err != nil && strings.Contains(err.Error(), testToken) {
			t.Fatalf("error carries the auth token: %v", err)
		}
	})
}
