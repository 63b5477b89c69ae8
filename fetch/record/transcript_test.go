package record

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"
)

// Seeds shaped like the API's responses (the simulator's); more are in
// testdata/fuzz.
var (
	seedService    = `{"account_sid":"AC00000000000000000000000000000001","auto_redaction":true,"media_redaction":false,"auto_transcribe":false,"data_logging":false,"date_created":"2024-07-01T12:00:00Z","date_updated":"2024-07-01T12:00:00Z","friendly_name":"Call centre","language_code":"en-US","sid":"GA0123456789abcdef0123456789abcdef","unique_name":"call-centre","url":"https://intelligence.twilio.com/v2/Services/GA0123456789abcdef0123456789abcdef","webhook_url":"","webhook_http_method":"POST","read_only_attached_operator_sids":[],"version":1,"encryption_credential_sid":"CR0123456789abcdef0123456789abcdef"}`
	seedTranscript = `{"account_sid":"AC00000000000000000000000000000001","service_sid":"GA0123456789abcdef0123456789abcdef","sid":"GT0123456789abcdef0123456789abcdef","date_created":"2024-07-02T09:30:00Z","date_updated":"2024-07-02T09:31:10Z","status":"completed","channel":{"media_properties":{"source_sid":"RE0123456789abcdef0123456789abcdef"},"participants":[{"channel_participant":1,"role":"Customer"}]},"data_logging":false,"language_code":"en-US","customer_key":null,"media_start_time":"2024-07-02T09:29:00Z","duration":70,"url":"https://intelligence.twilio.com/v2/Transcripts/GT0123456789abcdef0123456789abcdef","redaction":true,"encryption_credential_sid":"CR0123456789abcdef0123456789abcdef","links":{"sentences":"x","media":"y","operator_results":"z","encrypted_sentences":"a","encrypted_operator_results":"b"}}`
)

func gt(i int) string { return fmt.Sprintf("GT%032x", i) }

func transcriptJSON(sid, base string) string {
	return fmt.Sprintf(`{"account_sid":"AC00000000000000000000000000000001","service_sid":"GA00000000000000000000000000000001","sid":"%s",
	"date_created":"2026-01-02T03:04:05Z","date_updated":"2026-01-02T03:05:05Z","status":"completed",
	"channel":{"media_properties":{"media_url":"https://x/y"}},"data_logging":false,"language_code":"en-US",
	"customer_key":null,"media_start_time":null,"duration":42,"url":"%s/v2/Transcripts/%s","redaction":true,
	"encryption_credential_sid":null,"links":{}}`, sid, base, sid)
}

// FuzzDecodeService: any service JSON either fails to parse or gives a
// Service whose JSON (served as service.json) is the input, valid JSON.
func FuzzDecodeService(f *testing.F) {
	f.Add([]byte(seedService))
	f.Add([]byte(`{"sid":null,"version":"1"}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		s, err := ParseService(raw)
		if err != nil {
			return
		}
		if !json.Valid(s.JSON()) || !bytes.Equal(s.JSON(), raw) {
			t.Fatalf("service.json %q from %q", s.JSON(), raw)
		}
	})
}

// FuzzDecodeTranscript: any transcript JSON either fails to parse or
// compacts into a Transcript whose rendering (served as transcript.json) is
// valid JSON and parses back into the same Transcript.
func FuzzDecodeTranscript(f *testing.F) {
	f.Add([]byte(seedTranscript))
	f.Add([]byte(`{"sid":"GT1","channel":null,"duration":null,"date_created":"not a date"}`))
	f.Add([]byte(`{"channel":"x\u2028\ud800","customer_key":"<\/script>&"}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		var w transcriptWire
		if json.Unmarshal(raw, &w) != nil {
			return
		}
		tr := w.compact(Interner{})
		out := tr.JSON()
		if !json.Valid(out) {
			t.Fatalf("transcript.json is not JSON: %q (from %q)", out, raw)
		}
		var w2 transcriptWire
		if err := json.Unmarshal(out, &w2); err != nil {
			t.Fatalf("transcript.json does not parse back: %v", err)
		}
		if again := w2.compact(Interner{}).JSON(); !bytes.Equal(again, out) {
			t.Fatalf("rendering is not stable:\n%s\n%s", out, again)
		}
	})
}

