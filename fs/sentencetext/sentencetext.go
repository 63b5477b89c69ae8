// Package sentencetext renders the sentences.txt view of a decrypted
// sentences document — one line per sentence, `[mm:ss.s] <speaker>: <text>`,
// the speaker named from the transcript's channel participants (`agent`,
// `customer`) or `ch<N>` — and hands out the parsed sentences one by one.
//
// It is its own package, free of FUSE, HTTP and twilio-go, because three
// places show the same lines: the mount's sentences.txt (package fs, which
// renders into its off-heap cache), `intelligencefs search` and the web
// viewer (package fs/search and its users). One parser and one renderer
// keep them byte-identical.
package sentencetext

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// ErrShape reports a sentences document that parses as JSON but holds no
// recognisable list of sentences.
var ErrShape = errors.New("sentences document has no list of sentence objects")

// Sentence is one parsed sentence, just what the text view needs. Its text
// stays inside the document it was parsed from: a Sentence is valid only as
// long as that document is, and holds no copy of the conversation.
type Sentence struct {
	// Index is the sentence's sentence_index (its position when absent).
	Index int64
	// Start is its start time in seconds (0 when absent).
	Start float64
	// Channel is its media channel (0 when absent).
	Channel int64
	// Speaker names who spoke it (Labels.Apply); empty shows ch<Channel>.
	Speaker string

	pos  int     // position in the document, a tie-breaker
	text rawJSON // the JSON string literal inside doc, or nil (null/absent)
}

// rawJSON is a JSON value as it stands in the document. Its UnmarshalJSON
// keeps the slice encoding/json hands over instead of copying it: with
// json.Unmarshal that slice is part of the caller's input, so sentence text
// is read straight out of the (possibly off-heap) sentences document and
// never copied to the Go heap. encoding/json does not promise this; should a
// later version pass a copy, the text would merely leave a heap copy behind,
// as the map[string]any parse this replaced always did.
type rawJSON []byte

// UnmarshalJSON keeps b (see rawJSON).
func (r *rawJSON) UnmarshalJSON(b []byte) error {
	*r = b
	return nil
}

// isNull reports an absent or null value.
func (r rawJSON) isNull() bool { return len(r) == 0 || string(r) == "null" }

// Parse reads the sentences of doc, ordered by sentence index (document
// order among equal indexes). Twilio does not document the decrypted
// format, so parsing is tolerant: a bare array or an object holding one
// (under "sentences" or any other key), snake_case or camelCase keys, times
// as numbers, numeric strings or null. Errors never quote the document.
func Parse(doc []byte) ([]Sentence, error) {
	lines, err := parseSentences(doc)
	if err != nil {
		return nil, err
	}
	sort.SliceStable(lines, func(i, j int) bool {
		if lines[i].Index != lines[j].Index {
			return lines[i].Index < lines[j].Index
		}
		return lines[i].pos < lines[j].pos
	})
	return lines, nil
}

// Len is the exact size in bytes of the text view of ss.
func Len(ss []Sentence) int {
	w := txtWriter{counting: true, escape: true}
	for _, s := range ss {
		w.line(s)
	}
	return w.n
}

// Append appends the text view of ss (as Parse ordered them) to dst. With
// cap(dst)-len(dst) >= Len(ss) it never reallocates, so no stray copy of
// plaintext is left on the heap by growth.
func Append(dst []byte, ss []Sentence) []byte {
	w := txtWriter{buf: dst, escape: true}
	for _, s := range ss {
		w.line(s)
	}
	return w.buf
}

// AppendLine appends the one line of s in the text view, newline included:
// `[mm:ss.s] <speaker>: <text>` (ch<N> without a speaker). Minutes are not wrapped at 60, so an hour-long
// call reads [75:03.2]. Newlines and carriage returns in the text are
// escaped (\n, \r) so every sentence stays one line for grep.
func AppendLine(dst []byte, s Sentence) []byte {
	w := txtWriter{buf: dst, escape: true}
	w.line(s)
	return w.buf
}

// AppendText appends the decoded text of s (newlines as they are; nothing
// for a null or absent text), what encoding/json would decode.
func (s Sentence) AppendText(dst []byte) []byte {
	if s.text.isNull() {
		return dst
	}
	w := txtWriter{buf: dst}
	writeJSONText(&w, s.text)
	return w.buf
}

// Render derives the whole text view of the sentences document doc on the
// Go heap, speakers as ch<N> (tests and the exporter use it; the mount
// renders into its off-heap cache with Parse, Len and Append).
func Render(doc []byte) ([]byte, error) { return RenderLabeled(doc, nil) }

// RenderLabeled is Render with the speakers named by labels, as the mount's
// sentences.txt names them.
func RenderLabeled(doc []byte, labels Labels) ([]byte, error) {
	ss, err := Parse(doc)
	if err != nil {
		return nil, err
	}
	labels.Apply(ss)
	return Append(make([]byte, 0, Len(ss)), ss), nil
}

// txtWriter either counts bytes or appends them to buf, whose capacity the
// count sized exactly, so appending never reallocates (no stray copy of
// plaintext is left on the heap by growth).
type txtWriter struct {
	counting bool
	escape   bool // write newlines and carriage returns as \n and \r
	n        int
	buf      []byte
}

func (w *txtWriter) write(p []byte) {
	if w.counting {
		w.n += len(p)
		return
	}
	w.buf = append(w.buf, p...)
}

func (w *txtWriter) writeByte(c byte) {
	if w.counting {
		w.n++
		return
	}
	w.buf = append(w.buf, c)
}

func (w *txtWriter) writeRune(r rune) {
	switch {
	case r == '\n' && w.escape:
		w.write([]byte(`\n`))
	case r == '\r' && w.escape:
		w.write([]byte(`\r`))
	default:
		var b [utf8.UTFMax]byte
		w.write(utf8.AppendRune(b[:0], r))
	}
}

// line writes the text view's line of l.
func (w *txtWriter) line(l Sentence) {
	tenths := int64(math.Round(l.Start * 10))
	if tenths < 0 || l.Start != l.Start { // negative or NaN: no sensible time
		tenths = 0
	}
	var tmp [32 + maxLabel]byte
	p := append(tmp[:0], '[')
	p = appendPad2(p, tenths/600)
	p = append(p, ':')
	p = appendPad2(p, (tenths%600)/10)
	p = append(p, '.')
	p = strconv.AppendInt(p, tenths%10, 10)
	p = append(p, "] "...)
	if l.Speaker != "" {
		p = append(p, l.Speaker...)
	} else {
		p = append(p, "ch"...)
		p = strconv.AppendInt(p, l.Channel, 10)
	}
	p = append(p, ": "...)
	w.write(p)
	if !l.text.isNull() {
		writeJSONText(w, l.text)
	}
	w.writeByte('\n')
}

// appendPad2 is %02d.
func appendPad2(p []byte, v int64) []byte {
	if v >= 0 && v < 10 {
		p = append(p, '0')
	}
	return strconv.AppendInt(p, v, 10)
}

// writeJSONText decodes the JSON string literal raw (already validated by
// encoding/json) the way encoding/json does (bad UTF-8 and lone surrogates
// become U+FFFD) and writes it (newlines and carriage returns escaped when
// w.escape), byte for byte what json.Unmarshal into a string (and
// escaping) would give.
func writeJSONText(w *txtWriter, raw rawJSON) {
	s := raw[1 : len(raw)-1]
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s):
			e := s[i+1]
			i += 2
			switch e {
			case 'b':
				w.writeByte('\b')
			case 'f':
				w.writeByte('\f')
			case 't':
				w.writeByte('\t')
			case 'n':
				w.writeRune('\n')
			case 'r':
				w.writeRune('\r')
			case 'u':
				r := getu4(s[i:])
				i += 4
				if utf16.IsSurrogate(r) {
					if i+6 <= len(s) && s[i] == '\\' && s[i+1] == 'u' {
						if dec := utf16.DecodeRune(r, getu4(s[i+2:])); dec != utf8.RuneError {
							w.writeRune(dec)
							i += 6
							continue
						}
					}
					r = utf8.RuneError
				}
				w.writeRune(r)
			default: // '"', '\\', '/'
				w.writeByte(e)
			}
		case c < utf8.RuneSelf:
			w.writeByte(c)
			i++
		default:
			r, size := utf8.DecodeRune(s[i:])
			if r == utf8.RuneError && size == 1 {
				w.writeRune(utf8.RuneError)
			} else {
				w.write(s[i : i+size])
			}
			i += size
		}
	}
}

