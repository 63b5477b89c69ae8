package web

import (
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/intelligencefs/intelligencefs/crypto"
	"github.com/intelligencefs/intelligencefs/fetch"
	"github.com/intelligencefs/intelligencefs/fetch/twiliosim"
	"github.com/intelligencefs/intelligencefs/fs/plaincache"
	"github.com/intelligencefs/intelligencefs/fs/sentencetext"
)

const (
	testToken = "0123456789abcdef0123456789abcdef0123456789abcdef"
	// scriptMarker is a sentence the simulator puts in every transcript:
	// it must show as text, never run.
	scriptMarker = `<script>window.pwned=1</script><img src=x onerror=alert(1)>`
)

// viewer is a Server over a simulator, behind a real listener.
type viewer struct {
	sim     *twiliosim.Server
	srv     *httptest.Server
	host    string
	handler *Server
}

func newViewer(t testing.TB, tweak ...func(*Options)) *viewer {
	return newViewerOf(t, twiliosim.CorpusOptions{Seed: 19, TranscriptsPerService: 6, Markers: []string{scriptMarker}}, tweak...)
}

// newViewerOf is newViewer over a corpus of the caller's.
func newViewerOf(t testing.TB, corpus twiliosim.CorpusOptions, tweak ...func(*Options)) *viewer {
	t.Helper()
	k, err := crypto.GenerateKey(2048)
	if err != nil {
		t.Fatal(err)
	}
	sim, err := twiliosim.NewServer(twiliosim.Options{Keys: []twiliosim.Credential{{PublicKey: &k.PublicKey}}, Corpus: corpus})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	c, err := fetch.New(fetch.Config{AccountSID: sim.AccountSID, AuthToken: sim.AuthToken, APIURL: sim.URL, WordTimestamps: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	ring := crypto.NewKeyring()
	ring.Add(k, sim.CredentialSIDs()[0])
	v := &viewer{sim: sim}
	var h http.Handler
	v.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	t.Cleanup(v.srv.Close)
	v.host = strings.TrimPrefix(v.srv.URL, "http://")
	o := Options{Source: c, Decrypter: ring, Token: testToken, Hosts: HostsFor(v.host)}
	for _, f := range tweak {
		f(&o)
	}
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	h, v.handler = s, s
	return v
}

// client returns an HTTP client holding the access cookie (or none).
func (v *viewer) client(t *testing.T, withToken bool) *http.Client {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	if withToken {
		resp, err := c.Get(v.srv.URL + "/?token=" + testToken)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Request.URL.RawQuery != "" {
			t.Fatalf("token login: %d at %s", resp.StatusCode, resp.Request.URL)
		}
	}
	return c
}

func get(t *testing.T, c *http.Client, u string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

// checkHeaders fails unless resp carries every security header.
func checkHeaders(t *testing.T, what string, resp *http.Response) {
	t.Helper()
	for k, v := range securityHeaders {
		if got := resp.Header.Get(k); got != v {
			t.Errorf("%s: %s = %q, want %q", what, k, got, v)
		}
	}
}

// TestAccessAndHeaders: every request without the token is 403; the token
// becomes an HttpOnly, SameSite=Strict cookie and leaves the URL; a foreign
// Host header is 403 (DNS rebinding); every response carries the headers.
func TestAccessAndHeaders(t *testing.T) {
	v := newViewer(t)
	anon := v.client(t, false)
	tr := v.sim.Transcripts(v.sim.Services()[0].SID)[0]
	for _, p := range []string{"/", "/services", "/services/" + tr.ServiceSID, "/transcripts/" + tr.SID, "/assets/style.css", "/search?q=x", "/transcripts/" + tr.SID + "/download/sentences.json", "/?token=wrong" + testToken} {
		resp, body := get(t, anon, v.srv.URL+p)
		if resp.StatusCode != http.StatusForbidden || strings.Contains(body, tr.SID+"<") {
			t.Errorf("%s without the token: %d", p, resp.StatusCode)
		}
		checkHeaders(t, p+" (403)", resp)
	}
	// The cookie.
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, _ := get(t, noRedirect, v.srv.URL+"/services?token="+testToken)
	ck := resp.Cookies()
	if resp.StatusCode != http.StatusSeeOther || len(ck) != 1 || !ck[0].HttpOnly || ck[0].SameSite != http.SameSiteStrictMode || ck[0].Value != testToken {
		t.Fatalf("login: %d %+v", resp.StatusCode, ck)
	}
	if loc := resp.Header.Get("Location"); strings.Contains(loc, "token") {
		t.Errorf("the token stays in the URL: %s", loc)
	}
	// With it, every page works and carries the headers.
	c := v.client(t, true)
	for _, p := range []string{"/services", "/services/" + tr.ServiceSID, "/transcripts/" + tr.SID, "/assets/style.css", "/assets/app.js", "/search?q=calling", "/nope"} {
		resp, _ := get(t, c, v.srv.URL+p)
		if resp.StatusCode == http.StatusForbidden {
			t.Errorf("%s with the cookie: 403", p)
		}
		checkHeaders(t, p, resp)
	}
	// DNS rebinding: the right cookie, a foreign Host.
	req, _ := http.NewRequest("GET", v.srv.URL+"/services", nil)
	req.Host = "attacker.example:" + strings.Split(v.host, ":")[1]
	req.AddCookie(&http.Cookie{Name: v.handler.CookieName(), Value: testToken})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("foreign Host: %d", resp.StatusCode)
	}
}

// TestPages: the transcript page shows exactly the sealed (and plain)
// sentences, each escaped (the <script> sentence is text); listings fetch
// no content; search marks its matches and links them to their sentence;
// downloads are the mount's bytes.
func TestPages(t *testing.T) {
	v := newViewer(t, func(o *Options) { o.Prefetch = -1 }) // counts requests per page
	c := v.client(t, true)
	seen := map[bool]bool{}
	for _, svc := range v.sim.Services() {
		v.sim.ResetCounts()
		resp, body := get(t, c, v.srv.URL+"/services/"+svc.SID)
		if resp.StatusCode != 200 {
			t.Fatalf("service page: %d", resp.StatusCode)
		}
		for _, ep := range []string{twiliosim.EndpointEncryptedSentences, twiliosim.EndpointListSentences, twiliosim.EndpointEncryptedOperatorResults, twiliosim.EndpointListOperatorResults, twiliosim.EndpointObjectGet} {
			if n := v.sim.Count(ep); n != 0 {
				t.Errorf("the listing page made %d %s requests", n, ep)
			}
		}
		for _, tr := range v.sim.Transcripts(svc.SID) {
			if !strings.Contains(body, tr.SID) {
				t.Errorf("service page lacks %s", tr.SID)
			}
			enc := tr.EncryptionCredentialSID != ""
			if tr.Status != twiliosim.StatusCompleted || seen[enc] {
				continue
			}
			seen[enc] = true
			doc := v.sim.SentencesPlaintext(tr.SID, tr.Redaction)
			if !enc {
				doc = []byte(`{"sentences":[` + strings.Join(bytesToStrings(v.sim.SentenceResources(tr.SID, tr.Redaction, true)), ",") + `]}`)
			}
			ss, err := sentencetext.Parse(doc)
			if err != nil {
				t.Fatal(err)
			}
			_, page := get(t, c, v.srv.URL+"/transcripts/"+tr.SID)
			if strings.Contains(page, scriptMarker) {
				t.Errorf("%s: the <script> sentence is in the page unescaped", tr.SID)
			}
			for _, s := range ss {
				want := `<li id="s-` + strconv.FormatInt(s.Index, 10) + `" class="ch` + strconv.FormatInt(s.Channel, 10) + `"`
				text := `<span class="text">` + html.EscapeString(string(s.AppendText(nil))) + `</span>`
				i := strings.Index(page, want)
				if i < 0 || !strings.Contains(page[i:], text) {
					t.Errorf("%s: sentence %d (%q) not shown", tr.SID, s.Index, s.AppendText(nil))
				}
			}
			resp, dl := get(t, c, v.srv.URL+"/transcripts/"+tr.SID+"/download/sentences.json")
			if dl != string(doc) || !strings.HasPrefix(resp.Header.Get("Content-Disposition"), "attachment") {
				t.Errorf("%s: download differs (%d bytes, want %d)", tr.SID, len(dl), len(doc))
			}
		}
	}
	if !seen[true] || !seen[false] {
		t.Fatalf("encrypted %v, plain %v: a kind was not checked", seen[true], seen[false])
	}
	_, page := get(t, c, v.srv.URL+"/search?fixed=1&q="+url.QueryEscape("<script>"))
	if !strings.Contains(page, "<mark>&lt;script&gt;</mark>") || !strings.Contains(page, `#s-`) || strings.Contains(page, scriptMarker) {
		t.Errorf("search page: no escaped highlighted match linked to its sentence:\n%s", page)
	}
}

func bytesToStrings(bs [][]byte) []string {
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = string(b)
	}
	return out
}

// contentRequests counts the requests for transcript content.
func contentRequests(sim *twiliosim.Server) int64 {
	var n int64
	for _, ep := range []string{twiliosim.EndpointEncryptedSentences, twiliosim.EndpointListSentences, twiliosim.EndpointEncryptedOperatorResults, twiliosim.EndpointListOperatorResults, twiliosim.EndpointObjectGet, twiliosim.EndpointFetchTranscript} {
		n += sim.Count(ep)
	}
	return n
}

// TestCacheAndPrefetch: a page opened from its listing fetches no record;
// a second view of it fetches nothing; opening one warms the next ones of
// its listing, whose pages then fetch nothing either.
func TestCacheAndPrefetch(t *testing.T) {
	v := newViewer(t, func(o *Options) { o.Prefetch, o.CacheSize, o.Mlock = 2, 16<<20, plaincache.MlockOff })
	cache := v.handler.cache
	c := v.client(t, true)
	svc := v.sim.Services()[0]
	var order []string // the listing's order, newest first, completed only
	_, page := get(t, c, v.srv.URL+"/services/"+svc.SID)
	for _, tr := range v.sim.Transcripts(svc.SID) {
		if tr.Status == twiliosim.StatusCompleted {
			order = append(order, tr.SID)
		}
	}
	sort.Slice(order, func(i, j int) bool { return strings.Index(page, order[i]) < strings.Index(page, order[j]) })
	if len(order) < 5 {
		t.Fatalf("%d completed transcripts", len(order))
	}
	v.sim.ResetCounts()
	get(t, c, v.srv.URL+"/transcripts/"+order[0])
	if n := v.sim.Count(twiliosim.EndpointFetchTranscript); n != 0 {
		t.Errorf("a page opened from its listing fetched its record %d times", n)
	}
	// The next two of the listing are warmed in the background, not the
	// third.
	waitCached(t, cache, order[1], order[2])
	if _, ok := cache.Peek(order[3] + "/s"); ok {
		t.Error("prefetch went further than 2")
	}
	// Opening the third warms the two after it, so that below no
	// background fetch runs while requests are counted.
	get(t, c, v.srv.URL+"/transcripts/"+order[2])
	waitCached(t, cache, order[3], order[4])
	v.sim.ResetCounts()
	get(t, c, v.srv.URL+"/transcripts/"+order[0])
	get(t, c, v.srv.URL+"/transcripts/"+order[1])
	if n := contentRequests(v.sim); n != 0 {
		t.Errorf("warm pages made %d content requests", n)
	}
}

// waitCached waits until the sentences of every SID are in cache (the
// prefetch runs in the background), failing after 30 s.
func waitCached(t *testing.T, cache *plaincache.Cache, sids ...string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		all := true
		for _, sid := range sids {
			if _, ok := cache.Peek(sid + "/s"); !ok {
				all = false
			}
		}
		if all {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%v were not prefetched", sids)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
