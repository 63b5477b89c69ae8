package record_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/intelligencefs/intelligencefs/fetch/record"
	"github.com/intelligencefs/intelligencefs/fetch/twiliosim"
)

const (
	goodGT = "GT0123456789abcdef0123456789abcdef"
	goodGA = "GA0123456789abcdef0123456789abcdef"
	goodAC = "AC0123456789abcdef0123456789abcdef"
	goodCR = "CR0123456789abcdef0123456789abcdef"
)

// TestDecodeRefusesHostileSIDs: a Transcript or Service resource naming a
// SID from the holdout of hostile strings (in any of its SID fields) is
// refused where it is decoded, with ErrMalformedSID and a message that
// quotes the string escaped; well-formed SIDs and nulls pass. Before the
// check, every one of them decoded and "../../escaped" became a folder of
// search --export.
func TestDecodeRefusesHostileSIDs(t *testing.T) {
	transcript := func(sid, svc, acct, cred string) string {
		return `{"sid":` + q(sid) + `,"service_sid":` + q(svc) + `,"account_sid":` + q(acct) +
			`,"encryption_credential_sid":` + q(cred) + `,"status":"queued"}`
	}
	service := func(sid, acct, cred string) string {
		return `{"sid":` + q(sid) + `,"account_sid":` + q(acct) + `,"encryption_credential_sid":` + q(cred) + `}`
	}
	if _, err := record.DecodeTranscript([]byte(transcript(goodGT, goodGA, goodAC, goodCR)), nil); err != nil {
		t.Fatalf("well-formed transcript refused: %v", err)
	}
	if _, err := record.DecodeTranscript([]byte(`{"sid":"`+goodGT+`","service_sid":null,"account_sid":null,"encryption_credential_sid":null}`), nil); err != nil {
		t.Fatalf("nulls refused: %v", err)
	}
	if _, err := record.ParseService([]byte(service(goodGA, goodAC, goodCR))); err != nil {
		t.Fatalf("well-formed service refused: %v", err)
	}
	for _, bad := range twiliosim.HostileNames {
		cases := map[string]func() error{
			"transcript sid": func() error {
				_, err := record.DecodeTranscript([]byte(transcript(bad, goodGA, goodAC, goodCR)), nil)
				return err
			},
			"service_sid": func() error {
				_, err := record.DecodeTranscript([]byte(transcript(goodGT, bad, goodAC, goodCR)), nil)
				return err
			},
			"account_sid": func() error {
				_, err := record.DecodeTranscript([]byte(transcript(goodGT, goodGA, bad, goodCR)), nil)
				return err
			},
			"credential": func() error {
				_, err := record.DecodeTranscript([]byte(transcript(goodGT, goodGA, goodAC, bad)), nil)
				return err
			},
			"service sid":  func() error { _, err := record.ParseService([]byte(service(bad, goodAC, goodCR))); return err },
			"service acct": func() error { _, err := record.ParseService([]byte(service(goodGA, bad, goodCR))); return err },
			"service cred": func() error { _, err := record.ParseService([]byte(service(goodGA, goodAC, bad))); return err },
		}
		for name, decode := range cases {
			if bad == "" && name != "transcript sid" && name != "service sid" {
				continue // "" is an absent optional SID
			}
			err := decode()
			if !errors.Is(err, record.ErrMalformedSID) {
				t.Errorf("%s %q: err %v, want ErrMalformedSID", name, bad, err)
				continue
			}
			if msg := err.Error(); msg != record.SafeText(msg) {
				t.Errorf("%s %q: the error carries raw control characters: %q", name, bad, msg)
			}
		}
	}
}

// q renders s as a JSON string ("" as null).
func q(s string) string {
	if s == "" {
		return "null"
	}
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range []byte(s) {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteByte(r)
		case r < 0x20:
			b.WriteString(`\u00`)
			b.WriteByte("0123456789abcdef"[r>>4])
			b.WriteByte("0123456789abcdef"[r&0xf])
		default:
			b.WriteByte(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// TestSafeText: no hostile string keeps a control character, a line
// break, a bidirectional override or invalid UTF-8; plain text (accents,
// CJK, tabs, emoji) is unchanged and not copied.
func TestSafeText(t *testing.T) {
	for _, s := range twiliosim.HostileNames {
		got := record.SafeText(s)
		for _, r := range got {
			if r < 0x20 && r != '\t' || r == 0x7f || r >= 0x80 && r < 0xa0 || r == '\u202e' || r == '\u2028' {
				t.Errorf("SafeText(%q) = %q keeps %U", s, got, r)
			}
		}
		if !strings.Contains(got, "\\") && got != s {
			t.Errorf("SafeText(%q) = %q changed without an escape", s, got)
		}
	}
	for _, s := range []string{"call-centre", "Zoë Müller\t東京 🙂", "�"} {
		if got := record.SafeText(s); got != s {
			t.Errorf("SafeText(%q) = %q, want it unchanged", s, got)
		}
	}
	if got := record.SafeText("\x1b[2J\xff"); got != `\x1b[2J\xff` {
		t.Errorf("escapes: %q", got)
	}
	if n := testing.AllocsPerRun(100, func() { _ = record.SafeText("GT0123456789abcdef0123456789abcdef") }); n != 0 {
		t.Errorf("a clean string costs %v allocations", n)
	}
}

// TestAppendSafeText: the byte form writes what SafeText writes.
func TestAppendSafeText(t *testing.T) {
	for _, s := range append([]string{"plain", "Zoë\t東京"}, twiliosim.HostileNames...) {
		if got := string(record.AppendSafeText([]byte("x"), []byte(s))); got != "x"+record.SafeText(s) {
			t.Errorf("%q: %q, want %q", s, got, "x"+record.SafeText(s))
		}
	}
}
