package record

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// SafeText makes a string from the server (a name, a message, a SID that
// failed its check) safe to print on a terminal or put in a log line or an
// HTTP header: control characters (C0, DEL, C1), the Unicode line and
// paragraph separators, bidirectional overrides and invalid UTF-8 are
// written as Go escapes (\x1b, \u202e, \ufffd), so no escape sequence
// reaches the terminal and no line break splits a line. Printable text,
// spaces and tabs included, is unchanged; a string that needs nothing is
// returned as is, without allocating.
func SafeText(s string) string {
	if !needsEscape(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			b.WriteString(`\x`)
			b.WriteString(strconv.FormatUint(uint64(s[i])>>4, 16))
			b.WriteString(strconv.FormatUint(uint64(s[i])&0xf, 16))
		case unsafeRune(r):
			q := strconv.QuoteRuneToASCII(r) // 'x1b' style, with the quotes
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// QuoteText is SafeText cut to at most n bytes (a "…" marks the cut) and
// put in double quotes, for a server string quoted in an error.
func QuoteText(s string, n int) string {
	if len(s) > n {
		for n > 0 && !utf8.RuneStart(s[n]) {
			n--
		}
		s = s[:n] + "…"
	}
	return `"` + SafeText(s) + `"`
}

// needsEscape reports whether SafeText changes s.
func needsEscape(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 && c != '\t' || c == 0x7f || c >= 0x80 {
			if c < 0x80 {
				return true
			}
			// Non-ASCII: decode the rest rune by rune.
			for _, r := range s[i:] {
				if r == utf8.RuneError || unsafeRune(r) {
					return true
				}
			}
			return !utf8.ValidString(s[i:])
		}
	}
	return false
}

// unsafeRune reports a rune a terminal or a header must not receive raw.
func unsafeRune(r rune) bool {
	switch {
	case r == '\t':
		return false
	case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
		return true
	case r == '\u2028' || r == '\u2029': // line and paragraph separators
		return true
	case r >= '\u202a' && r <= '\u202e', r >= '\u2066' && r <= '\u2069', r == '\u200e', r == '\u200f', r == '\u061c':
		return true // bidirectional controls: they reorder what follows
	}
	return unicode.Is(unicode.Cc, r)
}

// AppendSafeText appends text to dst as SafeText would write it, without
// making a string of it (text may be plaintext the caller wipes).
func AppendSafeText(dst, text []byte) []byte {
	for i := 0; i < len(text); {
		r, n := utf8.DecodeRune(text[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			dst = append(dst, '\\', 'x', hexDigit[text[i]>>4], hexDigit[text[i]&0xf])
		case unsafeRune(r):
			q := strconv.QuoteRuneToASCII(r) // the escape of one control rune, quoted
			dst = append(dst, q[1:len(q)-1]...)
		default:
			dst = append(dst, text[i:i+n]...)
		}
		i += n
	}
	return dst
}

const hexDigit = "0123456789abcdef"
