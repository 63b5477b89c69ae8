package twiliosim

// This file holds the switches of a server that lies about identity: SIDs
// that are not SIDs, an answer about another transcript than the one asked
// for, a resource of another account, a transcript hidden behind 404s, a
// DELETE answered by something that did not delete.

// ForeignAccountSID is the account_sid ForeignAccount renders: well
// formed, and not the simulator's account.
const ForeignAccountSID = "AC00000000000000000000000000000bad"

// ForgedCustomerKey is the customer_key of the transcripts
// ForgedTranscriptSIDs adds, so a metadata search matches every one.
const ForgedCustomerKey = "forged-transcript"

// forgedTranscriptItems are the transcripts ForgedTranscriptSIDs adds to a
// page whose first transcript is first (caller holds s.mu).
func (s *Server) forgedTranscriptItems(first *transcript) [][]byte {
	sids := s.currentFaults().ForgedTranscriptSIDs
	items := make([][]byte, 0, len(sids))
	key := ForgedCustomerKey
	for _, sid := range sids {
		items = append(items, marshal(transcriptJSON{
			AccountSID: s.AccountSID, ServiceSID: first.svc.sid, SID: sid,
			DateCreated: unixISO(first.created), DateUpdated: unixISO(first.updated), Status: StatusQueued,
			Channel: rawJSON(`null`), LanguageCode: first.svc.language,
			URL: s.URL + "/v2/Transcripts/" + sid, CustomerKey: &key,
		}))
	}
	return items
}

// otherTranscript is the transcript after t in the corpus (the first one
// after the last), never t itself unless it is alone (caller holds s.mu).
func (s *Server) otherTranscript(t *transcript) *transcript {
	for i, x := range s.all {
		if x == t {
			return s.all[(i+1)%len(s.all)]
		}
	}
	return t
}

// HostileNames is the holdout of hostile strings the tests play the
// attacker with, as SIDs and names a server sends: paths out of a folder,
// escape sequences for a terminal, header and line breaks, bidirectional
// overrides, invalid UTF-8, and SIDs that are one character off.
var HostileNames = []string{
	"../../escaped",
	"..",
	".",
	"",
	"/etc/passwd",
	"GT/../../../../tmp/x",
	"GT0123456789abcdef0123456789abcde/",
	"GT0123456789abcdef0123456789abcdeg",
	"GT0123456789abcdef0123456789abcdef0",
	"gt0123456789abcdef0123456789abcdef",
	"GT0123456789abcdef0123456789abc\x00ef",
	"GT\x1b]0;pwned\x07\x1b[2J0123456789abcdef0",
	"\x1b[31mred\x1b[0m",
	"\x1b]8;;https://evil.example/\x1b\\click\x1b]8;;\x1b\\",
	"a\r\nSet-Cookie: x=y",
	"a\nb",
	"\u202egnp.exe",
	"\xff\xfe",
	"x\u2028y",
	"\x9b31m",
}
