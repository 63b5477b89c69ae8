package record

import "strings"

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
