package fetch

import (
	"context"
	"errors"
	"fmt"
	"github.com/intelligencefs/intelligencefs/fetch/record"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync/atomic"
	"time"

	"github.com/twilio/twilio-go/client"
	"golang.org/x/time/rate"

	"github.com/intelligencefs/intelligencefs/fetch/sealedcache"
)

// Defaults applied by New to zero Config fields.
const (
	// DefaultMaxConcurrency is the ceiling of the adaptive concurrency
	// limits.
	DefaultMaxConcurrency = 64
	// DefaultInitialConcurrency is where the adaptive limits start (the
	// fixed limit of earlier versions).
	DefaultInitialConcurrency = 16
	DefaultTimeout            = 30 * time.Second
	DefaultMaxAttempts        = 5
	DefaultMaxRetryTime       = 60 * time.Second
	// DefaultMaxThrottleTime is the budget of waits after 429s: enough to
	// ride out half a minute of an account's concurrency storm.
	DefaultMaxThrottleTime = 60 * time.Second
	DefaultMaxBodyBytes    = 512 << 20
	// DefaultMaxAPIBodyBytes bounds one API response (a page of JSON): a
	// full page of 5,000 sentences with word timestamps is a few MiB, so
	// anything near this is not a page but a server gone wrong.
	DefaultMaxAPIBodyBytes = 32 << 20
	// DefaultMaxListBytes bounds the bytes received for one listing, all
	// its pages together (a services list, a transcripts listing, the
	// pages of one transcript's plain sentences or operator results).
	DefaultMaxListBytes = 512 << 20
	// DefaultPageSize is the transcript (and service, operator result,
	// public key) page size: the API's maximum.
	DefaultPageSize = 1000
	// SentencePageSize is the page size used for plain sentences: the API's
	// maximum for that list.
	SentencePageSize = 5000
)

// The hosts twilio-go addresses; RequestHandler applies edge and region to
// them, and Config.APIURL replaces scheme and host after that.
const (
	accountsBase = "https://accounts.twilio.com"
)

// Config is everything a Client needs. Zero values select the defaults.
type Config struct {
	// AccountSID is the Twilio account (AC…). Required with AuthToken; with an
	// API key it names the account the key belongs to.
	AccountSID string
	// AuthToken is the account's auth token. Never logged.
	AuthToken string
	// APIKey is an API key SID (SK…); when set, APIKey/APISecret are used
	// instead of AccountSID/AuthToken.
	APIKey string
	// APISecret is the API key's secret. Never logged.
	APISecret string

	// APIURL, when set, sends every REST call to this scheme, host and
	// optional path prefix instead of the Twilio hosts. The rewrite happens
	// after twilio-go applied edge and region. Plain http is accepted only for
	// loopback hosts (127.0.0.0/8, ::1, localhost).
	APIURL string
	// Edge and Region are twilio-go's TWILIO_EDGE / TWILIO_REGION; empty
	// means the environment variable.
	Edge, Region string

	// Unredacted asks for unredacted content (Redacted=false) on the sentence
	// and operator result endpoints, plain and encrypted. Otherwise the API
	// default applies.
	Unredacted bool
	// WordTimestamps asks the plain Sentences list for word-level timing
	// (WordTimestamps=true). Otherwise the API default (false) applies.
	WordTimestamps bool

	// MaxConcurrency is the ceiling of the adaptive limit of Twilio API
	// requests in flight across all callers (default 64). Twilio limits
	// concurrency per account, at a number the customer does not know and
	// other applications share: the limit starts at InitialConcurrency,
	// grows while requests succeed and backs off on 429 (see limiter).
	MaxConcurrency int
	// MaxObjectConcurrency is the ceiling of the adaptive limit of
	// presigned object downloads in flight (default MaxConcurrency). They
	// go to the object store, not to Twilio's API, so they have a limit of
	// their own and do not count against RateLimit.
	MaxObjectConcurrency int
	// InitialConcurrency is where both adaptive limits start (default
	// DefaultInitialConcurrency, at most the ceilings).
	InitialConcurrency int
	// FixedConcurrency keeps both limits at their ceilings, unadapted (the
	// behaviour before adaptive limits; for side-by-side measurements and
	// for proxies that queue requests instead of refusing them).
	FixedConcurrency bool
	// RateLimit bounds Twilio API requests (attempts) per second across all
	// callers; 0 means unlimited.
	RateLimit float64
	// Timeout bounds one HTTP attempt, headers and body (default 30s).
	Timeout time.Duration
	// MaxAttempts bounds the attempts of one request, the first included
	// (default 5).
	MaxAttempts int
	// MaxRetryTime bounds the time from a request's first attempt to the
	// start of its last one, waits included (default 60s).
	MaxRetryTime time.Duration
	// MaxThrottleTime bounds the waits after 429 answers of one request
	// (default 60s): the first retry goes at once, at the head of the
	// adaptive limit's queue, later ones after jittered exponential
	// backoff, or Retry-After when sent (with FixedConcurrency every one
	// backs off). They are
	// retried on this budget alone, not counted in MaxAttempts or
	// MaxRetryTime: a 429 was never processed.
	MaxThrottleTime time.Duration
	// MaxBodyBytes bounds an object body from the object store (default
	// 512 MiB).
	MaxBodyBytes int64
	// MaxAPIBodyBytes bounds one REST API response body (default 32 MiB).
	MaxAPIBodyBytes int64
	// MaxListBytes bounds the bytes of all pages of one listing together
	// (default 512 MiB).
	MaxListBytes int64

	// Transport is the base round tripper for both the API and the object
	// store (nil: a clone of http.DefaultTransport). Tests use it to trust a
	// test TLS server.
	Transport http.RoundTripper
	// Logger receives debug lines per HTTP attempt and warnings when retries
	// are exhausted; nil discards.
	Logger *slog.Logger
	// ObserveAttempt, when set, is told the duration of every HTTP attempt
	// (from holding a concurrency slot to the whole body read, or the
	// failure), with its kind: AttemptAPI or AttemptObject. The CLI feeds
	// its latency histograms from it. It must be quick and safe for
	// concurrent use.
	ObserveAttempt func(kind string, d time.Duration)

	// SealedCache, when set, keeps the sealed objects of encrypted
	// transcripts on disk across runs (OpenSentences, OperatorResultLocations,
	// OpenOperatorResult). The Client closes it in Close.
	SealedCache *sealedcache.Store

	// sleep replaces the retry wait in tests (a fake clock).
	sleep func(ctx context.Context, d time.Duration) error
}

