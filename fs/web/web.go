// Package web is the private transcript viewer of `intelligencefs serve`:
// an http.Handler that shows an account's services, transcripts,
// conversations and operator results, and searches them with the engine of
// package fs/search, decrypting in memory exactly as the mount does.
//
// Like fs/search it lives under fs/ without FUSE (it imports neither
// go-fuse nor twilio-go directly), so the viewer runs on Linux, macOS and
// Windows. Pages are server-rendered with html/template (every transcript
// text is escaped) and usable without JavaScript; the only script is a
// small keyboard helper, served from the binary like the stylesheet (no
// CDN).
//
// Access needs a random token: a request carrying it as ?token= gets it as
// an HttpOnly, SameSite=Strict cookie and is redirected to the same page
// without it; every other request without the cookie is 403. The cookie's
// name is random per Server, and on loopback the viewer is addressed by a
// host name of its own, <random>.localhost (browsers resolve every
// .localhost name to the loopback address): browsers do not keep cookies
// apart by port, so a cookie set for 127.0.0.1 would be sent to every
// service listening there (a dev server, Jupyter, another user's
// listener); one set for a random name goes to that name only, and two
// viewers never overwrite each other's. Requests to 127.0.0.1:PORT are
// redirected there. Every response forbids caching (no plaintext in the
// browser's disk cache), framing and referrers, and carries a
// Content-Security-Policy that allows only this origin's own script and
// style. The Host header must name the viewer, which defeats DNS
// rebinding.
package web

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/intelligencefs/intelligencefs/fetch/record"
	"github.com/intelligencefs/intelligencefs/fs/catalog"
	"github.com/intelligencefs/intelligencefs/fs/plaincache"
	"github.com/intelligencefs/intelligencefs/fs/search"
)

//go:embed assets templates
var files embed.FS

// Source is what the viewer needs from Twilio: what every reader needs
// (catalog.ContentSource) plus one transcript by SID for its page.
// *fetch.Client satisfies it (asserted where serve builds the viewer).
type Source interface {
	catalog.ContentSource
	FetchTranscript(ctx context.Context, sid string) (record.Transcript, error)
}

// Options configure a Server.
type Options struct {
	// Source lists and fetches; required.
	Source Source
	// Decrypter opens encrypted transcripts (nil: only plain ones read).
	Decrypter catalog.Decrypter
	// Token is the access token; required, at least 32 characters.
	Token string
	// Hosts are the values of the Host header accepted (e.g.
	// "ifs-….localhost:8080", see AddressFor); required. The first is the
	// viewer's own address, where RedirectHosts send a browser.
	Hosts []string
	// RedirectHosts are Host values answered with a redirect to the first
	// of Hosts (same path and query) and nothing else, never a cookie: the
	// listener's 127.0.0.1:PORT and localhost:PORT, when Hosts names a
	// private <random>.localhost.
	RedirectHosts []string
	// CookieName is the access cookie's name; "" picks a random one per
	// Server, so two viewers never overwrite each other's cookie. Over TLS
	// it carries the __Host- prefix (Secure, Path=/, no Domain).
	CookieName string
	// Workers bounds the transcripts a search fetches at once.
	Workers int
	// CacheSize bounds the plaintext cache the Server builds and owns for
	// decrypted documents between page views: off-heap, zeroed when
	// dropped, as a mount's (0: DefaultCacheSize). Close zeroes it.
	CacheSize int64
	// CacheMaxAge drops cached documents this old (0: no age bound).
	CacheMaxAge time.Duration
	// Mlock is the cache's memory-locking policy (the zero value: auto).
	Mlock plaincache.MlockMode
	// Prefetch is how many transcripts listed after an opened one are
	// fetched and decrypted ahead (0: DefaultPrefetch; negative: none).
	Prefetch int
	// Logger receives one line per failed request (never content, token
	// or URL query); nil discards.
	Logger *slog.Logger
}

// DefaultPrefetch is the default of Options.Prefetch.
const DefaultPrefetch = 4

// DefaultCacheSize is the default of Options.CacheSize.
const DefaultCacheSize = 64 << 20

// CookiePrefix begins every access cookie's name; a random suffix per
// Server follows (Options.CookieName).
const CookiePrefix = "intelligencefs_token_"

// Server is the viewer's http.Handler.
type Server struct {
	o       Options
	log     *slog.Logger
	pages   *template.Template
	mux     *http.ServeMux
	eng     *search.Engine
	content *content
	cache   *plaincache.Cache
}

