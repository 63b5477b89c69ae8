package twiliosim

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Options configure a Server. The zero value is usable: a plain service
// only (no Keys, so no encrypted or mixed service), 20 transcripts, seed 0.
type Options struct {
	// Keys are the public keys registered before start. Keys[0] encrypts
	// the generated encrypted and mixed services (Keys[1] too with
	// Corpus.Rotation). Without keys those services are absent.
	Keys []Credential
	// Corpus shapes the generated data.
	Corpus CorpusOptions
	// URLTTL is the lifetime of presigned object URLs (default 15m; rounded
	// up to whole seconds, at least 1s, as X-Amz-Expires is in seconds).
	URLTTL time.Duration
	// AccountSID and AuthToken are the accepted account credentials;
	// APIKeySID and APIKeySecret an accepted API key. Empty fields are
	// generated deterministically from Corpus.Seed.
	AccountSID, AuthToken, APIKeySID, APIKeySecret string
	// Logger receives one debug line per request (never a query string of
	// an object URL). Nil discards.
	Logger *slog.Logger
	// OnRequest, if set, is called synchronously for every request the
	// simulator receives (from many goroutines at once).
	OnRequest func(RequestInfo)
	// Now replaces time.Now (for URL expiry and new resources' dates).
	Now func() time.Time
	// ObjectStoreBytes bounds the sealed objects kept between downloads
	// (default 256 MiB). An object is sealed once and served byte-identical
	// until it falls out of this bound, as S3 serves a stored object.
	ObjectStoreBytes int64
}

// RequestInfo describes one received request, for Options.OnRequest.
type RequestInfo struct {
	// Endpoint is one of the Endpoint constants ("" for unknown paths).
	Endpoint string
	// Method and Path of the request.
	Method, Path string
	// Query is the request's query (nil for object-store requests, whose
	// query is a bearer credential).
	Query url.Values
	// TranscriptSID is the transcript the request is about, if any.
	TranscriptSID string
	// Authorization reports whether an Authorization header was present.
	Authorization bool
}

// Endpoint names used by Counts, Count, LastQuery and RequestInfo.
const (
	EndpointListServices             = "ListServices"
	EndpointCreateService            = "CreateService"
	EndpointFetchService             = "FetchService"
	EndpointUpdateService            = "UpdateService"
	EndpointListTranscripts          = "ListTranscripts"
	EndpointFetchTranscript          = "FetchTranscript"
	EndpointDeleteTranscript         = "DeleteTranscript"
	EndpointListSentences            = "ListSentences"
	EndpointEncryptedSentences       = "EncryptedSentences"
	EndpointListOperatorResults      = "ListOperatorResults"
	EndpointFetchOperatorResult      = "FetchOperatorResult"
	EndpointEncryptedOperatorResults = "EncryptedOperatorResults"
	EndpointFetchMedia               = "FetchMedia"
	EndpointCreatePublicKey          = "CreatePublicKey"
	EndpointListPublicKeys           = "ListPublicKeys"
	EndpointFetchPublicKey           = "FetchPublicKey"
	EndpointObjectGet                = "ObjectGet"
	// EndpointUnknown counts requests to paths the simulator does not serve.
	EndpointUnknown = "Unknown"
)

// Counter names besides the endpoints.
const (
	// CounterObjectAuthViolations counts object-store requests that carried
	// an Authorization header (the client leaked Twilio credentials).
	CounterObjectAuthViolations = "ObjectAuthViolations"
	// CounterUnauthorized counts API requests rejected with 401.
	CounterUnauthorized = "Unauthorized"
	// CounterFaultPrefix prefixes the count of each injected fault, named
	// after its Faults field, e.g. "Fault:TooManyRequests".
	CounterFaultPrefix = "Fault:"
	// CounterAPIConcurrencyPeak is the most API requests seen in process
	// at once while Faults.ConcurrencyLimit is set (a maximum, not a count).
	CounterAPIConcurrencyPeak = "APIConcurrencyPeak"
)