// getu4 reads four hex digits (validated JSON), or -1.
func getu4(s []byte) rune {
	if len(s) < 4 {
		return -1
	}
	var r rune
	for _, c := range s[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r*16 + rune(c)
	}
	return r
}

// parseSentences finds the list of sentences in doc and reads each one.
// Sentence text stays in doc (see rawJSON).
func parseSentences(doc []byte) ([]Sentence, error) {
	var top rawJSON
	if err := json.Unmarshal(doc, &top); err != nil {
		return nil, fmt.Errorf("sentences document: %w", syntaxOnly(err))
	}
	list, ok, err := findList(bytes.TrimSpace(top))
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, ErrShape
	}
	lines := make([]Sentence, 0, len(list))
	for i, v := range list {
		if first(v) != '{' {
			return nil, ErrShape
		}
		var obj map[string]rawJSON
		if err := json.Unmarshal(v, &obj); err != nil {
			return nil, fmt.Errorf("sentences document: %w", syntaxOnly(err))
		}
		l := Sentence{pos: i, Index: int64(i)}
		if n, ok := numberOf(pick(obj, "sentence_index", "sentenceIndex", "index")); ok {
			l.Index = int64(n)
		}
		if n, ok := numberOf(pick(obj, "start_time", "startTime", "start")); ok {
			l.Start = n
		}
		if n, ok := numberOf(pick(obj, "media_channel", "mediaChannel", "channel")); ok {
			l.Channel = int64(n)
		}
		t := pick(obj, "transcript", "text")
		switch {
		case t.isNull():
		case first(t) == '"':
			l.text = t
		default:
			return nil, ErrShape
		}
		lines = append(lines, l)
	}
	return lines, nil
}

// syntaxOnly keeps an encoding/json error's description but never the
// document's bytes (a *json.UnmarshalTypeError names only types and
// offsets, a *json.SyntaxError quotes at most one character).
func syntaxOnly(err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("syntax error at offset %d", se.Offset)
	}
	return err
}

// first is the first byte of a trimmed JSON value (0 if empty).
func first(v rawJSON) byte {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return 0
	}
	return v[0]
}

// findList returns the sentence array: the document itself, its
// "sentences" member, or else its only array member.
func findList(top rawJSON) ([]rawJSON, bool, error) {
	var arr rawJSON
	switch first(top) {
	case '[':
		arr = top
	case '{':
		var obj map[string]rawJSON
		if err := json.Unmarshal(top, &obj); err != nil {
			return nil, false, fmt.Errorf("sentences document: %w", syntaxOnly(err))
		}
		if l, ok := obj["sentences"]; ok && first(l) == '[' {
			arr = l
			break
		}
		n := 0
		for _, m := range obj {
			if first(m) == '[' {
				arr = m
				n++
			}
		}
		if n != 1 {
			return nil, false, nil
		}
	default:
		return nil, false, nil
	}
	var list []rawJSON
	if err := json.Unmarshal(arr, &list); err != nil {
		return nil, false, fmt.Errorf("sentences document: %w", syntaxOnly(err))
	}
	return list, true, nil
}

// pick returns the first present key's value.
func pick(obj map[string]rawJSON, keys ...string) rawJSON {
	for _, k := range keys {
		if v, ok := obj[k]; ok {
			return v
		}
	}
	return nil
}

// numberOf accepts a JSON number or a numeric string; null and anything else
// is "absent". (Indexes, times and channels are read onto the heap; they are
// not the conversation.)
func numberOf(v rawJSON) (float64, bool) {
	var s string
	switch first(v) {
	case '"':
		if json.Unmarshal(v, &s) != nil {
			return 0, false
		}
		s = strings.TrimSpace(s)
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		s = string(bytes.TrimSpace(v))
	default:
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) || math.Abs(f) > 1e15 {
		return 0, false
	}
	return f, true
}