// Client talks to Twilio. It is safe for concurrent use; all its methods
// share one concurrency limit and one rate limiter.
type Client struct {
	cfg        Config
	log        *slog.Logger
	creds      *client.Credentials
	accountSID string
	credDesc   string // "auth token for account AC…" or "API key SK…"
	apiURL     *url.URL
	origin     string // APIOrigin, computed once
	edge       string
	region     string
	secrets    []string

	lim      *limiter // Twilio API requests: concurrency and rate
	objLim   *limiter // object downloads: concurrency only
	stats    *counters
	apiRT    *transport
	objRT    *transport
	objHTTP  *http.Client
	base     http.RoundTripper
	callTime time.Duration

	// smallSentencePages is set once the API refused Sentences pages of
	// SentencePageSize: 1000 is asked from then on.
	smallSentencePages atomic.Bool
}

// New validates cfg and builds a Client. It makes no request.
func New(cfg Config) (*Client, error) {
	c := &Client{cfg: cfg, log: cfg.Logger}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	switch {
	case cfg.APIKey != "":
		if cfg.APISecret == "" {
			return nil, errors.New("fetch: API key given without its secret")
		}
		c.creds = client.NewCredentials(cfg.APIKey, cfg.APISecret)
		c.credDesc = "API key " + cfg.APIKey
		c.secrets = append(c.secrets, cfg.APISecret)
	case cfg.AccountSID != "" && cfg.AuthToken != "":
		c.creds = client.NewCredentials(cfg.AccountSID, cfg.AuthToken)
		c.credDesc = "auth token for account " + cfg.AccountSID
		c.secrets = append(c.secrets, cfg.AuthToken)
	default:
		return nil, errors.New("fetch: no credentials: need an account SID and auth token, or an API key and secret")
	}
	// twilio-go refuses (per request) credentials that are not alphanumeric;
	// say so once, up front, without echoing them.
	if !alnum.MatchString(c.creds.Username) {
		return nil, errors.New("fetch: the account SID / API key SID must be letters and digits only")
	}
	if !alnum.MatchString(c.creds.Password) {
		return nil, errors.New("fetch: the auth token / API secret must be letters and digits only")
	}
	if cfg.AuthToken != "" && cfg.APIKey != "" {
		c.secrets = append(c.secrets, cfg.AuthToken)
	}
	c.accountSID = cfg.AccountSID

	if cfg.APIURL != "" {
		u, err := parseBaseURL(cfg.APIURL)
		if err != nil {
			return nil, err
		}
		c.apiURL = u
	}
	c.edge, c.region = cfg.Edge, cfg.Region
	if c.edge == "" {
		c.edge = os.Getenv("TWILIO_EDGE")
	}
	if c.region == "" {
		c.region = os.Getenv("TWILIO_REGION")
	}

	if cfg.MaxConcurrency <= 0 {
		cfg.MaxConcurrency = DefaultMaxConcurrency
	}
	if cfg.MaxObjectConcurrency <= 0 {
		cfg.MaxObjectConcurrency = cfg.MaxConcurrency
	}
	if cfg.InitialConcurrency <= 0 {
		cfg.InitialConcurrency = DefaultInitialConcurrency
	}
	if cfg.MaxThrottleTime <= 0 {
		cfg.MaxThrottleTime = DefaultMaxThrottleTime
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = DefaultMaxAttempts
	}
	if cfg.MaxRetryTime <= 0 {
		cfg.MaxRetryTime = DefaultMaxRetryTime
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.MaxAPIBodyBytes <= 0 {
		cfg.MaxAPIBodyBytes = DefaultMaxAPIBodyBytes
	}
	if cfg.MaxListBytes <= 0 {
		cfg.MaxListBytes = DefaultMaxListBytes
	}
	c.cfg = cfg

	c.base = cfg.Transport
	if c.base == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		// The API and the object store may be one host (a proxy, the
		// simulator): keep a connection for every slot of both limits.
		t.MaxIdleConnsPerHost = cfg.MaxConcurrency + cfg.MaxObjectConcurrency
		// No transparent gzip: Go would ask for it and inflate whatever
		// comes back, so a 500 KB body could become 500 MiB before any
		// size check. Without Accept-Encoding a server sends identity;
		// transport refuses an encoded body it did not ask for.
		t.DisableCompression = true
		c.base = t
	}
	var rl *rate.Limiter
	if cfg.RateLimit > 0 {
		burst := int(cfg.RateLimit)
		if burst < 1 {
			burst = 1
		}
		rl = rate.NewLimiter(rate.Limit(cfg.RateLimit), burst)
	}
	c.lim = newLimiter(kindAPI, cfg.InitialConcurrency, cfg.MaxConcurrency, rl)
	c.objLim = newLimiter(kindObject, cfg.InitialConcurrency, cfg.MaxObjectConcurrency, nil)
	if cfg.FixedConcurrency {
		c.lim.fix(cfg.MaxConcurrency)
		c.objLim.fix(cfg.MaxObjectConcurrency)
	}
	c.stats = &counters{}
	pol := &policy{
		maxAttempts:    cfg.MaxAttempts,
		maxElapsed:     cfg.MaxRetryTime,
		attemptTimeout: cfg.Timeout,
		baseDelay:      250 * time.Millisecond,
		maxDelay:       10 * time.Second,
		maxBody:        cfg.MaxBodyBytes,
		maxThrottle:    cfg.MaxThrottleTime,
	}
	sleep := cfg.sleep
	if sleep == nil {
		sleep = sleepCtx
	}
	mk := func(kind string, lim *limiter, maxBody int64) *transport {
		p := *pol
		p.maxBody = maxBody
		return &transport{base: c.base, kind: kind, pol: &p, lim: lim, st: c.stats,
			log: c.log, redact: c.Redact, sleep: sleep, observe: cfg.ObserveAttempt}
	}
	c.apiRT = mk(kindAPI, c.lim, cfg.MaxAPIBodyBytes)
	c.objRT = mk(kindObject, c.objLim, cfg.MaxBodyBytes)
	c.objHTTP = &http.Client{
		Transport:     c.objRT,
		CheckRedirect: noRedirect,
	}
	// The backstop bound of one call: every attempt's timeout plus the retry
	// budgets. Attempts themselves are bounded by cfg.Timeout.
	c.callTime = cfg.MaxRetryTime + cfg.MaxThrottleTime + 2*cfg.Timeout
	c.origin = c.apiOrigin()
	return c, nil
}

