package fetch

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// The kinds of HTTP attempt Config.ObserveAttempt is told about.
const (
	// AttemptAPI is a request to the Twilio REST API.
	AttemptAPI = "api"
	// AttemptObject is a download from the object store (a presigned
	// location).
	AttemptObject = "object"

	kindAPI    = AttemptAPI
	kindObject = AttemptObject
)

// policy is the retry and size policy shared by both transports.
type policy struct {
	maxAttempts    int
	maxElapsed     time.Duration
	attemptTimeout time.Duration
	baseDelay      time.Duration
	maxDelay       time.Duration
	maxBody        int64
	// maxThrottle bounds the waits after 429s (Twilio's 20429: the
	// request was refused for the account's concurrency and never
	// processed), a budget of their own: they count neither against
	// maxAttempts nor maxElapsed.
	maxThrottle time.Duration
}

// counters back Stats.
type counters struct {
	apiRequests, objectRequests atomic.Int64
	retries, errors             atomic.Int64
	throttled                   atomic.Int64 // 429 answers
	apiBytes, objectBytes       atomic.Int64
	retryWait                   atomic.Int64 // nanoseconds
}

// Stats is a snapshot of a Client's counters since New.
type Stats struct {
	// APIRequests counts HTTP attempts to the REST API, retries included.
	APIRequests int64
	// ObjectDownloads counts HTTP attempts to the object store, retries included.
	ObjectDownloads int64
	// Retries counts attempts that were repeated (API and objects).
	Retries int64
	// Errors counts Client method calls that failed: not those answered
	// 404 (not found) nor those cancelled by their caller.
	Errors int64
	// BytesDownloaded counts object store body bytes received.
	BytesDownloaded int64
	// APIBytes counts REST API body bytes received.
	APIBytes int64
	// RetryWait is the total time spent waiting between attempts.
	RetryWait time.Duration
	// Throttled counts attempts answered 429 (Twilio's 20429, the object
	// store's SlowDown), API and objects.
	Throttled int64
	// InFlight is the number of HTTP requests holding a concurrency slot
	// now: APIInFlight to the API plus ObjectsInFlight to the object store.
	InFlight, APIInFlight, ObjectsInFlight int64
	// APILimit and ObjectLimit are the adaptive concurrency limits now.
	APILimit, ObjectLimit int
	// LimitCuts counts cuts of the API limit after a 429, DelayCuts after
	// its round trip rose (the latency gradient).
	LimitCuts, DelayCuts int64
}

// Stats returns the current counters.
func (c *Client) Stats() Stats {
	st := Stats{
		APIRequests:     c.stats.apiRequests.Load(),
		ObjectDownloads: c.stats.objectRequests.Load(),
		Retries:         c.stats.retries.Load(),
		Errors:          c.stats.errors.Load(),
		BytesDownloaded: c.stats.objectBytes.Load(),
		APIBytes:        c.stats.apiBytes.Load(),
		RetryWait:       time.Duration(c.stats.retryWait.Load()),
		Throttled:       c.stats.throttled.Load(),
		APIInFlight:     c.lim.inFlight64.Load(),
		ObjectsInFlight: c.objLim.inFlight64.Load(),
		APILimit:        c.lim.Limit(),
		ObjectLimit:     c.objLim.Limit(),
		LimitCuts:       c.lim.lossCuts.Load(),
		DelayCuts:       c.lim.delayCuts.Load(),
	}
	st.InFlight = st.APIInFlight + st.ObjectsInFlight
	return st
}

// callInfo travels in a request's context and records what the transport
// saw, so errors can carry the last status and the attempt count even when
// twilio-go could not decode an error body.
type callInfo struct {
	attempts int
	status   int
	header   http.Header
	// problem is the start of the last error response's body (status
	// 400 and up), so an error can quote Twilio's own code and message,
	// or say what a proxy answered instead.
	problem []byte
}

// maxProblemBytes bounds the error body kept in callInfo.
const maxProblemBytes = 4 << 10

// saw records a response: its status and headers, and the start of its
// body when it is an error.
func (info *callInfo) saw(resp *http.Response) {
	info.status, info.header, info.problem = resp.StatusCode, resp.Header, nil
	if resp.StatusCode >= 400 {
		if bb, ok := resp.Body.(bufferedBody); ok {
			info.problem = bytes.Clone(bb.b[:min(len(bb.b), maxProblemBytes)])
		}
	}
}

type callInfoKey struct{}

func withCallInfo(ctx context.Context) (context.Context, *callInfo) {
	info := &callInfo{}
	return context.WithValue(ctx, callInfoKey{}, info), info
}

