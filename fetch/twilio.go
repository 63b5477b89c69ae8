package fetch

import (
	"context"
	"errors"
	"fmt"
	"github.com/intelligencefs/intelligencefs/fetch/record"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/twilio/twilio-go/client"
	accounts "github.com/twilio/twilio-go/rest/accounts/v1"
	intelligence "github.com/twilio/twilio-go/rest/intelligence/v2"
)

// apiBase is the client.BaseClient twilio-go's RequestHandler sends through.
// It rewrites scheme and host to Config.APIURL after the RequestHandler
// applied edge and region (which would otherwise mangle a loopback host such
// as 127.0.0.1 into 127.ie1.0.1), then hands the request to twilio-go's own
// client.Client.
type apiBase struct {
	*client.Client
	rewrite *url.URL // nil: no rewrite
}

// SendRequest implements client.BaseClient.
func (b *apiBase) SendRequest(method, rawURL string, data url.Values,
	headers map[string]interface{}, body ...byte) (*http.Response, error) {
	if b.rewrite != nil {
		u, err := rewriteURL(rawURL, b.rewrite)
		if err != nil {
			return nil, err
		}
		rawURL = u
	}
	return b.Client.SendRequest(method, rawURL, data, headers, body...)
}

// rewriteURL puts base's scheme, host and path prefix on raw.
func rewriteURL(raw string, base *url.URL) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("request URL does not parse: %w", err)
	}
	u.Scheme, u.Host, u.User = base.Scheme, base.Host, nil
	if p := strings.TrimSuffix(base.Path, "/"); p != "" {
		u.Path = p + u.Path
		u.RawPath = ""
	}
	return u.String(), nil
}

// ctxTransport attaches the caller's context (and its callInfo) to the
// requests twilio-go builds on context.Background(), and bounds the whole
// call, retries included, by timeout.
//
// The bound is a context deadline rather than http.Client.Timeout: twilio-go
// does not close the body of an error response, and http.Client.Timeout
// keeps a goroutine per request until the body is closed or the timeout
// fires. transport reads every body before returning, so cancelling when
// RoundTrip returns is safe.
type ctxTransport struct {
	ctx     context.Context
	timeout time.Duration
	next    http.RoundTripper
}

func (t *ctxTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithTimeout(t.ctx, t.timeout)
	defer cancel()
	stop := context.AfterFunc(r.Context(), cancel)
	defer stop()
	return t.next.RoundTrip(r.WithContext(ctx))
}

// call is one API operation's twilio-go handles, bound to ctx.
type call struct {
	info *callInfo
	rh   *client.RequestHandler
}

// newCall builds a twilio-go RequestHandler for one operation. twilio-go has
// no context parameter, so each operation gets its own small client.Client
// whose http.Client transport carries ctx; the connection pool, limits and
// counters are shared.
func (c *Client) newCall(ctx context.Context) call {
	ctx, info := withCallInfo(ctx)
	hc := &http.Client{
		Transport:     &ctxTransport{ctx: ctx, timeout: c.callTime, next: c.apiRT},
		CheckRedirect: noRedirect,
	}
	tc := &client.Client{Credentials: c.creds, HTTPClient: hc}
	tc.SetAccountSid(c.accountSID)
	rh := client.NewRequestHandler(&apiBase{Client: tc, rewrite: c.apiURL})
	rh.Edge, rh.Region = c.edge, c.region
	return call{info: info, rh: rh}
}

func (k call) intelligence() *intelligence.ApiService { return intelligence.NewApiService(k.rh) }
func (k call) accounts() *accounts.ApiService         { return accounts.NewApiService(k.rh) }

// getRaw GETs rawURL through twilio-go's RequestHandler and returns the body
// bytes as received. query nil keeps rawURL's own query (a next_page_url).
func (k call) getRaw(rawURL string, query url.Values) ([]byte, http.Header, error) {
	resp, err := k.rh.Get(rawURL, query, nil, "")
	if err != nil {
		return nil, nil, err
	}
	b, err := bodyBytes(resp)
	if err != nil {
		return nil, nil, err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, nil, fmt.Errorf("unexpected HTTP status %d", resp.StatusCode)
	}
	return b, resp.Header, nil
}

