package twiliosim

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestRedaction(t *testing.T) {
	s := newTestServer(t, Options{Corpus: CorpusOptions{Markers: []string{"MARKER-abc123"}}})
	for _, svcName := range []string{"call-centre-encrypted", "call-centre-plain"} {
		tr := firstWithStatus(t, s, svcName, StatusCompleted, nil)
		red := string(s.SentencesPlaintext(tr.SID, true))
		unred := string(s.SentencesPlaintext(tr.SID, false))
		for _, tag := range []string{"[PERSON]", "[PHONE_NUMBER]", "[CREDIT_CARD_NUMBER]", "[EMAIL_ADDRESS]"} {
			if !strings.Contains(red, tag) || strings.Contains(unred, tag) {
				t.Errorf("%s: %s redaction wrong", svcName, tag)
			}
		}
		if !strings.Contains(unred, "@example.com") || strings.Contains(red, "@example.com") {
			t.Errorf("%s: e-mail not redacted", svcName)
		}
		for _, doc := range []string{red, unred} {
			if !strings.Contains(doc, "MARKER-abc123") {
				t.Errorf("%s: marker missing", svcName)
			}
		}
		for _, redacted := range []bool{true, false} {
			ors := s.OperatorResultPlaintexts(tr.SID, redacted)
			if len(ors) < 1 || len(ors) > 3 {
				t.Fatalf("%d operator results", len(ors))
			}
			if !strings.Contains(string(ors[0]), "MARKER-abc123") || !strings.Contains(string(ors[0]), `"operator_type":"text-generation"`) {
				t.Errorf("summary %s", ors[0])
			}
			if strings.Contains(string(ors[0]), "[PERSON]") != redacted {
				t.Errorf("summary redaction %v: %s", redacted, ors[0])
			}
			for _, o := range ors {
				if !json.Valid(o) {
					t.Fatalf("invalid JSON %s", o)
				}
			}
		}
	}
	// Default Redacted follows the transcript's redaction field.
	plain := firstWithStatus(t, s, "call-centre-plain", StatusCompleted, nil)
	r := do(t, s, "GET", "/v2/Transcripts/"+plain.SID+"/Sentences?PageSize=5000", nil)
	if strings.Contains(string(r.body), "[PERSON]") || plain.Redaction {
		t.Error("plain service (no auto_redaction) redacts by default")
	}
	r = do(t, s, "GET", "/v2/Transcripts/"+plain.SID+"/Sentences?PageSize=5000&Redacted=true", nil)
	if !strings.Contains(string(r.body), "[PERSON]") {
		t.Error("Redacted=true not redacted")
	}
	// Operator type variety across the corpus.
	types := map[string]bool{}
	for _, x := range s.Transcripts("") {
		for _, o := range s.OperatorResultPlaintexts(x.SID, true) {
			var m map[string]any
			_ = json.Unmarshal(o, &m)
			types[m["operator_type"].(string)] = true
		}
	}
	if len(types) != 3 {
		t.Errorf("operator types %v", types)
	}
}

func TestWordTimestamps(t *testing.T) {
	s := newTestServer(t, Options{})
	tr := firstWithStatus(t, s, "call-centre-plain", StatusCompleted, nil)
	for _, wts := range []bool{false, true} {
		var m map[string]any
		if err := json.Unmarshal(s.SentenceResources(tr.SID, false, wts)[0], &m); err != nil {
			t.Fatal(err)
		}
		w := m["words"].([]any)[0].(map[string]any)
		if (w["start_time"] != nil) != wts {
			t.Errorf("WordTimestamps=%v: word %v", wts, w)
		}
		if _, ok := m["start_time"].(string); !ok {
			t.Errorf("start_time %v is not a string", m["start_time"])
		}
	}
}

func TestSentencesVariants(t *testing.T) {
	tests := []struct {
		name  string
		v     SentencesVariant
		check func(t *testing.T, doc []byte)
	}{
		{"default", SentencesVariant{}, func(t *testing.T, doc []byte) {
			var d struct {
				Sentences []map[string]any `json:"sentences"`
			}
			mustJSON(t, doc, &d)
			if len(d.Sentences) == 0 || d.Sentences[0]["start_time"] == nil {
				t.Errorf("doc %s", doc[:100])
			}
			if _, ok := d.Sentences[0]["confidence"].(string); !ok {
				t.Error("confidence not a string")
			}
		}},
		{"bare array", SentencesVariant{BareArray: true}, func(t *testing.T, doc []byte) {
			var d []map[string]any
			mustJSON(t, doc, &d)
			if len(d) == 0 || d[0]["media_channel"] == nil {
				t.Errorf("doc %s", doc[:100])
			}
		}},
		{"camel case", SentencesVariant{CamelCase: true}, func(t *testing.T, doc []byte) {
			var d struct {
				Sentences []map[string]any `json:"sentences"`
			}
			mustJSON(t, doc, &d)
			s0 := d.Sentences[0]
			if s0["mediaChannel"] == nil || s0["startTime"] == nil || s0["sentenceIndex"] == nil || s0["media_channel"] != nil {
				t.Errorf("doc %v", s0)
			}
		}},
		{"numeric times", SentencesVariant{NumericTimes: true}, func(t *testing.T, doc []byte) {
			var d struct {
				Sentences []map[string]any `json:"sentences"`
			}
			mustJSON(t, doc, &d)
			s0 := d.Sentences[0]
			_, a := s0["start_time"].(float64)
			_, b := s0["confidence"].(float64)
			_, c := s0["words"].([]any)[0].(map[string]any)["end_time"].(float64)
			if !a || !b || !c {
				t.Errorf("doc %v", s0)
			}
		}},
		{"all", SentencesVariant{BareArray: true, CamelCase: true, NumericTimes: true}, func(t *testing.T, doc []byte) {
			var d []map[string]any
			mustJSON(t, doc, &d)
			if _, ok := d[0]["endTime"].(float64); !ok {
				t.Errorf("doc %v", d[0])
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestServer(t, Options{Corpus: CorpusOptions{Variant: tc.v}})
			tr := firstWithStatus(t, s, "call-centre-encrypted", StatusCompleted, nil)
			tc.check(t, s.SentencesPlaintext(tr.SID, true))
			// The plain list endpoint keeps the documented shape.
			var m map[string]any
			mustJSON(t, s.SentenceResources(tr.SID, true, true)[0], &m)
			if _, ok := m["start_time"].(string); !ok {
				t.Error("list resource changed shape")
			}
		})
	}
}

func TestSentencesBytes(t *testing.T) {
	const target = 50 << 10
	s := newTestServer(t, Options{Corpus: CorpusOptions{SentencesBytes: target}})
	for _, x := range s.Transcripts("")[:5] {
		n := len(s.SentencesPlaintext(x.SID, false))
		if n < target*9/10 || n > target*3/2 {
			t.Errorf("%s: %d bytes, want about %d", x.SID, n, target)
		}
	}
}

// mustJSON unmarshals or fails.
func mustJSON(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%v: %.200s", err, b)
	}
}