func TestTranscriptJSON(t *testing.T) {
	var w transcriptWire
	raw := transcriptJSON(gt(7), "https://intelligence.twilio.com")
	if err := json.Unmarshal([]byte(raw), &w); err != nil {
		t.Fatal(err)
	}
	tr := w.compact(Interner{})
	var got map[string]any
	if err := json.Unmarshal(tr.JSON(), &got); err != nil {
		t.Fatalf("JSON() not valid: %v\n%s", err, tr.JSON())
	}
	for _, k := range []string{"account_sid", "service_sid", "sid", "date_created", "date_updated", "status",
		"channel", "data_logging", "language_code", "customer_key", "media_start_time", "duration", "url",
		"redaction", "encryption_credential_sid", "links"} {
		if _, ok := got[k]; !ok {
			t.Errorf("key %s missing", k)
		}
	}
	if got["customer_key"] != nil || got["media_start_time"] != nil || got["encryption_credential_sid"] != nil {
		t.Errorf("nulls not kept: %s", tr.JSON())
	}
	if got["date_created"] != "2026-01-02T03:04:05Z" || got["duration"].(float64) != 42 || got["redaction"] != true || got["data_logging"] != false {
		t.Errorf("values: %s", tr.JSON())
	}
	links := got["links"].(map[string]any)
	if len(links) != 5 || links["encrypted_sentences"] != "https://intelligence.twilio.com/v2/Transcripts/"+gt(7)+"/Sentences/Encrypted" {
		t.Errorf("links: %v", links)
	}
	if string(tr.Channel()) != `{"media_properties":{"media_url":"https://x/y"}}` {
		t.Errorf("channel %s", tr.Channel())
	}
}

// TestTranscriptKeepsAPIBytes: transcript.json is the API's resource byte
// for byte, fields Twilio may add included, and a null duration stays null
// (it was rendered as 0). The url and links that JSON can derive are kept
// out of the stored bytes and put back exactly.
func TestTranscriptKeepsAPIBytes(t *testing.T) {
	sid := "GT0123456789abcdef0123456789abcdef"
	u := "https://intelligence.twilio.com/v2/Transcripts/" + sid
	links := `"links":{"sentences":"` + u + `/Sentences","encrypted_sentences":"` + u + `/Sentences/Encrypted","media":"` + u +
		`/Media","operator_results":"` + u + `/OperatorResults","encrypted_operator_results":"` + u + `/OperatorResults/Encrypted"}`
	for _, tc := range []struct {
		name string
		raw  string
		cut  bool // url and links are stored derived
	}{
		{"as Twilio sends it, with a new field", `{"account_sid":"AC00000000000000000000000000000001","service_sid":"GA00000000000000000000000000000001","sid":"` + sid + `","status":"completed","channel":{"type":"voice"},"duration":null,"url":"` + u + `","redaction":true,"encryption_credential_sid":null,"new_field":{"x":[1,2]},` + links + `}`, true},
		{"links before url", `{"sid":"` + sid + `",` + links + `,"url":"` + u + `","duration":null}`, true},
		{"links that differ", `{"sid":"` + sid + `","url":"` + u + `","links":{"media":"elsewhere"},"duration":7}`, true},
		{"pretty-printed", "{\n  \"sid\": \"" + sid + "\",\n  \"url\": \"" + u + "\"\n}", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr, err := DecodeTranscript([]byte(tc.raw), Interner{})
			if err != nil {
				t.Fatal(err)
			}
			if got := tr.JSON(); string(got) != tc.raw {
				t.Fatalf("JSON:\n got %s\nwant %s", got, tc.raw)
			}
			if tc.cut && len(tr.raw) >= len(tc.raw)-len(u) {
				t.Errorf("stored %d of %d bytes: the derivable url was not cut", len(tr.raw), len(tc.raw))
			}
		})
	}
	// Rendered without raw bytes (a Transcript built from fields): a
	// duration the API sent as null is null, not 0.
	var w transcriptWire
	if err := json.Unmarshal([]byte(`{"sid":"`+sid+`","duration":null}`), &w); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(w.compact(Interner{}).JSON(), &got); err != nil {
		t.Fatal(err)
	}
	if v, ok := got["duration"]; !ok || v != nil {
		t.Errorf("duration rendered as %v, want null", v)
	}
}