// Server is a running simulator.
type Server struct {
	// URL is the base URL, http://127.0.0.1:PORT, with no trailing slash.
	URL string
	// AccountSID, AuthToken, APIKeySID and APIKeySecret are the credentials
	// the server accepts (as given in Options or generated).
	AccountSID, AuthToken, APIKeySID, APIKeySecret string

	corpus  CorpusOptions
	ttl     time.Duration
	signKey []byte
	logger  *slog.Logger
	onReq   func(RequestInfo)
	now     func() time.Time
	ln      net.Listener
	srv     *http.Server

	mu        sync.RWMutex
	services  []*service
	all       []*transcript // ascending (created, sid)
	bySID     map[string]*transcript
	creds     []*credential
	credBySID map[string]*credential
	credSeq   uint64
	objects   *objectStore

	faultMu     sync.Mutex
	faults      Faults
	remaining   map[string]int
	apiInFlight atomic.Int64 // for Faults.ConcurrencyLimit
	answers     atomic.Int64 // encrypted operator-result answers, for ReverseLocations

	countMu   sync.Mutex
	counts    map[string]*atomic.Int64
	lastQuery map[string]url.Values
}

// credential is a registered public key.
type credential struct {
	sid, friendly    string
	pub              *rsa.PublicKey
	created, updated time.Time
}

var (
	reCR = regexp.MustCompile(`^CR[0-9a-fA-F]{32}$`)
	reGT = regexp.MustCompile(`^GT[0-9a-fA-F]{32}$`)
	reGA = regexp.MustCompile(`^GA[0-9a-fA-F]{32}$`)
	reLY = regexp.MustCompile(`^LY[0-9a-fA-F]{32}$`)
	reAC = regexp.MustCompile(`^AC[0-9a-fA-F]{32}$`)
)

// NewServer generates the corpus and starts serving on 127.0.0.1:0.
func NewServer(opts Options) (*Server, error) {
	s := &Server{
		corpus:    opts.Corpus.withDefaults(),
		logger:    opts.Logger,
		onReq:     opts.OnRequest,
		now:       opts.Now,
		counts:    map[string]*atomic.Int64{},
		lastQuery: map[string]url.Values{},
		remaining: map[string]int{},
		credBySID: map[string]*credential{},
		objects:   newObjectStore(opts.ObjectStoreBytes),
	}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.ttl = opts.URLTTL
	if s.ttl <= 0 {
		s.ttl = 15 * time.Minute
	}
	if s.ttl < time.Second {
		s.ttl = time.Second
	}
	s.ttl = (s.ttl + time.Second - 1).Truncate(time.Second)
	seed := s.corpus.Seed
	s.AccountSID = firstNonEmpty(opts.AccountSID, makeSID("AC", seed, sidAccount))
	s.AuthToken = firstNonEmpty(opts.AuthToken, makeSID("", seed, sidSecret, 1)[2:])
	s.APIKeySID = firstNonEmpty(opts.APIKeySID, makeSID("SK", seed, sidAPIKey))
	s.APIKeySecret = firstNonEmpty(opts.APIKeySecret, makeSID("", seed, sidSecret, 2)[2:])
	s.signKey = make([]byte, 32)
	if _, err := rand.Read(s.signKey); err != nil {
		return nil, err
	}
	credCreated := s.corpus.End.AddDate(0, 0, -s.corpus.Days-30)
	for i, k := range opts.Keys {
		if k.PublicKey == nil {
			return nil, fmt.Errorf("twiliosim: Keys[%d] has no PublicKey", i)
		}
		sid := k.SID
		if sid == "" {
			sid = makeSID("CR", seed, sidCredential, uint64(i))
		}
		if !reCR.MatchString(sid) {
			return nil, fmt.Errorf("twiliosim: Keys[%d].SID %q is not a CR sid", i, sid)
		}
		if _, dup := s.credBySID[sid]; dup {
			return nil, fmt.Errorf("twiliosim: Keys[%d].SID %s given twice", i, sid)
		}
		c := &credential{sid: sid, friendly: k.FriendlyName, pub: k.PublicKey, created: credCreated.Add(time.Duration(i) * 24 * time.Hour)}
		c.updated = c.created
		s.creds = append(s.creds, c)
		s.credBySID[sid] = c
	}
	if err := s.buildCorpus(); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("twiliosim: listen: %w", err)
	}
	s.ln = ln
	s.URL = "http://" + ln.Addr().String()
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(s.logger.Handler(), slog.LevelDebug)}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// firstNonEmpty returns a unless it is empty, then b.
func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// Close stops the server and closes every connection, like httptest.Server.Close.
func (s *Server) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		_ = s.srv.Close()
	}
}

