package catalog

import (
	"log/slog"

	"github.com/intelligencefs/intelligencefs/fetch/record"
)

// sidFilter applies the filesystem's SID check (record.IsSID) to what a listing received from the
// server: entries whose SID is not well formed ("", ".", "a/b", a NUL, 300
// characters, "/etc") and repeats of a SID already listed are skipped, so
// they neither break the listing (EIO) nor appear as phantom entries or
// link targets. One filter per listing, so the warning is one line per
// listing, however many entries were bad.
type sidFilter struct {
	prefix string // "GA" or "GT"
	seen   map[string]struct{}
	bad    int // not a well-formed SID
	dups   int // a SID listed before
}

func newSIDFilter(prefix string) *sidFilter {
	return &sidFilter{prefix: prefix, seen: map[string]struct{}{}}
}

// keep reports whether the entry named sid is listed.
func (f *sidFilter) keep(sid string) bool {
	if !record.IsSID(sid, f.prefix) {
		f.bad++
		return false
	}
	if _, dup := f.seen[sid]; dup {
		f.dups++
		return false
	}
	f.seen[sid] = struct{}{}
	return true
}

// warn logs the one line of a listing that skipped entries.
func (f *sidFilter) warn(log *slog.Logger, what string) {
	if f.bad == 0 && f.dups == 0 {
		return
	}
	log.Warn("the server listed entries that are not well-formed SIDs or repeat one; skipped",
		"listing", what, "malformed", f.bad, "duplicates", f.dups)
}
