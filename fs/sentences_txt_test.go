package fs

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"
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
			got, err := renderSentencesTxt([]byte(tc.doc))
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
		out, err := renderSentencesTxt(doc)
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