var alnum = regexp.MustCompile(`^[a-zA-Z0-9]+$`)

// noRedirect makes an http.Client return a 3xx response instead of following
// it: presigned downloads must not wander, and API credentials must not.
func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// Close releases idle connections and closes the sealed cache, once its
// queued writes are done. The Client must not be used afterwards.
func (c *Client) Close() {
	if c.cfg.SealedCache != nil {
		c.cfg.SealedCache.Close()
	}
	type idleCloser interface{ CloseIdleConnections() }
	if ic, ok := c.base.(idleCloser); ok {
		ic.CloseIdleConnections()
	}
}

// Redact is record.Redact plus the removal of this Client's
// configured secrets (auth token, API secret).
func (c *Client) Redact(s string) string {
	for _, sec := range c.secrets {
		if len(sec) >= 4 {
			s = strings.ReplaceAll(s, sec, record.Redacted)
		}
	}
	return record.Redact(s)
}

// Credential describes the credential kind in use, for messages: "auth token
// for account AC…" or "API key SK…". It never contains a secret.
func (c *Client) Credential() string { return c.credDesc }

// parseBaseURL validates Config.APIURL.
func parseBaseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("fetch: API URL %q does not parse", record.Redact(raw))
	}
	if u.Host == "" {
		return nil, fmt.Errorf("fetch: API URL %q has no host", record.Redact(raw))
	}
	if err := checkURL(u); err != nil {
		return nil, fmt.Errorf("fetch: API URL %s: %w", record.Redact(raw), err)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("fetch: API URL %s must not have a query or fragment", record.Redact(raw))
	}
	return u, nil
}

// checkURL enforces https, or http to a loopback host, and no userinfo.
func checkURL(u *url.URL) error {
	if u.User != nil {
		return fmt.Errorf("%w: user information in URL", record.ErrInsecureURL)
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
		return nil
	case "http":
		if isLoopback(u.Hostname()) {
			return nil
		}
		return fmt.Errorf("%w: plain http is allowed only to loopback addresses, not %s", record.ErrInsecureURL, u.Hostname())
	default:
		return fmt.Errorf("%w: scheme %q (want https)", record.ErrInsecureURL, u.Scheme)
	}
}

// isLoopback reports whether host is localhost, in 127.0.0.0/8, or ::1.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
