package web

import (
	"context"
	"errors"
	"mime"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/intelligencefs/intelligencefs/fetch/record"
	"github.com/intelligencefs/intelligencefs/fetch/twiliosim"
)

// localhostClient is a browser-like client: a cookie jar (which, like a
// browser, keeps cookies apart by host but not by port) and a resolver
// that sends every .localhost name to 127.0.0.1, as browsers do.
func localhostClient(t *testing.T) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	d := &net.Dialer{}
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		if strings.HasSuffix(host, ".localhost") {
			addr = net.JoinHostPort("127.0.0.1", port)
		}
		return d.DialContext(ctx, network, addr)
	}}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Jar: jar, Transport: tr}
}

// otherService is another program's listener on 127.0.0.1 (a dev server,
// Jupyter): it records the cookies it is sent.
func otherService(t *testing.T) (url string, seen func() []string) {
	var mu sync.Mutex
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range r.Cookies() {
			got = append(got, c.Name+"="+c.Value)
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL, func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), got...) }
}

// TestCookieStaysWithItsViewer: two viewers on loopback, addressed as
// AddressFor says, opened through their 127.0.0.1 URLs in one browser:
// each login is redirected to the viewer's own <random>.localhost name
// before any cookie is set, each cookie has a name of its own, neither
// overwrites the other (both stay logged in), and another service on
// 127.0.0.1 and on localhost receives no token. Before, the cookie was
// intelligencefs_token for 127.0.0.1, sent to every port there, and the
// second login replaced the first.
func TestCookieStaysWithItsViewer(t *testing.T) {
	browser := localhostClient(t)
	other, seen := otherService(t)
	type opened struct {
		v    *viewer
		base string
	}
	var vs []opened
	for range 2 {
		var addr Addressing
		v := newViewer(t, func(o *Options) {
			_, port, _ := net.SplitHostPort(strings.TrimPrefix(o.Hosts[0], "http://"))
			a, err := AddressFor("127.0.0.1:0", port, "")
			if err != nil {
				t.Fatal(err)
			}
			addr = a
			o.Hosts, o.RedirectHosts = a.Hosts, a.RedirectHosts
		})
		resp, err := browser.Get(v.srv.URL + "/services?token=" + testToken)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Request.URL.Host != addr.Hosts[0] || resp.Request.URL.RawQuery != "" {
			t.Fatalf("login: %d at %s, want 200 at %s without the token", resp.StatusCode, resp.Request.URL, addr.Hosts[0])
		}
		if !strings.HasSuffix(resp.Request.URL.Hostname(), ".localhost") {
			t.Errorf("the viewer is at %s, not a name of its own", resp.Request.URL.Host)
		}
		vs = append(vs, opened{v, addr.URL("http")})
	}
	if vs[0].v.handler.CookieName() == vs[1].v.handler.CookieName() {
		t.Errorf("two viewers share the cookie name %s", vs[0].v.handler.CookieName())
	}
	for i, o := range vs {
		resp, body := get(t, browser, o.base+"/services")
		if resp.StatusCode != 200 || strings.Contains(body, "forbidden") {
			t.Errorf("viewer %d after both logins: %d (its cookie was overwritten?)", i, resp.StatusCode)
		}
	}
	// The browser visits the other service, by address and by name.
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(other, "http://"))
	for _, u := range []string{other + "/", "http://localhost:" + port + "/"} {
		if resp, err := browser.Get(u); err == nil {
			resp.Body.Close()
		}
	}
	for _, c := range seen() {
		if strings.Contains(c, testToken) {
			t.Errorf("another service on 127.0.0.1 received the token: %s", c)
		}
	}
}

