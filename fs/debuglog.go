package fs

import (
	"context"
	"io"
	"log"
	"log/slog"
	"regexp"
)

// go-fuse's Debug output quotes up to 8 bytes of a request's or reply's
// payload next to its size: `… 4096b data "{\"senten"...` for a reply whose
// data is not handed over as a ReadResult (e.g. with DisableSplice), and
// `"abcdefgh"... 4096b` for request payloads. For a read reply those bytes
// are decrypted content, so --debug-fuse output goes through debugScrubber,
// which drops every such preview and keeps the sizes, opcodes, node IDs and
// file names (names are SIDs and fixed file names, not content).
var (
	// replyPreview: ` 4096b data "…"` with an optional `...`.
	replyPreview = regexp.MustCompile(`( \d+b data) "(?:[^"\\]|\\.)*"(?:\.\.\.)?`)
	// requestPreview: `"…"... 4096b` (summarizePayload).
	requestPreview = regexp.MustCompile(`"(?:[^"\\]|\\.)*"(?:\.\.\.)? (\d+b)\b`)
)

// scrubDebugLine removes payload previews from one go-fuse debug line.
func scrubDebugLine(s string) string {
	s = replyPreview.ReplaceAllString(s, "$1 (content not logged)")
	return requestPreview.ReplaceAllString(s, "(payload not logged) $1")
}

// debugScrubber is the io.Writer behind go-fuse's debug logger: each
// log.Logger call is one Write of one (possibly multi-line) message, which
// is scrubbed and passed to the slog handler at debug level.
type debugScrubber struct{ to *log.Logger }

func (d debugScrubber) Write(p []byte) (int, error) {
	d.to.Print(scrubDebugLine(string(p)))
	return len(p), nil
}

// newDebugFUSELogger returns the logger go-fuse's Debug output goes to: the
// mount's slog handler at debug level, with payload previews removed. The
// lines are written whatever the handler's level: --debug-fuse asks for
// them by itself, without --log-level debug.
func newDebugFUSELogger(h slog.Handler) *log.Logger {
	return log.New(io.Writer(debugScrubber{to: slog.NewLogLogger(alwaysEnabled{h}, slog.LevelDebug)}), "", 0)
}

// alwaysEnabled passes every record to its handler, whatever its level.
type alwaysEnabled struct{ slog.Handler }

// Enabled is always true.
func (alwaysEnabled) Enabled(context.Context, slog.Level) bool { return true }
