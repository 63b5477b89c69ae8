package record

import (
	"errors"
	"fmt"
	"strings"
)

// IsSID reports whether name is a well-formed SID with the given prefix
// (two letters and 32 hex digits, e.g. "GT" for a transcript). Names built
// from server strings (folder names, link targets) must pass it, so "", ".",
// "a/b" or "../../tmp" never become a path.
func IsSID(name, prefix string) bool {
	if len(name) != 34 || !strings.HasPrefix(name, prefix) {
		return false
	}
	for i := 2; i < 34; i++ {
		c := name[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// SID prefixes of the resources intelligencefs reads.
const (
	PrefixAccount    = "AC"
	PrefixService    = "GA"
	PrefixTranscript = "GT"
	PrefixCredential = "CR"
)

// ErrMalformedSID marks a resource from the API whose SID (or a SID it
// names: its service, account or credential) is not well formed. The
// decoders refuse such a resource as a whole: its strings would become
// folder names, link targets, file names, terminal output and HTTP
// headers. A listing skips it (one warning); a single fetch fails.
var ErrMalformedSID = errors.New("not a well-formed SID")

// checkSID is nil when sid is well formed with prefix, or is "" and
// optional; the error quotes (escaped and cut) what the server sent.
func checkSID(field, sid, prefix string, optional bool) error {
	if (optional && sid == "") || IsSID(sid, prefix) {
		return nil
	}
	return fmt.Errorf("%w: %s %s (want %s followed by 32 hex digits)", ErrMalformedSID, field, QuoteText(sid, 40), prefix)
}