// New builds a Server.
func New(o Options) (*Server, error) {
	if o.Source == nil {
		return nil, errors.New("web: no source")
	}
	if len(o.Token) < 32 {
		return nil, errors.New("web: the access token must be at least 32 characters")
	}
	if len(o.Hosts) == 0 {
		return nil, errors.New("web: no accepted Host given")
	}
	for _, h := range append(append([]string{}, o.Hosts...), o.RedirectHosts...) {
		if h == "" || h != record.SafeText(h) || strings.ContainsAny(h, " /?#@") {
			return nil, fmt.Errorf("web: %s is not a host[:port]", record.QuoteText(h, 60))
		}
	}
	if o.CookieName == "" {
		o.CookieName = CookiePrefix + randomHex(8)
	}
	if !validCookieName(o.CookieName) {
		return nil, fmt.Errorf("web: %s is not a cookie name", record.QuoteText(o.CookieName, 60))
	}
	s := &Server{o: o, log: o.Logger}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	t, err := template.New("").Funcs(funcs).ParseFS(files, "templates/*.html")
	if err != nil {
		return nil, err
	}
	s.pages = t
	s.eng = search.New(search.Options{Source: o.Source, Decrypter: o.Decrypter, Workers: o.Workers})
	if o.CacheSize <= 0 {
		o.CacheSize = DefaultCacheSize
	}
	switch {
	case o.Prefetch == 0:
		o.Prefetch = DefaultPrefetch
	case o.Prefetch < 0:
		o.Prefetch = 0
	}
	c, err := plaincache.New(plaincache.Options{MaxBytes: o.CacheSize, MaxAge: o.CacheMaxAge, Mlock: o.Mlock})
	if err != nil {
		return nil, fmt.Errorf("plaintext cache: %w", err)
	}
	s.o, s.cache = o, c
	s.content = newContent(o.Source, o.Decrypter, c, o.Prefetch)
	assets, _ := fs.Sub(files, "assets")
	s.mux = http.NewServeMux()
	s.mux.Handle("GET /assets/", http.StripPrefix("/assets/", http.FileServerFS(assets)))
	s.mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/services", http.StatusSeeOther)
	})
	s.mux.HandleFunc("GET /services", s.services)
	s.mux.HandleFunc("GET /services/{sid}", s.transcripts)
	s.mux.HandleFunc("GET /transcripts/{sid}", s.transcript)
	s.mux.HandleFunc("GET /transcripts/{sid}/download/{file}", s.download)
	s.mux.HandleFunc("GET /search", s.search)
	return s, nil
}

// Close zeroes and unmaps the Server's plaintext cache. Call it once no
// request is being served any more (after http.Server.Shutdown).
func (s *Server) Close() { s.cache.Close() }

// securityHeaders are set on every response.
var securityHeaders = map[string]string{
	"Cache-Control":           "no-store",
	"Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
	"X-Frame-Options":         "DENY",
	"Referrer-Policy":         "no-referrer",
	"X-Content-Type-Options":  "nosniff",
}

// ServeHTTP checks the Host header and the token, then serves the page,
// with one debug line per request: method, path and status only (the
// query can hold the token or a search term, the Host is the client's).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	sw := &statusWriter{ResponseWriter: w}
	s.serve(sw, r)
	s.log.Debug("web: request", "method", r.Method, "path", r.URL.Path, "status", sw.status())
}

// statusWriter remembers the status of a response for the request log;
// it passes Flush on (search streams its results).
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Flush passes a flush on to the connection.
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		if w.code == 0 {
			w.code = http.StatusOK
		}
		f.Flush()
	}
}

// Unwrap gives http.ResponseController the connection's writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) status() int {
	if w.code == 0 {
		return http.StatusOK
	}
	return w.code
}

// serve is ServeHTTP without the request log.
func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	for k, v := range securityHeaders {
		h.Set(k, v)
	}
	if hostIn(s.o.RedirectHosts, r.Host) {
		// Never a cookie here: it would reach every port of this host.
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		http.Redirect(w, r, scheme+"://"+s.o.Hosts[0]+r.URL.RequestURI(), http.StatusTemporaryRedirect)
		return
	}
	if !hostIn(s.o.Hosts, r.Host) {
		http.Error(w, "forbidden: unexpected Host header", http.StatusForbidden)
		return
	}
	if tok := r.URL.Query().Get("token"); tok != "" {
		if !s.tokenOK(tok) {
			http.Error(w, "forbidden: wrong token", http.StatusForbidden)
			return
		}
		http.SetCookie(w, &http.Cookie{Name: s.cookieName(r), Value: s.o.Token, Path: "/", HttpOnly: true,
			SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
		q := r.URL.Query()
		q.Del("token")
		u := url.URL{Path: r.URL.Path, RawQuery: q.Encode()}
		http.Redirect(w, r, u.String(), http.StatusSeeOther)
		return
	}
	c, err := r.Cookie(s.cookieName(r))
	if err != nil || !s.tokenOK(c.Value) {
		http.Error(w, "forbidden: open the URL with the token that intelligencefs serve printed", http.StatusForbidden)
		return
	}
	s.mux.ServeHTTP(w, r)
}

func (s *Server) tokenOK(t string) bool {
	return subtle.ConstantTimeCompare([]byte(t), []byte(s.o.Token)) == 1
}

// CookieName is the access cookie's name over plain HTTP (over TLS it
// carries the __Host- prefix).
func (s *Server) CookieName() string { return s.o.CookieName }

// cookieName is the access cookie's name for r: __Host- prefixed over TLS,
// so that the browser keeps it Secure, on this host only, for every path.
func (s *Server) cookieName(r *http.Request) string {
	if r.TLS != nil {
		return "__Host-" + s.o.CookieName
	}
	return s.o.CookieName
}

// hostIn reports whether host is one of list (case-insensitive).
func hostIn(list []string, host string) bool {
	for _, h := range list {
		if strings.EqualFold(h, host) {
			return true
		}
	}
	return false
}

// validCookieName reports a name made of token characters (RFC 6265).
func validCookieName(n string) bool {
	if n == "" {
		return false
	}
	for _, c := range []byte(n) {
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`()<>@,;:\"/[]?={}`, c) >= 0 {
			return false
		}
	}
	return true
}

