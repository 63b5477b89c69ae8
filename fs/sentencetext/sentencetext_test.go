package sentencetext

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
	"unsafe"
)

func TestSentencesTxt(t *testing.T) {
	tests := []struct {
		name, doc, want string
		wantErr         bool
	}{
		{"default snake strings", `{"sentences":[{"sentence_index":1,"start_time":"4503.2","media_channel":2,"transcript":"bye"},{"sentence_index":0,"start_time":"1.25","media_channel":1,"transcript":"hi"}]}`,
			"[00:01.3] ch1: hi\n[75:03.2] ch2: bye\n", false},
		{"bare array camel numbers", `[{"sentenceIndex":0,"startTime":59.96,"mediaChannel":1,"transcript":"a\nb"}]`,
			"[01:00.0] ch1: a\\nb\n", false},
		{"other key, text key, nulls", `{"items":[{"index":"3","start_time":null,"media_channel":null,"text":null}],"meta":{}}`,
			"[00:00.0] ch0: \n", false},
		{"numeric strings channel", `[{"sentence_index":"2","start_time":" 12 ","media_channel":"1","transcript":"x"},{"sentence_index":"1","start_time":"0","media_channel":"2","transcript":"y\r\nz"}]`,
			"[00:00.0] ch2: y\\r\\nz\n[00:12.0] ch1: x\n", false},
		{"empty list", `{"sentences":[]}`, "", false},
		{"no index keeps order", `[{"transcript":"b"},{"transcript":"a"}]`, "[00:00.0] ch0: b\n[00:00.0] ch0: a\n", false},
		{"not json", `{"sentences":`, "", true},
		{"no list", `{"a":1}`, "", true},
		{"two lists no sentences key", `{"a":[],"b":[]}`, "", true},
		{"element not object", `[1,2]`, "", true},
		{"text not string", `[{"transcript":5}]`, "", true},
		{"trailing", `[] []`, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Render([]byte(tc.doc))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if string(got) != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func FuzzSentencesTxt(f *testing.F) {
	f.Add([]byte(`{"sentences":[{"sentence_index":0,"start_time":"1.5","media_channel":1,"transcript":"hi"}]}`))
	f.Add([]byte(`[{"sentenceIndex":2,"startTime":3600.05,"mediaChannel":2,"text":"a\nb"}]`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		out, err := Render(doc)
		if err != nil {
			if out != nil {
				t.Fatal("output with error")
			}
			return
		}
		// Every line is one sentence in the documented shape.
		for _, line := range bytes.Split(bytes.TrimSuffix(out, []byte("\n")), []byte("\n")) {
			if len(out) == 0 {
				break
			}
			if !bytes.HasPrefix(line, []byte("[")) || !bytes.Contains(line, []byte("] ch")) {
				t.Fatalf("bad line %q", line)
			}
		}
		if utf8.Valid(doc) && !utf8.Valid(out) && !strings.ContainsRune(string(doc), utf8.RuneError) {
			t.Fatalf("valid input gave invalid UTF-8 output")
		}
	})
}

// oracleText is what sentences.txt shows for a JSON string literal, by way of
// encoding/json and the escaping of DESIGN.md §3 (one line per sentence).
func oracleText(raw []byte) (string, bool) {
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return strings.NewReplacer("\r", `\r`, "\n", `\n`).Replace(s), true
}

// FuzzJSONText holds writeJSONText, which decodes sentence text straight
// from the document, to byte equality with encoding/json, escaped (the text
// view) and not (AppendText).
func FuzzJSONText(f *testing.F) {
	for _, s := range []string{`"hi"`, `"a\nb\r\n"`, `"\u00e9\ud83d\ude00"`, `"\ud800x"`, `"\udc00\ud800"`, "\"\xff\xfe ok\"", `"\u000a\u000D\/\\\"\b\f\t"`, `"\ud83d\u0041"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		want, ok := oracleText(raw)
		if !ok {
			return
		}
		c := txtWriter{counting: true, escape: true}
		writeJSONText(&c, bytes.TrimSpace(raw))
		w := txtWriter{buf: make([]byte, 0, c.n), escape: true}
		writeJSONText(&w, bytes.TrimSpace(raw))
		if string(w.buf) != want {
			t.Fatalf("%q: got %q, want %q", raw, w.buf, want)
		}
		if c.n != len(w.buf) || cap(w.buf) != c.n {
			t.Fatalf("%q: counted %d, wrote %d (cap %d)", raw, c.n, len(w.buf), cap(w.buf))
		}
		var plain string
		json.Unmarshal(raw, &plain)
		if got := (Sentence{text: bytes.TrimSpace(raw)}).AppendText(nil); string(got) != plain {
			t.Fatalf("%q: AppendText %q, want %q", raw, got, plain)
		}
	})
}

// TestTextStaysInDocument: the parse keeps each sentence's text as a
// slice of the document itself (no heap copy of the conversation), so the
// mount reads it out of its arena. Fails if encoding/json starts copying
// what it hands to UnmarshalJSON.
func TestTextStaysInDocument(t *testing.T) {
	doc := []byte(`{"sentences":[{"sentence_index":1,"start_time":2.5,"media_channel":1,"transcript":"second \"quoted\""},` +
		`{"sentence_index":0,"start_time":"0.4","media_channel":2,"transcript":"first"}]}`)
	lines, err := Parse(doc)
	if err != nil {
		t.Fatal(err)
	}
	lo, hi := uintptr(unsafe.Pointer(&doc[0])), uintptr(unsafe.Pointer(&doc[len(doc)-1]))
	for _, l := range lines {
		p := uintptr(unsafe.Pointer(&l.text[0]))
		if p < lo || p > hi {
			t.Errorf("text %q is a copy, not a slice of the document", l.text)
		}
	}
}

// TestLinesAndText: AppendLine and AppendText of each parsed sentence give
// the text view's lines one by one and the text as encoding/json decodes it.
func TestLinesAndText(t *testing.T) {
	doc := []byte(`{"sentences":[{"sentence_index":1,"start_time":4503.24,"media_channel":2,"transcript":"two\nlines"},{"sentence_index":0,"start_time":1,"media_channel":1,"transcript":null}]}`)
	ss, err := Parse(doc)
	if err != nil {
		t.Fatal(err)
	}
	whole, _ := Render(doc)
	var lines []byte
	for _, s := range ss {
		lines = AppendLine(lines, s)
	}
	if string(lines) != string(whole) || Len(ss) != len(whole) {
		t.Errorf("lines %q, whole %q (Len %d)", lines, whole, Len(ss))
	}
	if got := string(ss[1].AppendText(nil)); got != "two\nlines" || ss[1].Index != 1 || ss[1].Channel != 2 || ss[1].Start != 4503.24 {
		t.Errorf("sentence 1: %q %+v", got, ss[1])
	}
	if got := ss[0].AppendText([]byte("x")); string(got) != "x" {
		t.Errorf("null text: %q", got)
	}
}