// TestAddressFor: loopback gets a private name and redirects; a wildcard
// address needs --host and then serves it (where it refused every Host
// before: "[::]:P" is no Host a client sends); a host is a name, never a
// URL or something with control characters.
func TestAddressFor(t *testing.T) {
	a, err := AddressFor("127.0.0.1:0", "8080", "")
	if err != nil || len(a.Hosts) != 1 || !strings.HasSuffix(a.Hosts[0], ".localhost:8080") ||
		len(a.RedirectHosts) != 2 || a.RedirectHosts[0] != "127.0.0.1:8080" || a.RedirectHosts[1] != "localhost:8080" {
		t.Errorf("loopback: %+v %v", a, err)
	}
	if b, _ := AddressFor("127.0.0.1:0", "8080", ""); b.Hosts[0] == a.Hosts[0] {
		t.Error("two viewers got the same private name")
	}
	for _, wild := range []string{"0.0.0.0:8443", "[::]:8443", ":8443"} {
		if _, err := AddressFor(wild, "8443", ""); !errors.Is(err, ErrWildcardNeedsHost) {
			t.Errorf("%s without a host: %v", wild, err)
		}
		a, err := AddressFor(wild, "8443", "viewer.example.org")
		if err != nil || len(a.Hosts) != 1 || a.Hosts[0] != "viewer.example.org:8443" || a.URL("https") != "https://viewer.example.org:8443" {
			t.Errorf("%s with a host: %+v %v", wild, a, err)
		}
	}
	if a, err := AddressFor("192.0.2.7:8443", "8443", ""); err != nil || len(a.Hosts) != 1 || a.Hosts[0] != "192.0.2.7:8443" {
		t.Errorf("specific address: %+v %v", a, err)
	}
	for _, bad := range append([]string{"https://x.example", "x.example:1", "a/b"}, twiliosim.HostileNames...) {
		if bad == "" {
			continue
		}
		if _, err := AddressFor("0.0.0.0:1", "1", bad); err == nil && strings.ContainsAny(bad, ":/\x00\x1b\r\n") {
			t.Errorf("host %q accepted", bad)
		} else if err != nil && err.Error() != record.SafeText(err.Error()) {
			t.Errorf("host %q: the error carries control characters", bad)
		}
	}
}

// TestWildcardServes: a viewer listening on every address with a host
// name answers requests naming that host (the wildcard listener refused
// every request before), and still refuses others.
func TestWildcardServes(t *testing.T) {
	var port string
	v := newViewer(t, func(o *Options) {
		_, port, _ = net.SplitHostPort(o.Hosts[0])
		a, err := AddressFor("0.0.0.0:"+port, port, "viewer.example.org")
		if err != nil {
			t.Fatal(err)
		}
		o.Hosts = a.Hosts
	})
	for host, want := range map[string]int{"viewer.example.org:" + port: 200, "127.0.0.1:" + port: 403, "[::]:" + port: 403} {
		req, _ := http.NewRequest("GET", v.srv.URL+"/services", nil)
		req.Host = host
		req.AddCookie(&http.Cookie{Name: v.handler.CookieName(), Value: testToken})
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("Host %s: %d, want %d", host, resp.StatusCode, want)
		}
	}
}

// TestAttachmentHeader: a download's Content-Disposition never carries a
// line break, a quote or a control character from the name, whatever the
// name (the holdout): it is quoted or RFC 2231-encoded. Before, the SID
// went into the header between quotes as it came.
func TestAttachmentHeader(t *testing.T) {
	for _, n := range append([]string{"GT0123456789abcdef0123456789abcdef-sentences.json", `a"b`}, twiliosim.HostileNames...) {
		h := attachment(n + "-sentences.json")
		if strings.ContainsAny(h, "\r\n\x00\x1b") || h != record.SafeText(h) {
			t.Errorf("%q: header %q", n, h)
		}
		if !strings.HasPrefix(h, "attachment") {
			t.Errorf("%q: %q", n, h)
		}
		if _, params, err := mimeParse(h); err == nil && params["filename"] != "" && params["filename"] != n+"-sentences.json" {
			t.Errorf("%q: the header names %q", n, params["filename"])
		}
	}
	if h := attachment("GT0123456789abcdef0123456789abcdef-sentences.json"); h != "attachment; filename=GT0123456789abcdef0123456789abcdef-sentences.json" {
		t.Errorf("a plain name: %q", h)
	}
}

var mimeParse = mime.ParseMediaType
