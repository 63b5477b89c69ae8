package twiliosim

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"time"
)

// Target selects which side of the simulator a fault Rule applies to.
type Target int

// Targets of a Rule. The zero value, TargetBoth, means API and objects.
const (
	TargetBoth Target = iota
	TargetAPI
	TargetObjects
)

// Rule says which requests a fault hits. It is inactive unless Times or
// Fraction is set. Times counts down over matching requests (the next N);
// once spent, Fraction (0..1, random) still applies.
type Rule struct {
	// Times is the number of next matching requests to hit.
	Times int
	// Fraction of matching requests to hit at random (1 = all).
	Fraction float64
	// Target restricts the rule to the API or the object store. Rules that
	// only make sense on one side (ciphertext, headers, expired URLs) ignore it.
	Target Target
	// TranscriptSID, if set, restricts the rule to requests about that
	// transcript (its API sub-resources or objects).
	TranscriptSID string
}

// Faults are the failure switches, changed at run time with SetFaults.
// The zero value injects nothing.
type Faults struct {
	// APILatency and ObjectLatency delay every API / object-store request.
	APILatency, ObjectLatency time.Duration
	// TooManyRequests answers 429 with a Retry-After header (API: Twilio
	// error 20429; object store: S3-style XML, code SlowDown).
	TooManyRequests Rule
	// RetryAfter is the Retry-After value sent with 429, rounded up to whole
	// seconds; 0 sends "0", negative omits the header.
	RetryAfter time.Duration
	// ServerError answers ServerErrorStatus (default 503).
	ServerError Rule
	// ServerErrorStatus is the status ServerError uses (500..599).
	ServerErrorStatus int
	// ResetMidBody sends the headers and half the body, then resets the
	// connection (TCP RST).
	ResetMidBody Rule
	// TruncateBody declares the full Content-Length, sends half the body and
	// closes the connection cleanly.
	TruncateBody Rule
	// TamperCiphertext flips one bit of a served object's body.
	TamperCiphertext Rule
	// MissingKeyHeader / MissingIVHeader leave out x-amz-meta-x-amz-key /
	// x-amz-meta-x-amz-iv on objects.
	MissingKeyHeader, MissingIVHeader Rule
	// MalformedKeyHeader / MalformedIVHeader send values that are not base64.
	MalformedKeyHeader, MalformedIVHeader Rule
	// ExpiredURLs makes the encrypted endpoints issue locations that have
	// already expired (validly signed).
	ExpiredURLs Rule
	// WrongCredentials rejects every API request with 401 (code 20003).
	WrongCredentials bool
	// ConcurrencyLimit, when positive, is the account's concurrency limit
	// as Twilio enforces it: an API request arriving while that many are
	// being processed is refused at once with 429, code 20429, and no
	// Retry-After (counted as "Fault:ConcurrencyLimit"). A request counts
	// from its arrival until APILatency has passed (its processing);
	// every API answer then carries Twilio-Concurrent-Requests. The object
	// store has no such limit.
	ConcurrencyLimit int

	// The switches below make a hostile or broken server (hostile.go).

	// PageLoop makes a list page's next_page_url name that very page, so a
	// client that follows it never ends. TranscriptSID matches the
	// transcript of a sub-list (Sentences, OperatorResults).
	PageLoop Rule
	// EmptyPages serves list pages with no items that still name a next
	// page (the next page number), endlessly.
	EmptyPages Rule
	// GzipBomb sends the body gzip-compressed with Content-Encoding: gzip
	// whether or not the client asked, padded so that it inflates to
	// GzipBombBytes more (default DefaultGzipBombBytes) while its compressed
	// size stays near 1/1000 of that.
	GzipBomb      Rule
	GzipBombBytes int64
	// HostileServices appends to every services page entries whose sid is
	// not a SID ("a/b", "", ".", "..", a NUL, 300 characters, "/etc" with
	// unique_name abs-target, a relative path with unique_name rel-target)
	// and a duplicate of the page's first service.
	HostileServices bool
	// HostileTranscripts appends to every transcripts page entries whose
	// sid is not a SID, a duplicate of the page's first transcript, and
	// HostileTranscriptSID, whose service_sid leaves the mount (the
	// transcript endpoint serves it too).
	HostileTranscripts bool
	// OversizedTranscript adds a "padding" field of OversizeBytes to the
	// matching transcripts' resources, in lists and fetches.
	OversizedTranscript Rule
	OversizeBytes       int
	// ManyLocations, when > 0, makes the encrypted operator results
	// endpoint of a transcript with results list that many locations
	// (repeating the real ones).
	ManyLocations int
	// HugeWrappedKey sends a 3 MiB wrapped key header on objects.
	HugeWrappedKey Rule
	// ShortContentKey serves objects sealed with a 16-byte content key
	// (AES-128-GCM): authentic, but not what Twilio makes.
	ShortContentKey Rule

	// ForbiddenCredentials answers every API request with 403 (code 20403):
	// valid credentials without permission (a restricted API key, an
	// account without the feature).
	ForbiddenCredentials bool
	// ServerErrorHTML makes ServerError answer with a proxy's HTML page
	// (text/html) instead of Twilio's JSON error.
	ServerErrorHTML bool

	// The switches below are fidelity switches: places where the real
	// service may answer otherwise than its published description.

	// NullLocations answers the encrypted endpoints of a completed
	// transcript with "location": null / "locations": null.
	NullLocations Rule
	// ObjectNotFound answers object downloads with 404 NoSuchKey.
	ObjectNotFound Rule
	// HideTranscriptCredential renders every transcript's
	// encryption_credential_sid as null, as specs that lacked the field
	// did: only the service says which credential encrypts.
	HideTranscriptCredential bool
	// PlainErrorOnEncrypted makes the plain Sentences and OperatorResults
	// lists of an encrypted transcript answer 400 instead of an empty list.
	PlainErrorOnEncrypted bool
	// ReverseLocations lists operator-result locations in reverse order on
	// every other answer (their order is not documented).
	ReverseLocations bool
	// SwapOperatorResults serves, for a transcript's operator-result
	// objects, the sealed results of another transcript (same key).
	SwapOperatorResults Rule
	// IgnoreDateFilters makes the transcripts list ignore
	// AfterDateCreated and BeforeDateCreated.
	IgnoreDateFilters bool
	// DateFilterSlack widens AfterDateCreated and BeforeDateCreated by
	// this much each way, as a server that rounds them would.
	DateFilterSlack time.Duration
	// MaxSentencePageSize, when set, refuses Sentences pages larger than
	// this with 400 (the published maximum is 5000).
	MaxSentencePageSize int
	// ObjectBaseURL, when set, is the scheme and host presigned locations
	// name instead of the simulator's own URL: a TLS front (whose
	// certificate may not match the name used) serving the same handler.
	ObjectBaseURL string
	// NoUniqueNameFetch answers GET /v2/Services/{unique_name} with 404
	// (the path parameter is documented as the SID only).
	NoUniqueNameFetch bool

	// The switches below make a server that lies about identity (trust.go).

	// ForgedTranscriptSIDs appends to every transcripts page one queued
	// transcript per string, with that string as its sid (the account and
	// service of the page's first transcript, customer_key
	// ForgedCustomerKey): "../../escaped", an escape sequence, a header
	// break.
	ForgedTranscriptSIDs []string
	// ForgedServiceNames replaces every service's unique_name and
	// friendly_name, and every public key's friendly_name, with this
	// string when set (an escape sequence for the terminal).
	ForgedServiceNames string
	// OtherTranscript makes the transcript endpoint of the matching
	// transcripts answer with another transcript's resource (the next one
	// in the corpus): a SID the client did not ask for.
	OtherTranscript Rule
	// ForeignAccount renders the matching transcripts' account_sid as
	// ForeignAccountSID, in lists and fetches: a resource of another
	// account.
	ForeignAccount Rule
	// HideTranscripts answers 404 to every API request about the matching
	// transcripts (their resource, sub-resources and DELETE) while they
	// exist: another account's view, a wrong region or edge, a proxy.
	HideTranscripts Rule
	// DeleteStatus, when set, answers every DELETE of a transcript with
	// this status and an empty body, deleting nothing (a proxy answering
	// 200 or a redirect).
	DeleteStatus int
}

// SetFaults replaces the fault switches; Times counters start afresh.
// Safe to call while requests are in flight.
func (s *Server) SetFaults(f Faults) {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	s.faults = f
	s.remaining = map[string]int{
		"TooManyRequests":     f.TooManyRequests.Times,
		"ServerError":         f.ServerError.Times,
		"ResetMidBody":        f.ResetMidBody.Times,
		"TruncateBody":        f.TruncateBody.Times,
		"TamperCiphertext":    f.TamperCiphertext.Times,
		"MissingKeyHeader":    f.MissingKeyHeader.Times,
		"MissingIVHeader":     f.MissingIVHeader.Times,
		"MalformedKeyHeader":  f.MalformedKeyHeader.Times,
		"MalformedIVHeader":   f.MalformedIVHeader.Times,
		"ExpiredURLs":         f.ExpiredURLs.Times,
		"PageLoop":            f.PageLoop.Times,
		"EmptyPages":          f.EmptyPages.Times,
		"GzipBomb":            f.GzipBomb.Times,
		"OversizedTranscript": f.OversizedTranscript.Times,
		"HugeWrappedKey":      f.HugeWrappedKey.Times,
		"ShortContentKey":     f.ShortContentKey.Times,
		"NullLocations":       f.NullLocations.Times,
		"ObjectNotFound":      f.ObjectNotFound.Times,
		"SwapOperatorResults": f.SwapOperatorResults.Times,
	}
}

