package fs

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unsafe"

	"github.com/intelligencefs/intelligencefs/fs/plaincache"
)

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
// from the document into the arena, to byte equality with encoding/json.
func FuzzJSONText(f *testing.F) {
	for _, s := range []string{`"hi"`, `"a\nb\r\n"`, `"\u00e9\ud83d\ude00"`, `"\ud800x"`, `"\udc00\ud800"`, "\"\xff\xfe ok\"", `"\u000a\u000D\/\\\"\b\f\t"`, `"\ud83d\u0041"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		want, ok := oracleText(raw)
		if !ok {
			return
		}
		var c txtWriter
		c.counting = true
		writeJSONText(&c, bytes.TrimSpace(raw))
		w := txtWriter{buf: make([]byte, 0, c.n)}
		writeJSONText(&w, bytes.TrimSpace(raw))
		if string(w.buf) != want {
			t.Fatalf("%q: got %q, want %q", raw, w.buf, want)
		}
		if c.n != len(w.buf) || cap(w.buf) != c.n {
			t.Fatalf("%q: counted %d, wrote %d (cap %d)", raw, c.n, len(w.buf), cap(w.buf))
		}
	})
}

// TestTxtTextStaysInDocument: the parse keeps each sentence's text as a
// slice of the document itself (no heap copy of the conversation), so
// deriveTxt reads it out of the arena. Fails if encoding/json starts
// copying what it hands to UnmarshalJSON.
func TestTxtTextStaysInDocument(t *testing.T) {
	doc := []byte(`{"sentences":[{"sentence_index":1,"start_time":2.5,"media_channel":1,"transcript":"second \"quoted\""},` +
		`{"sentence_index":0,"start_time":"0.4","media_channel":2,"transcript":"first"}]}`)
	lines, err := parseSentences(doc)
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

// TestDeriveTxtInArena: the mount's sentences.txt is rendered into an
// off-heap buffer of the exact size, byte-equal to renderSentencesTxt, and
// a parse failure is errNoTxt (ENOENT) without allocating.
func TestDeriveTxtInArena(t *testing.T) {
	c, err := plaincache.New(plaincache.Options{MaxBytes: 1 << 20, Mlock: plaincache.MlockOff})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := &Root{cache: c}
	doc := []byte(`[{"sentence_index":0,"start_time":61.25,"media_channel":1,"transcript":"caf\u00e9 \ud83d\ude00 line\nbreak ` + "\xff" + `"}]`)
	want, err := renderSentencesTxt(doc)
	if err != nil {
		t.Fatal(err)
	}
	buf, err := r.deriveTxt(doc)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("arena %q, heap %q", buf.Bytes(), want)
	}
	if st := c.Stats(); st.LiveBytes == 0 {
		t.Errorf("the text view is not in the cache's arena: %+v", st)
	}
	buf.Release()
	if _, err := r.deriveTxt([]byte(`{"sentences":5}`)); errnoOf(err) != 2 /* ENOENT */ || !strings.Contains(err.Error(), "not derivable") {
		t.Errorf("bad document: %v", err)
	}
	if _, err := r.deriveTxt([]byte(`{"sentences":[{"transcript":"SECRETTEXT"}x`)); err == nil || strings.Contains(err.Error(), "SECRETTEXT") || strings.Contains(err.Error(), "'x'") {
		t.Errorf("syntax error quotes the document: %v", err)
	}
}