// transport is the retrying, limiting round tripper. It reads every
// response body completely (checked against Content-Length) before it
// returns, so a short or reset body is retried like any transport fault and
// the concurrency slot is held exactly while bytes are moving.
type transport struct {
	base   http.RoundTripper
	kind   string
	pol    *policy
	lim    *limiter
	st     *counters
	log    *slog.Logger
	redact func(string) string
	sleep  func(ctx context.Context, d time.Duration) error
	// observe, when set, is told each attempt's duration (Config.ObserveAttempt).
	observe func(kind string, d time.Duration)
}

// bufferedBody is a fully read response body.
type bufferedBody struct {
	*bytes.Reader
	b []byte
}

func (bufferedBody) Close() error { return nil }

// bodyBytes returns the bytes of a response body produced by transport
// without copying, or reads it.
func bodyBytes(r *http.Response) ([]byte, error) {
	if bb, ok := r.Body.(bufferedBody); ok {
		return bb.b, nil
	}
	defer r.Body.Close()
	return io.ReadAll(r.Body)
}

// errBodyTooLarge is not retried.
var errBodyTooLarge = errors.New("response body exceeds the size limit")

// errRateDeadline: the rate limiter cannot admit the request before the
// caller's deadline. Not retried.
var errRateDeadline = errors.New("the request rate limit cannot admit the request before the deadline")

// timeoutError is a per-attempt timeout (retried), distinct from the caller's
// deadline (not retried).
type timeoutError struct{ d time.Duration }

func (e timeoutError) Error() string   { return fmt.Sprintf("no complete response within %v", e.d) }
func (e timeoutError) Timeout() bool   { return true }
func (e timeoutError) Temporary() bool { return true }

// RoundTrip implements http.RoundTripper.
func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	info, _ := ctx.Value(callInfoKey{}).(*callInfo)
	if info == nil {
		info = &callInfo{}
	}
	getBody, err := rewindable(req)
	if err != nil {
		return nil, err
	}
	// DELETE is idempotent (RFC 9110): deleting twice leaves the resource
	// deleted, and a retry that finds it gone gets 404, which
	// DeleteTranscript's callers count as done.
	idempotent := req.Method == http.MethodGet || req.Method == http.MethodHead || req.Method == http.MethodDelete
	start := time.Now()
	var (
		waited    time.Duration // the sum of error waits (a fake sleep takes no real time)
		throttled time.Duration // the sum of waits after 429s
		errTries  int           // attempts that count against maxAttempts
		throttles int
	)
	for attempt := 1; ; attempt++ {
		info.attempts = attempt
		info.status = 0
		resp, err := t.attempt(ctx, req, getBody, attempt)
		if err != nil && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if err == nil && resp.StatusCode == http.StatusTooManyRequests {
			// Refused for concurrency, never processed: safe to retry
			// for every method, on the throttle budget.
			info.saw(resp)
			throttles++
			wait := retryAfter(resp.Header, time.Now())
			backoffs := throttles // the waits so far, this one included
			if t.lim.adapts() {
				backoffs--
			}
			if wait == 0 && backoffs > 0 {
				wait = jitter(t.pol.baseDelay, throttleMaxDelay, backoffs)
			}
			// A first refusal is retried without a sleep when the limit
			// adapts: the refusal cut it (or an earlier one of the same
			// congestion did), so the retry waits, at the head of the
			// queue, until fewer requests are in flight than the account
			// took; sleeping too would stall whoever reads this file
			// while the limit sits idle. Later refusals back off.
			if throttled+wait > t.pol.maxThrottle {
				t.log.Debug("fetch: throttle budget exhausted", "kind", t.kind, "method", req.Method,
					"path", req.URL.Path, "status", info.status, "attempts", attempt, "waited", throttled)
				return resp, nil
			}
			t.st.retries.Add(1)
			t.log.Debug("fetch: throttled, retrying", "kind", t.kind, "method", req.Method, "path", req.URL.Path,
				"attempt", attempt, "wait", wait, "limit", t.lim.Limit(), "in_flight", t.lim.inFlight64.Load(),
				"concurrent_requests", resp.Header.Get("Twilio-Concurrent-Requests"))
			if err := t.sleep(ctx, wait); err != nil {
				return nil, err
			}
			t.st.retryWait.Add(int64(wait))
			throttled += wait
			continue
		}
		errTries++
		retry, wait := false, time.Duration(0)
		if err != nil {
			retry = retriableError(err, idempotent)
		} else {
			info.saw(resp)
			if retriableStatus(resp.StatusCode, idempotent) {
				retry = true
				wait = retryAfter(resp.Header, time.Now())
			}
		}
		if !retry {
			return resp, err
		}
		if wait == 0 {
			wait = t.backoff(errTries)
		}
		elapsed := max(time.Since(start)-throttled, waited)
		if errTries >= t.pol.maxAttempts || elapsed+wait > t.pol.maxElapsed {
			// Debug, not Warn: the error returned carries status and
			// attempts, and its caller logs the one line a user sees
			// (DESIGN.md §5); a second warning here would double it.
			t.log.Debug("fetch: retries exhausted", "kind", t.kind, "method", req.Method,
				"path", req.URL.Path, "status", info.status, "attempts", attempt,
				"error", t.errString(err))
			return resp, err
		}
		t.st.retries.Add(1)
		t.log.Debug("fetch: retrying", "kind", t.kind, "method", req.Method, "path", req.URL.Path,
			"status", info.status, "attempt", attempt, "wait", wait, "error", t.errString(err))
		if err := t.sleep(ctx, wait); err != nil {
			return nil, err
		}
		t.st.retryWait.Add(int64(wait))
		waited += wait
	}
}

func (t *transport) errString(err error) string {
	if err == nil {
		return ""
	}
	return oneLine(t.redact(err.Error()))
}

// attempt makes one HTTP attempt under a concurrency slot and the attempt
// timeout, and reads the whole body.
func (t *transport) attempt(ctx context.Context, req *http.Request, getBody func() (io.ReadCloser, error), n int) (*http.Response, error) {
	sl, err := t.lim.acquire(ctx, n > 1)
	if err != nil {
		return nil, err
	}
	o := outcomeIgnore
	defer func() { sl.done(o) }()
	if t.observe != nil {
		began := time.Now()
		defer func() { t.observe(t.kind, time.Since(began)) }()
	}
	if t.kind == kindAPI {
		t.st.apiRequests.Add(1)
	} else {
		t.st.objectRequests.Add(1)
	}
	actx, cancel := context.WithTimeout(ctx, t.pol.attemptTimeout)
	defer cancel()
	r := req.Clone(actx)
	// Ask for identity explicitly: whatever the base transport, Go then
	// neither asks for gzip nor inflates a body behind the size checks.
	r.Header.Set("Accept-Encoding", "identity")
	if getBody != nil {
		b, err := getBody()
		if err != nil {
			return nil, err
		}
		r.Body = b
	}
	began := time.Now()
	resp, err := t.base.RoundTrip(r)
	if err != nil {
		err = t.attemptErr(ctx, actx, err)
		t.log.Debug("fetch: request failed", "kind", t.kind, "method", req.Method, "path", req.URL.Path,
			"attempt", n, "duration", time.Since(began), "error", t.errString(err))
		return nil, err
	}
	body, err := readBody(resp, t.pol.maxBody)
	resp.Body.Close()
	if t.kind == kindAPI {
		t.st.apiBytes.Add(int64(len(body)))
	} else {
		t.st.objectBytes.Add(int64(len(body)))
	}
	if err != nil {
		err = t.attemptErr(ctx, actx, err)
		t.log.Debug("fetch: reading response failed", "kind", t.kind, "method", req.Method, "path", req.URL.Path,
			"status", resp.StatusCode, "attempt", n, "duration", time.Since(began), "error", t.errString(err))
		return nil, err
	}
	resp.Body = bufferedBody{bytes.NewReader(body), body}
	resp.ContentLength = int64(len(body))
	o = t.outcome(resp, req.URL.Path)
	t.log.Debug("fetch: request", "kind", t.kind, "method", req.Method, "path", req.URL.Path,
		"status", resp.StatusCode, "attempt", n, "bytes", len(body), "duration", time.Since(began))
	return resp, nil
}

// outcome classifies an answer for the adaptive limit: 429 is a loss for
// both sides, and 503 for the object store too (S3's SlowDown); for the
// API a 503 is an outage, not a concurrency signal. Twilio's rate headers,
// where an endpoint sends them, are logged, and a remaining count of zero
// keeps the limit from growing.
func (t *transport) outcome(resp *http.Response, path string) outcome {
	h := resp.Header
	if t.kind == kindAPI {
		if cr, lim, rem := h.Get("Twilio-Concurrent-Requests"), h.Get("X-Rate-Limit-Limit"), h.Get("X-Rate-Limit-Remaining"); cr != "" || lim != "" || rem != "" {
			t.log.Debug("fetch: rate headers", "path", path, "status", resp.StatusCode,
				"concurrent_requests", cr, "rate_limit", lim, "rate_remaining", rem,
				"rate_config", h.Get("X-Rate-Limit-Config"), "limit", t.lim.Limit())
		}
	}
	switch s := resp.StatusCode; {
	case s == http.StatusTooManyRequests:
		t.st.throttled.Add(1)
		return outcomeLoss
	case s == http.StatusServiceUnavailable && t.kind == kindObject:
		return outcomeLoss
	case s >= 500:
		return outcomeIgnore
	case h.Get("X-Rate-Limit-Remaining") == "0":
		return outcomeHold
	}
	return outcomeSuccess
}

// attemptErr turns the attempt deadline into a timeoutError.
func (t *transport) attemptErr(ctx, actx context.Context, err error) error {
	if ctx.Err() == nil && actx.Err() != nil {
		return timeoutError{t.pol.attemptTimeout}
	}
	return err
}

// errEncodedBody: a Content-Encoding nobody asked for (the client sends no
// Accept-Encoding). Not retried. Decoding it would let a small compressed
// body expand past every size check (a compression bomb).
var errEncodedBody = errors.New("response body is content-encoded, which was not asked for")

// readBody reads a response body, refusing more than limit bytes, any
// Content-Encoding, and a length that differs from Content-Length.
func readBody(resp *http.Response, limit int64) ([]byte, error) {
	if ce := resp.Header.Get("Content-Encoding"); (ce != "" && !strings.EqualFold(ce, "identity")) || resp.Uncompressed {
		return nil, fmt.Errorf("%w (%q)", errEncodedBody, oneLine(ce))
	}
	cl := resp.ContentLength
	if cl > limit {
		return nil, fmt.Errorf("%w (%d > %d bytes)", errBodyTooLarge, cl, limit)
	}
	var buf []byte
	if cl >= 0 {
		buf = make([]byte, 0, cl)
	}
	b := bytes.NewBuffer(buf)
	n, err := b.ReadFrom(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("reading response body after %d bytes: %w", n, err)
	}
	if n > limit {
		return nil, fmt.Errorf("%w (> %d bytes)", errBodyTooLarge, limit)
	}
	if cl >= 0 && n != cl {
		return nil, fmt.Errorf("short response body: %d of %d bytes: %w", n, cl, io.ErrUnexpectedEOF)
	}
	return b.Bytes(), nil
}

// rewindable makes sure every attempt can get a fresh copy of the request
// body (twilio-go sends forms from a strings.Reader, which sets GetBody).
func rewindable(req *http.Request) (func() (io.ReadCloser, error), error) {
	if req.Body == nil || req.Body == http.NoBody {
		return nil, nil
	}
	if req.GetBody != nil {
		req.Body.Close()
		return req.GetBody, nil
	}
	b, err := io.ReadAll(req.Body)
	req.Body.Close()
	if err != nil {
		return nil, err
	}
	return func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }, nil
}

// retriableStatus: 429 is retried for every method (the request was not
// processed); 500/502/503/504 only for idempotent methods.
func retriableStatus(code int, idempotent bool) bool {
	switch code {
	case http.StatusTooManyRequests:
		return true
	case http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return idempotent
	}
	return false
}

// retriableError: idempotent requests retry every transport fault except TLS
// verification failures and oversized bodies; other methods retry only when
// the connection was never made (the request cannot have been processed).
func retriableError(err error, idempotent bool) bool {
	if errors.Is(err, errBodyTooLarge) || errors.Is(err, errEncodedBody) || errors.Is(err, errRateDeadline) || isTLSFailure(err) {
		return false
	}
	if idempotent {
		return true
	}
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

func isTLSFailure(err error) bool {
	var (
		cv *tls.CertificateVerificationError
		ua x509.UnknownAuthorityError
		he x509.HostnameError
		ci x509.CertificateInvalidError
		rh tls.RecordHeaderError
	)
	return errors.As(err, &cv) || errors.As(err, &ua) || errors.As(err, &he) ||
		errors.As(err, &ci) || errors.As(err, &rh)
}

// retryAfter parses Retry-After (delta seconds or an HTTP date); 0 if absent.
func retryAfter(h http.Header, now time.Time) time.Duration {
	v := h.Get("Retry-After")
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil {
		if s < 0 {
			return 0
		}
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

// backoff is exponential with jitter (see jitter), baseDelay to maxDelay.
func (t *transport) backoff(attempt int) time.Duration {
	return jitter(t.pol.baseDelay, t.pol.maxDelay, attempt)
}

// throttleMaxDelay caps the wait after a 429 without Retry-After: Twilio's
// concurrency refusals clear as soon as other requests finish, so the
// budget is spent on more, shorter waits (about fifteen in a minute).
const throttleMaxDelay = 5 * time.Second

// jitter is a uniform pick in [d/2, d] where d doubles per attempt from
// base up to max.
func jitter(base, maxDelay time.Duration, attempt int) time.Duration {
	d := base << min(attempt-1, 20)
	if d > maxDelay || d <= 0 {
		d = maxDelay
	}
	half := d / 2
	return half + rand.N(half+1)
}

// sleepCtx waits d or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