// apiError builds the *Error for a failed API operation: it classifies by
// the last status the transport saw and quotes what the server answered
// (Twilio's code, message and more_info, or what a non-JSON body was;
// twilio-go itself can only report a decoder error for those), redacts,
// and counts.
func (c *Client) apiError(ctx context.Context, op, sid string, info *callInfo, err error) error {
	status := 0
	attempts := 0
	var problem string
	if info != nil {
		status, attempts = info.status, info.attempts
		if status >= 400 {
			problem = problemText(status, info.header, info.problem)
		}
	}
	var tre *client.TwilioRestError
	if errors.As(err, &tre) && status == 0 {
		status = tre.Status
	}
	var kind error
	var msg string
	switch {
	case ctx.Err() != nil:
		err = ctx.Err()
		problem = ""
	case status == http.StatusNotFound:
		kind = record.ErrNotFound
	case status == http.StatusUnauthorized:
		kind = record.ErrAuth
		msg = "Twilio rejected the credentials (" + joinNonEmpty(problem, c.credDesc) + ")"
		problem = ""
	case status == http.StatusForbidden:
		kind = record.ErrForbidden
		msg = "Twilio forbade the request to these credentials (" + joinNonEmpty(problem, c.credDesc) +
			"): a restricted API key without Intelligence permission, or an account without the feature"
		problem = ""
	case status == http.StatusConflict || status == http.StatusPreconditionFailed:
		kind = record.ErrConflict
	case status == http.StatusNotImplemented:
		kind = record.ErrNotImplemented
	case status == http.StatusTooManyRequests || status >= 500:
		kind = record.ErrUnavailable
	case status == 0 && isTransportError(err):
		kind = record.ErrUnavailable
	}
	if problem != "" {
		// The server's own words replace twilio-go's rendering of them
		// (or its decoder error); err stays reachable with errors.As.
		return c.newErrorText(op, sid, status, attempts, kind, msg, problem, err)
	}
	return c.newError(op, sid, status, attempts, kind, msg, err)
}

// joinNonEmpty joins the non-empty parts with "; ".
func joinNonEmpty(parts ...string) string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, "; ")
}

// isTransportError reports whether err came from the transport (no usable
// response) rather than from decoding one.
func isTransportError(err error) bool {
	var ue *url.Error
	return errors.As(err, &ue)
}

// newError builds a redacted *Error and counts it. kindMsg replaces the
// kind's own text when set.
func (c *Client) newError(op, sid string, status, attempts int, kind error, kindMsg string, cause error) error {
	cause = stripURLError(cause)
	text := ""
	if cause != nil {
		text = describe(cause)
	}
	return c.newErrorText(op, sid, status, attempts, kind, kindMsg, text, cause)
}

// newErrorText is newError with the cause's text given.
func (c *Client) newErrorText(op, sid string, status, attempts int, kind error, kindMsg, text string, cause error) error {
	// A 404 answers a lookup of a name that does not exist, and a request
	// its caller gave up on (an interrupted read) did not fail: neither
	// is counted as an error.
	if kind != record.ErrNotFound && !errors.Is(cause, context.Canceled) {
		c.stats.errors.Add(1)
	}
	cause = stripURLError(cause)
	var parts []string
	if kindMsg == "" && kind != nil {
		kindMsg = kind.Error()
	}
	if kindMsg != "" {
		parts = append(parts, kindMsg)
	}
	if text != "" {
		parts = append(parts, text)
	}
	return &Error{Op: op, SID: sid, Status: status, Attempts: attempts,
		Err: &causeError{kind: kind, msg: oneLine(c.Redact(strings.Join(parts, ": "))), cause: cause}}
}

// stripURLError drops *url.Error layers: they print the whole URL, query
// string included. What they wrap says what went wrong.
func stripURLError(err error) error {
	for {
		ue, ok := err.(*url.Error)
		if !ok {
			return err
		}
		err = ue.Err
	}
}

// describe renders a cause, turning twilio-go's REST errors into one short
// phrase.
func describe(err error) string {
	var tre *client.TwilioRestError
	if errors.As(err, &tre) {
		if tre.Message != "" {
			return fmt.Sprintf("twilio error %d: %s", tre.Code, tre.Message)
		}
		return fmt.Sprintf("twilio error %d", tre.Code)
	}
	return err.Error()
}
