package web

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/intelligencefs/intelligencefs/fetch/twiliosim"
	"github.com/intelligencefs/intelligencefs/fs/sentencetext"
)

// browser starts headless Chromium (skipping without it, failing under
// INTELLIGENCEFS_REQUIRE_TOOLS=1) and returns a context driving one tab.
func browser(t *testing.T) context.Context {
	t.Helper()
	var path string
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		if os.Getenv("INTELLIGENCEFS_REQUIRE_TOOLS") == "1" {
			t.Fatal("INTELLIGENCEFS_REQUIRE_TOOLS=1 but chromium is missing")
		}
		t.Skip("chromium is not installed")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.Headless, chromedp.DisableGPU,
		chromedp.WindowSize(1200, 900))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return ctx
}

// TestBrowser drives Chromium through the viewer: the token opens it and
// leaves the address bar, the conversation shows the exact sentences of a
// sealed transcript, the <script> sentence stays text and never runs, j/k
// move the focus through the conversation, search marks its matches and
// links them to their sentence, and without the token a fresh browser gets
// 403. It writes the transcript page's screenshot for README with
// INTELLIGENCEFS_UPDATE_SCREENSHOT=1.
func TestBrowser(t *testing.T) {
	v := newViewer(t)
	ctx := browser(t)
	var tr twiliosim.TranscriptInfo
	for _, x := range v.sim.Transcripts(v.sim.Services()[0].SID) {
		if x.Status == twiliosim.StatusCompleted && x.EncryptionCredentialSID != "" {
			tr = x
			break
		}
	}
	if tr.SID == "" {
		t.Fatal("no completed encrypted transcript")
	}
	ss, err := sentencetext.Parse(v.sim.SentencesPlaintext(tr.SID, tr.Redaction))
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, s := range ss {
		want = append(want, string(s.AppendText(nil)))
	}

	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(chromedp.Do(ctx, chromedp.Navigate(v.srv.URL+"/?token="+testToken)))
	loc, err := chromedp.Run(ctx, chromedp.Location())
	must(err)
	services, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("main")))
	must(err)
	if strings.Contains(loc, "token") || !strings.HasSuffix(loc, "/services") || !strings.Contains(services, v.sim.Services()[0].SID) {
		t.Fatalf("after the token: at %s, page %q", loc, services)
	}

	// The headers of every page the browser loads (and of the 403 below).
	for _, p := range []string{"/services", "/services/" + tr.ServiceSID, "/search?q=thank", "/transcripts/" + tr.SID} {
		resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(v.srv.URL+p))
		must(err)
		for k, want := range securityHeaders {
			if got := headerValue(resp.Headers, k); got != want {
				t.Errorf("%s in the browser: %s = %q, want %q", p, k, got, want)
			}
		}
	}
	must(chromedp.Do(ctx, chromedp.Navigate(v.srv.URL+"/transcripts/"+tr.SID)))
	texts, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll(".conv li .text")).map(e => e.textContent)`))
	must(err)
	pwned, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.pwned === 1 || document.querySelectorAll(".conv script, .conv img").length > 0`))
	must(err)
	if strings.Join(texts, "\n") != strings.Join(want, "\n") {
		t.Errorf("the conversation shows\n%q\nwant\n%q", texts, want)
	}
	if pwned || !strings.Contains(strings.Join(texts, "\n"), scriptMarker) {
		t.Errorf("the <script> sentence ran or was not shown as text (ran %v)", pwned)
	}
	focused := func() string {
		t.Helper()
		id, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.activeElement.id`))
		must(err)
		return id
	}
	must(chromedp.Do(ctx, chromedp.KeyEvent("j"), chromedp.KeyEvent("j")))
	if got, wantID := focused(), "s-"+strconv.FormatInt(ss[1].Index, 10); got != wantID {
		t.Errorf("after j j the focus is on %q, want %s", got, wantID)
	}
	must(chromedp.Do(ctx, chromedp.KeyEvent("k")))
	if got, wantID := focused(), "s-"+strconv.FormatInt(ss[0].Index, 10); got != wantID {
		t.Errorf("after k the focus is on %q, want %s", got, wantID)
	}
	if os.Getenv("INTELLIGENCEFS_UPDATE_SCREENSHOT") == "1" {
		must(chromedp.Do(ctx, chromedp.Navigate(v.srv.URL+"/transcripts/"+tr.SID)))
		png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		must(err)
		must(os.WriteFile(filepath.Join("testdata", "transcript.png"), png, 0o644))
	}

	must(chromedp.Do(ctx, chromedp.Navigate(v.srv.URL+"/search?fixed=1&q=calling"), chromedp.WaitVisible(chromedp.CSS(".progress"))))
	marks, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#results mark").length`))
	must(err)
	href, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("#results a.hit").getAttribute("href")`))
	must(err)
	if marks == 0 || !strings.Contains(href, "#s-") {
		t.Errorf("search: %d marks, first link %q", marks, href)
	}
	must(chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#results a.hit")), chromedp.WaitVisible(chromedp.CSS(".conv"))))
	target, err := chromedp.Run(ctx, chromedp.Location())
	must(err)
	if !strings.HasSuffix(target, href) {
		t.Errorf("the match link led to %s, want %s", target, href)
	}

	// A fresh browser (no cookie): 403.
	fresh, cancel := chromedp.NewContext(ctx, chromedp.WithNewBrowserContext())
	defer cancel()
	resp, err := chromedp.Run(fresh, chromedp.NavigateResponse(v.srv.URL+"/transcripts/"+tr.SID))
	must(err)
	if resp.Status != 403 || headerValue(resp.Headers, "Cache-Control") != "no-store" {
		t.Errorf("without the token: status %d, headers %v", resp.Status, resp.Headers)
	}
	body, err := chromedp.Run(fresh, chromedp.Text(chromedp.CSS("body")))
	must(err)
	if !strings.Contains(body, "forbidden") || strings.Contains(body, want[0]) {
		t.Errorf("without the token the browser shows %q", body)
	}
}

// headerValue reads a header from the DevTools protocol's map, whose keys
// keep the server's spelling.
func headerValue(h map[string]any, name string) string {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			s, _ := v.(string)
			return s
		}
	}
	return ""
}