// currentFaults returns a copy of the switches.
func (s *Server) currentFaults() Faults {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	return s.faults
}

// rule returns the named Rule of f.
func (f *Faults) rule(name string) Rule {
	switch name {
	case "TooManyRequests":
		return f.TooManyRequests
	case "ServerError":
		return f.ServerError
	case "ResetMidBody":
		return f.ResetMidBody
	case "TruncateBody":
		return f.TruncateBody
	case "TamperCiphertext":
		return f.TamperCiphertext
	case "MissingKeyHeader":
		return f.MissingKeyHeader
	case "MissingIVHeader":
		return f.MissingIVHeader
	case "MalformedKeyHeader":
		return f.MalformedKeyHeader
	case "MalformedIVHeader":
		return f.MalformedIVHeader
	case "ExpiredURLs":
		return f.ExpiredURLs
	case "PageLoop":
		return f.PageLoop
	case "EmptyPages":
		return f.EmptyPages
	case "GzipBomb":
		return f.GzipBomb
	case "OversizedTranscript":
		return f.OversizedTranscript
	case "HugeWrappedKey":
		return f.HugeWrappedKey
	case "ShortContentKey":
		return f.ShortContentKey
	case "NullLocations":
		return f.NullLocations
	case "ObjectNotFound":
		return f.ObjectNotFound
	case "SwapOperatorResults":
		return f.SwapOperatorResults
	case "OtherTranscript":
		return f.OtherTranscript
	case "ForeignAccount":
		return f.ForeignAccount
	case "HideTranscripts":
		return f.HideTranscripts
	}
	return Rule{}
}

// fire decides whether the named fault hits this request, consuming one of
// its Times if so, and counts it.
func (s *Server) fire(name string, object bool, transcriptSID string) bool {
	s.faultMu.Lock()
	r := s.faults.rule(name)
	hit := false
	switch {
	case r.Times == 0 && r.Fraction <= 0:
	case r.Target == TargetAPI && object, r.Target == TargetObjects && !object:
	case r.TranscriptSID != "" && r.TranscriptSID != transcriptSID:
	case s.remaining[name] > 0:
		s.remaining[name]--
		hit = true
	case r.Fraction > 0:
		hit = rand.Float64() < r.Fraction
	}
	s.faultMu.Unlock()
	if hit {
		s.counter(CounterFaultPrefix + name).Add(1)
	}
	return hit
}

// injectPre applies the faults that replace a response (429, 5xx) and
// reports whether one was sent. writeErr writes the side's error format.
func (s *Server) injectPre(w http.ResponseWriter, object bool, sid string, writeErr func(status int, retryAfter string)) bool {
	f := s.currentFaults()
	if s.fire("TooManyRequests", object, sid) {
		ra := ""
		if f.RetryAfter >= 0 {
			ra = strconv.FormatInt(int64((f.RetryAfter+time.Second-1)/time.Second), 10)
		}
		writeErr(http.StatusTooManyRequests, ra)
		return true
	}
	if s.fire("ServerError", object, sid) {
		st := f.ServerErrorStatus
		if st < 500 || st > 599 {
			st = http.StatusServiceUnavailable
		}
		writeErr(st, "")
		return true
	}
	return false
}

// writeBody sends a complete response, or a broken one when ResetMidBody or
// TruncateBody hits: the headers promise len(body) bytes, half arrive.
func (s *Server) writeBody(w http.ResponseWriter, status int, body []byte, object bool, sid string) {
	reset := s.fire("ResetMidBody", object, sid)
	truncate := !reset && s.fire("TruncateBody", object, sid)
	h := w.Header()
	if s.fire("GzipBomb", object, sid) {
		n := s.currentFaults().GzipBombBytes
		if n <= 0 {
			n = DefaultGzipBombBytes
		}
		body = gzipBomb(body, n)
		h.Set("Content-Encoding", "gzip")
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	if reset || truncate {
		if s.breakConnection(w, status, body, reset) {
			return
		}
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// breakConnection hijacks the connection, writes the head and half the
// body, then closes it (with RST when reset). It reports false if the
// connection could not be hijacked.
func (s *Server) breakConnection(w http.ResponseWriter, status int, body []byte, reset bool) bool {
	hj, ok := w.(http.Hijacker)
	if !ok {
		return false
	}
	header := w.Header().Clone()
	conn, buf, err := hj.Hijack()
	if err != nil {
		return false
	}
	defer conn.Close()
	bw := bufio.NewWriter(conn)
	fmt.Fprintf(bw, "HTTP/1.1 %d %s\r\n", status, http.StatusText(status))
	_ = header.Write(bw)
	bw.WriteString("\r\n")
	bw.Write(body[:len(body)/2])
	_ = bw.Flush()
	_ = buf
	if reset {
		if tc, ok := conn.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
	}
	return true
}