// randomHex is n random bytes in hex.
func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return hex.EncodeToString(b)
}

// PrivateHost returns a fresh host name for one viewer:
// "ifs-<16 random hex digits>.localhost". Browsers resolve every name under
// .localhost to the loopback address (RFC 6761), and keep a cookie set for
// it to that name: no service on another port of 127.0.0.1 receives it.
func PrivateHost() string { return "ifs-" + randomHex(8) + ".localhost" }

// Addressing is how a viewer listening on one address is reached: the
// Host values it serves (Options.Hosts; the first is the address to open),
// those it redirects from (Options.RedirectHosts).
type Addressing struct {
	Hosts, RedirectHosts []string
}

// URL is the address to open, with scheme ("http" or "https").
func (a Addressing) URL(scheme string) string { return scheme + "://" + a.Hosts[0] }

// ErrWildcardNeedsHost is AddressFor's error for a wildcard listen address
// (0.0.0.0, ::) without a host name: no Host header can be checked
// against "[::]:8080".
var ErrWildcardNeedsHost = errors.New("listening on every address needs the host name clients use to reach it")

// AddressFor says how to reach a viewer that listens on listen (the
// address as the user gave it, host:port) and was bound to port (the
// listener's actual port, for port 0). host is the name clients use (the
// --host flag), "" for none. On loopback without a host, the viewer gets a
// PrivateHost name and 127.0.0.1/localhost redirect there. With a host,
// that name is served (and a specific listen address too). A wildcard
// listen address (0.0.0.0, ::, "") needs a host: ErrWildcardNeedsHost.
func AddressFor(listen, port, host string) (Addressing, error) {
	lh, _, err := net.SplitHostPort(listen)
	if err != nil {
		return Addressing{}, fmt.Errorf("web: listen address %s: %w", record.QuoteText(listen, 60), err)
	}
	if host != "" {
		if strings.ContainsAny(host, ":/?#@[] ") || host != record.SafeText(host) {
			return Addressing{}, fmt.Errorf("web: %s is not a host name (give the name alone, without port or scheme)", record.QuoteText(host, 60))
		}
	}
	ip := net.ParseIP(lh)
	wildcard := lh == "" || (ip != nil && ip.IsUnspecified())
	loopback := strings.EqualFold(lh, "localhost") || (ip != nil && ip.IsLoopback())
	switch {
	case host != "":
		a := Addressing{Hosts: []string{net.JoinHostPort(host, port)}}
		if !wildcard {
			a.Hosts = append(a.Hosts, net.JoinHostPort(lh, port))
		}
		return a, nil
	case wildcard:
		return Addressing{}, ErrWildcardNeedsHost
	case loopback:
		return Addressing{Hosts: []string{net.JoinHostPort(PrivateHost(), port)}, RedirectHosts: HostsFor(net.JoinHostPort(lh, port))}, nil
	}
	return Addressing{Hosts: []string{net.JoinHostPort(lh, port)}}, nil
}

// HostsFor returns the Host values a browser sends for a server listening
// on addr (host:port): the address itself and, for loopback, localhost.
func HostsFor(addr string) []string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return []string{addr}
	}
	out := []string{addr}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		out = append(out, net.JoinHostPort("localhost", port))
	}
	return out
}

// attachment is the Content-Disposition of a download named name. The
// name is built from the transcript's SID, which fetch checked; the header
// is built by mime.FormatMediaType anyway (quoted, RFC 2231-encoded when
// it holds anything but printable ASCII), so no server string can end the
// header or add one. A name it cannot render gets no filename at all.
func attachment(name string) string {
	if v := mime.FormatMediaType("attachment", map[string]string{"filename": name}); v != "" {
		return v
	}
	return "attachment"
}
