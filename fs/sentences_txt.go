package fs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// errSentencesShape reports a sentences document that parses as JSON but
// holds no recognisable list of sentences. The file is then left out.
var errSentencesShape = errors.New("sentences document has no list of sentence objects")

// sentenceLine is one parsed sentence, just what the text view needs.
type sentenceLine struct {
	index   int64
	pos     int // position in the document, a tie-breaker
	start   float64
	channel int64
	text    string
}

// renderSentencesTxt derives sentences.txt from the decrypted sentences
// document: one line per sentence, `[mm:ss.s] ch<N>: <text>`, ordered by
// sentence index. Twilio does not document the decrypted format, so parsing
// is tolerant: a bare array or an object holding one (under "sentences" or
// any other key), snake_case or camelCase keys, times as numbers, numeric
// strings or null. Minutes are not wrapped at 60, so an hour-long call reads
// [75:03.2]. Newlines and carriage returns in the text are escaped (\n, \r)
// so every sentence stays one line for grep.
//
// The parse necessarily makes transient heap copies of the text; callers
// copy the result into the off-heap cache and clear the returned slice.
func renderSentencesTxt(doc []byte) ([]byte, error) {
	lines, err := parseSentences(doc)
	if err != nil {
		return nil, err
	}
	sort.SliceStable(lines, func(i, j int) bool {
		if lines[i].index != lines[j].index {
			return lines[i].index < lines[j].index
		}
		return lines[i].pos < lines[j].pos
	})
	var out bytes.Buffer
	for _, l := range lines {
		tenths := int64(math.Round(l.start * 10))
		if tenths < 0 || l.start != l.start { // negative or NaN: no sensible time
			tenths = 0
		}
		fmt.Fprintf(&out, "[%02d:%02d.%d] ch%d: ", tenths/600, (tenths%600)/10, tenths%10, l.channel)
		out.WriteString(escapeLine(l.text))
		out.WriteByte('\n')
	}
	return out.Bytes(), nil
}

// escapeLine keeps a sentence on one line.
func escapeLine(s string) string {
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	return strings.NewReplacer("\r", `\r`, "\n", `\n`).Replace(s)
}

// parseSentences finds the list of sentences in doc and reads each one.
func parseSentences(doc []byte) ([]sentenceLine, error) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var top any
	if err := dec.Decode(&top); err != nil {
		return nil, fmt.Errorf("sentences document: %w", err)
	}
	if dec.More() {
		return nil, errors.New("sentences document: trailing data")
	}
	list, ok := findList(top)
	if !ok {
		return nil, errSentencesShape
	}
	lines := make([]sentenceLine, 0, len(list))
	for i, v := range list {
		obj, ok := v.(map[string]any)
		if !ok {
			return nil, errSentencesShape
		}
		l := sentenceLine{pos: i, index: int64(i)}
		if n, ok := numberOf(pick(obj, "sentence_index", "sentenceIndex", "index")); ok {
			l.index = int64(n)
		}
		if n, ok := numberOf(pick(obj, "start_time", "startTime", "start")); ok {
			l.start = n
		}
		if n, ok := numberOf(pick(obj, "media_channel", "mediaChannel", "channel")); ok {
			l.channel = int64(n)
		}
		switch t := pick(obj, "transcript", "text").(type) {
		case string:
			l.text = t
		case nil:
		default:
			return nil, errSentencesShape
		}
		lines = append(lines, l)
	}
	return lines, nil
}

// findList returns the sentence array: the document itself, its
// "sentences" member, or else its only array member.
func findList(top any) ([]any, bool) {
	switch v := top.(type) {
	case []any:
		return v, true
	case map[string]any:
		if l, ok := v["sentences"].([]any); ok {
			return l, true
		}
		var found []any
		n := 0
		for _, m := range v {
			if l, ok := m.([]any); ok {
				found = l
				n++
			}
		}
		if n == 1 {
			return found, true
		}
	}
	return nil, false
}

// pick returns the first present key's value.
func pick(obj map[string]any, keys ...string) any {
	for _, k := range keys {
		if v, ok := obj[k]; ok {
			return v
		}
	}
	return nil
}

// numberOf accepts a JSON number or a numeric string; null and anything else
// is "absent".
func numberOf(v any) (float64, bool) {
	var s string
	switch t := v.(type) {
	case json.Number:
		s = string(t)
	case string:
		s = strings.TrimSpace(t)
	default:
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) || math.Abs(f) > 1e15 {
		return 0, false
	}
	return f, true
}