// Client returns an http.Client for talking to the server (no auth set).
func (s *Server) Client() *http.Client {
	return &http.Client{Timeout: 30 * time.Second}
}

// counter returns the counter for name, creating it.
func (s *Server) counter(name string) *atomic.Int64 {
	s.countMu.Lock()
	defer s.countMu.Unlock()
	c, ok := s.counts[name]
	if !ok {
		c = new(atomic.Int64)
		s.counts[name] = c
	}
	return c
}

// Counts returns a snapshot of every non-zero counter: requests per
// endpoint (Endpoint constants) and the Counter* names.
func (s *Server) Counts() map[string]int64 {
	s.countMu.Lock()
	defer s.countMu.Unlock()
	out := make(map[string]int64, len(s.counts))
	for k, c := range s.counts {
		if v := c.Load(); v != 0 {
			out[k] = v
		}
	}
	return out
}

// Count returns one counter's value.
func (s *Server) Count(name string) int64 {
	return s.counter(name).Load()
}

// ResetCounts sets every counter to zero and forgets the recorded queries.
func (s *Server) ResetCounts() {
	s.countMu.Lock()
	defer s.countMu.Unlock()
	for _, c := range s.counts {
		c.Store(0)
	}
	s.lastQuery = map[string]url.Values{}
}

// LastQuery returns the query parameters of the last request to endpoint
// (nil if none since the last ResetCounts; never recorded for EndpointObjectGet).
func (s *Server) LastQuery(endpoint string) url.Values {
	s.countMu.Lock()
	defer s.countMu.Unlock()
	q := s.lastQuery[endpoint]
	if q == nil {
		return nil
	}
	out := make(url.Values, len(q))
	for k, v := range q {
		out[k] = append([]string(nil), v...)
	}
	return out
}

// record counts a request and calls the hook.
func (s *Server) record(info RequestInfo) {
	s.counter(info.Endpoint).Add(1)
	if info.Query != nil {
		s.countMu.Lock()
		s.lastQuery[info.Endpoint] = info.Query
		s.countMu.Unlock()
	}
	if s.onReq != nil {
		s.onReq(info)
	}
}

// ServeHTTP routes a request to the API or the object store.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/objects/") {
		s.serveObject(w, r)
		return
	}
	s.serveAPI(w, r)
}

// apiError is a Twilio REST error.
type apiError struct {
	status  int
	code    int
	message string
}

// Error returns the message.
func (e *apiError) Error() string { return e.message }

// errorf builds an apiError with the conventional code for status.
func errorf(status int, format string, args ...any) *apiError {
	code := map[int]int{400: 20001, 401: 20003, 403: 20403, 404: 20404, 405: 20004, 412: 20412, 429: 20429}[status]
	if code == 0 && status >= 500 {
		code = 20500
	}
	return &apiError{status: status, code: code, message: fmt.Sprintf(format, args...)}
}

// notFound is Twilio's 404 for a path.
func notFound(path string) *apiError {
	return errorf(404, "The requested resource %s was not found", path)
}

// errorBody renders a Twilio error body.
func errorBody(e *apiError) []byte {
	b := []byte(`{"code":`)
	b = fmt.Appendf(b, "%d", e.code)
	b = append(b, `,"message":`...)
	b = appendJSONString(b, e.message)
	b = fmt.Appendf(b, `,"more_info":"https://www.twilio.com/docs/errors/%d","status":%d}`, e.code, e.status)
	return b
}

// writeAPIError sends a Twilio error response.
func (s *Server) writeAPIError(w http.ResponseWriter, e *apiError) {
	body := errorBody(e)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", fmt.Sprint(len(body)))
	w.WriteHeader(e.status)
	_, _ = w.Write(body)
}

// authorized checks HTTP Basic credentials.
func (s *Server) authorized(r *http.Request) bool {
	if s.currentFaults().WrongCredentials {
		return false
	}
	u, p, ok := r.BasicAuth()
	if !ok {
		return false
	}
	eq := func(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }
	return (eq(u, s.AccountSID) && eq(p, s.AuthToken)) || (eq(u, s.APIKeySID) && eq(p, s.APIKeySecret))
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// randomHex returns n random bytes in hex (request ids).
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// readForm parses an urlencoded POST body (bounded).
func readForm(r *http.Request) (url.Values, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	v, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, errors.New("malformed form body")
	}
	return v, nil
}
