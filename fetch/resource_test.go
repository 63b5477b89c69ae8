package fetch

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/intelligencefs/intelligencefs/fetch/twiliosim"
)

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
		{"as Twilio sends it, with a new field", `{"account_sid":"AC1","service_sid":"GA1","sid":"` + sid + `","status":"completed","channel":{"type":"voice"},"duration":null,"url":"` + u + `","redaction":true,"encryption_credential_sid":null,"new_field":{"x":[1,2]},` + links + `}`, true},
		{"links before url", `{"sid":"` + sid + `",` + links + `,"url":"` + u + `","duration":null}`, true},
		{"links that differ", `{"sid":"` + sid + `","url":"` + u + `","links":{"media":"elsewhere"},"duration":7}`, true},
		{"pretty-printed", "{\n  \"sid\": \"" + sid + "\",\n  \"url\": \"" + u + "\"\n}", false},
		{"no sid", `{"duration":null,"url":"x"}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr, err := decodeTranscript([]byte(tc.raw), interner{})
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
	if err := json.Unmarshal(w.compact(interner{}).JSON(), &got); err != nil {
		t.Fatal(err)
	}
	if v, ok := got["duration"]; !ok || v != nil {
		t.Errorf("duration rendered as %v, want null", v)
	}
}

// TestResourceCaps: a listed transcript padded with a field far larger
// than any real resource is skipped with one warning while the others are
// listed (it was kept: 400 MiB in the listing); looking it up is an error;
// a transcript listing 1,500 operator-result locations is refused.
func TestResourceCaps(t *testing.T) {
	s, _ := newSim(t, twiliosim.Options{Corpus: twiliosim.CorpusOptions{TranscriptsPerService: 8}})
	svc := s.ServiceSID("call-centre-encrypted")
	all := s.Transcripts(svc)
	fat := all[2]
	logs := &syncBuffer{}
	c, _ := simClient(t, s, func(cfg *Config) {
		cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	})
	s.SetFaults(twiliosim.Faults{OversizedTranscript: twiliosim.Rule{Fraction: 1, TranscriptSID: fat.SID}, OversizeBytes: 1 << 20})
	var listed []string
	err := c.ListTranscripts(context.Background(), TranscriptQuery{ServiceSID: svc, PageSize: 3}, func(p []Transcript) error {
		for _, tr := range p {
			listed = append(listed, tr.SID)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(listed) != len(all)-1 || strings.Contains(strings.Join(listed, ","), fat.SID) {
		t.Errorf("listed %d of %d, the padded one included: %v", len(listed), len(all), strings.Contains(strings.Join(listed, ","), fat.SID))
	}
	if n := strings.Count(logs.String(), "level=WARN"); n != 1 || !strings.Contains(logs.String(), "larger than any real one") {
		t.Errorf("want one warning, got:\n%s", logs.String())
	}
	if _, err := c.FetchTranscript(context.Background(), fat.SID); err == nil || !strings.Contains(err.Error(), "more than the 65536") {
		t.Errorf("fetch of the padded transcript: %v", err)
	}
	s.SetFaults(twiliosim.Faults{ManyLocations: 1500})
	defer s.SetFaults(twiliosim.Faults{})
	tr := pick(t, s, "call-centre-encrypted", true)
	if _, err := c.EncryptedOperatorResultLocations(context.Background(), tr.SID); err == nil || !strings.Contains(err.Error(), "1500 operator result locations") {
		t.Errorf("1,500 locations: %v", err)
	}
}
