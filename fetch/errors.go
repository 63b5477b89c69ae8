package fetch

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"mime"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/intelligencefs/intelligencefs/fetch/record"
)

// Every error a Client returns is an *Error wrapping at most one of the
// record sentinels (record.ErrNotFound, record.ErrAuth, …) plus the
// underlying cause.

// Error describes one failed Client operation. Its message is a single line
// that never contains a URL query string, URL user information or a
// configured secret.
type Error struct {
	// Op is the operation, e.g. "list transcripts" or "download sentences".
	Op string
	// SID is the resource the operation was about (a transcript SID for
	// sentences and operator results), or "".
	SID string
	// Status is the last HTTP status seen, or 0 if no response arrived.
	Status int
	// Attempts is how many HTTP attempts the last request made (1 = no retry).
	Attempts int
	// Err is the cause, already redacted. errors.Is/As see through it.
	Err error
}

// Error returns a one-line, redacted description.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("fetch: ")
	b.WriteString(e.Op)
	if e.SID != "" {
		b.WriteByte(' ')
		b.WriteString(e.SID)
	}
	if e.Status != 0 {
		b.WriteString(": HTTP ")
		b.WriteString(strconv.Itoa(e.Status))
	}
	if e.Attempts > 1 {
		b.WriteString(" after ")
		b.WriteString(strconv.Itoa(e.Attempts))
		b.WriteString(" attempts")
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return oneLine(record.Redact(b.String()))
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// causeError carries a sentinel kind and the original cause, but prints a
// message that was redacted when the error was built (the Client knows the
// secrets; the package-level Redact does not).
type causeError struct {
	kind  error // one of the sentinels, or nil
	msg   string
	cause error
}

func (e *causeError) Error() string { return e.msg }

func (e *causeError) Unwrap() []error {
	switch {
	case e.kind != nil && e.cause != nil:
		return []error{e.kind, e.cause}
	case e.kind != nil:
		return []error{e.kind}
	case e.cause != nil:
		return []error{e.cause}
	}
	return nil
}

// oneLine folds line breaks so an error is one log line, and escapes
// the other control characters (record.SafeText).
func oneLine(s string) string {
	if strings.ContainsAny(s, "\r\n") {
		s = strings.Join(strings.Fields(strings.ReplaceAll(strings.ReplaceAll(s, "\r", " "), "\n", " ")), " ")
	}
	// What the server said (a message, a SID) may hold escape sequences:
	// an error reaches terminals and logs with none left raw.
	return record.SafeText(s)
}

// problemText renders an error response as one short phrase: Twilio's own
// error document as "CODE Message; more info: URL", an object store's XML
// error as "Code: Message", and anything else (a proxy's HTML page) as what
// it is, with its title or first words, never a decoder error. "" when
// there is no body.
func problemText(status int, h http.Header, body []byte) string {
	if len(body) == 0 {
		return ""
	}
	var tw struct {
		Code     int    `json:"code"`
		Message  string `json:"message"`
		MoreInfo string `json:"more_info"`
	}
	if json.Unmarshal(body, &tw) == nil && (tw.Code != 0 || tw.Message != "") {
		s := strings.TrimSpace(fmt.Sprintf("%d %s", tw.Code, tw.Message))
		if tw.Code == 0 {
			s = tw.Message
		}
		if tw.MoreInfo != "" {
			s += "; more info: " + tw.MoreInfo
		}
		return clip(s, 300)
	}
	var s3 struct {
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	}
	if xml.Unmarshal(body, &s3) == nil && s3.Code != "" {
		return clip(s3.Code+": "+s3.Message, 200)
	}
	ct := "an unknown type"
	if mt, _, err := mime.ParseMediaType(h.Get("Content-Type")); err == nil {
		ct = mt
	}
	what := firstWords(body)
	s := fmt.Sprintf("a %s body instead of Twilio's JSON error, so a proxy or gateway answered", ct)
	if what != "" {
		s += fmt.Sprintf(": %q", what)
	}
	return s
}

// htmlTitle finds an HTML page's <title>; htmlTag is any markup tag.
var (
	htmlTitle = regexp.MustCompile(`(?is)<title[^>]*>(.*?)</title>`)
	htmlTag   = regexp.MustCompile(`(?s)<[^>]*>`)
)

// firstWords is an HTML page's title, or the first printable words of a
// body, at most 80 characters.
func firstWords(body []byte) string {
	s := string(body)
	if m := htmlTitle.FindStringSubmatch(s); m != nil {
		s = m[1]
	} else {
		s = htmlTag.ReplaceAllString(s, " ")
	}
	s = strings.Join(strings.Fields(strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == 0xfffd {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, " "))), " ")
	return clip(s, 80)
}

// clip cuts s to at most n bytes on a rune boundary, marking the cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }
