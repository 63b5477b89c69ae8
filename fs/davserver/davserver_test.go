package davserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/intelligencefs/intelligencefs/crypto"
	"github.com/intelligencefs/intelligencefs/fetch/record"
	"github.com/intelligencefs/intelligencefs/fetch/twiliosim"
	"github.com/intelligencefs/intelligencefs/fs/catalog"
	"github.com/intelligencefs/intelligencefs/fs/vtree"
	"github.com/intelligencefs/intelligencefs/fs/vtree/vtreetest"
)

const (
	testUser = "owner"
	testPass = "correct-horse-battery-staple"
)

type server struct {
	*vtreetest.Account
	url  string // http://127.0.0.1:PORT/
	host string
}

func start(t *testing.T, corpus twiliosim.CorpusOptions) *server {
	t.Helper()
	a := vtreetest.New(t, corpus)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	host := ln.Addr().String()
	s, err := New(Options{Tree: a.Tree, User: testUser, Password: testPass, Hosts: []string{host}})
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: s}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	return &server{Account: a, url: "http://" + host + "/", host: host}
}

var smallCorpus = twiliosim.CorpusOptions{Seed: 28, TranscriptsPerService: 4}

// rclone runs rclone against the server as :webdav:, with the credential
// in its environment (never argv).
func (s *server) rclone(t *testing.T, args ...string) []byte {
	t.Helper()
	bin := vtreetest.RequireProgram(t, "rclone", "rclone")
	obscured, err := exec.Command(bin, "obscure", testPass).Output()
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(t.TempDir(), "rclone.conf")
	os.WriteFile(cfg, nil, 0o600)
	cmd := exec.Command(bin, append([]string{"--config", cfg, "--low-level-retries", "1", "--retries", "1"}, args...)...)
	cmd.Env = append(os.Environ(), "RCLONE_WEBDAV_URL="+s.url, "RCLONE_WEBDAV_USER="+testUser,
		"RCLONE_WEBDAV_PASS="+strings.TrimSpace(string(obscured)), "RCLONE_WEBDAV_VENDOR=other")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("rclone %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return out
}

// TestRcloneCopyByteExact copies every service folder with rclone and
// compares every transcript's files with what the simulator sealed.
func TestRcloneCopyByteExact(t *testing.T) {
	s := start(t, smallCorpus)
	dst := t.TempDir()
	s.rclone(t, "copy", ":webdav:services", dst)
	files := 0
	for _, svc := range s.Sim.Services() {
		for _, ti := range s.Sim.Transcripts(svc.SID) {
			for name, want := range s.Expected(ti) {
				got, err := os.ReadFile(filepath.Join(dst, svc.SID, "transcripts", ti.SID, name))
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("%s/%s: %d bytes differ from the %d sealed", ti.SID, name, len(got), len(want))
				}
				files++
			}
		}
	}
	if files == 0 {
		t.Fatal("the corpus has no files")
	}
	// The unique-name links are not listed (they would copy each service
	// twice), and the transcripts/ shortcuts are lookup-only.
	ents, _ := os.ReadDir(dst)
	for _, e := range ents {
		if !record.IsSID(e.Name(), "GA") {
			t.Errorf("copied %q: only service folders are listed", e.Name())
		}
	}
}

// TestRcloneListAndCat lists a transcript folder, reads one file through a
// unique name and a transcripts/<GT> shortcut (followed by path).
func TestRcloneListAndCat(t *testing.T) {
	s := start(t, smallCorpus)
	svc := s.Sim.Services()[0]
	ti := completed(t, s.Sim, svc.SID)
	s.Sim.ResetCounts()
	got := string(s.rclone(t, "lsf", ":webdav:services/"+svc.SID+"/transcripts"))
	if !strings.Contains(got, ti.SID+"/") {
		t.Fatalf("lsf of transcripts/ lacks %s/:\n%s", ti.SID, got)
	}
	if n := s.Sim.Count(twiliosim.EndpointObjectGet); n != 0 {
		t.Errorf("listing transcripts/ fetched %d objects", n)
	}
	lsf := string(s.rclone(t, "lsf", ":webdav:services/"+svc.SID+"/transcripts/"+ti.SID))
	for _, want := range []string{"transcript.json", "sentences.json", "operator-results/"} {
		if !strings.Contains(lsf, want+"\n") {
			t.Errorf("lsf of the transcript folder lacks %s:\n%s", want, lsf)
		}
	}
	want := s.Expected(ti)["sentences.json"]
	for _, p := range []string{
		"services/" + svc.SID + "/transcripts/" + ti.SID + "/sentences.json",
		"transcripts/" + ti.SID + "/sentences.json",
	} {
		if got := s.rclone(t, "cat", ":webdav:"+p); !bytes.Equal(got, want) {
			t.Errorf("rclone cat %s: %d bytes, want the %d sealed", p, len(got), len(want))
		}
	}
}

func completed(t *testing.T, sim *twiliosim.Server, svc string) twiliosim.TranscriptInfo {
	t.Helper()
	for _, ti := range sim.Transcripts(svc) {
		if ti.Status == "completed" {
			return ti
		}
	}
	t.Fatal("no completed transcript")
	return twiliosim.TranscriptInfo{}
}

func (s *server) do(t *testing.T, method, p string, hdr map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, s.url+strings.TrimPrefix(p, "/"), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(testUser, testPass)
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// TestRefusals: writes, locks, infinite depth, junk names, a wrong Host
// and a wrong credential are refused before any request upstream.
func TestRefusals(t *testing.T) {
	s := start(t, smallCorpus)
	svc := s.Sim.Services()[0]
	ti := completed(t, s.Sim, svc.SID)
	dir := "services/" + svc.SID + "/transcripts/" + ti.SID + "/"
	s.Sim.ResetCounts()
	for _, c := range []struct {
		method, path string
		hdr          map[string]string
		want         int
	}{
		{"PUT", dir + "new.txt", nil, 403},
		{"DELETE", dir + "sentences.json", nil, 403},
		{"MKCOL", dir + "x", nil, 403},
		{"MOVE", dir + "sentences.json", map[string]string{"Destination": s.url + "x"}, 403},
		{"COPY", dir + "sentences.json", map[string]string{"Destination": s.url + "x"}, 403},
		{"PROPPATCH", dir + "sentences.json", nil, 403},
		{"POST", dir, nil, 403},
		{"LOCK", dir + "sentences.json", nil, 405},
		{"UNLOCK", dir + "sentences.json", nil, 405},
		{"PROPFIND", "services/", map[string]string{"Depth": "infinity"}, 403},
		{"PROPFIND", dir + ".DS_Store", map[string]string{"Depth": "0"}, 404},
		{"GET", dir + "._sentences.json", nil, 404},
		{"GET", "services/desktop.ini", nil, 404},
		{"PROPFIND", dir + "Thumbs.db", map[string]string{"Depth": "0"}, 404},
		{"GET", dir + "sentences.json", map[string]string{"Host": "attacker.example:80"}, 421},
		{"GET", "services/GA00000000000000000000000000000000/service.json", nil, 404},
	} {
		resp, _ := s.do(t, c.method, c.path, c.hdr)
		if resp.StatusCode != c.want {
			t.Errorf("%s %s: %d, want %d", c.method, c.path, resp.StatusCode, c.want)
		}
		if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "" {
			t.Errorf("%s %s: CORS header %q", c.method, c.path, got)
		}
	}
	if got := s.Sim.Count(twiliosim.EndpointObjectGet); got != 0 {
		t.Errorf("refusals fetched %d objects", got)
	}
	for _, auth := range [][2]string{{"", ""}, {testUser, "wrong"}, {"other", testPass}} {
		req, _ := http.NewRequest("GET", s.url+dir+"sentences.json", nil)
		if auth[0] != "" {
			req.SetBasicAuth(auth[0], auth[1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("credential %q: %d, want 401 with a challenge", auth[0], resp.StatusCode)
		}
	}
}

// TestCurl drives the server with curl: PROPFIND at depth 1 of a
// transcript folder, a Range GET, HEAD with ETag and Last-Modified, and a
// conditional GET.
func TestCurl(t *testing.T) {
	curl := vtreetest.RequireProgram(t, "curl", "curl")
	s := start(t, smallCorpus)
	svc := s.Sim.Services()[0]
	ti := completed(t, s.Sim, svc.SID)
	dir := "services/" + svc.SID + "/transcripts/" + ti.SID + "/"
	want := s.Expected(ti)["sentences.json"]
	run := func(args ...string) string {
		t.Helper()
		// The credential reaches curl on stdin (-K -), not in argv.
		cmd := exec.Command(curl, append([]string{"-sS", "-K", "-"}, args...)...)
		cmd.Stdin = strings.NewReader(fmt.Sprintf("user = %q\n", testUser+":"+testPass))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("curl %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	ms := run("-X", "PROPFIND", "-H", "Depth: 1", s.url+dir)
	for _, name := range []string{"transcript.json", "sentences.json", "operator-results/"} {
		if !strings.Contains(ms, "<D:href>/"+dir+name+"</D:href>") {
			t.Errorf("PROPFIND depth 1 lacks %s:\n%s", name, ms)
		}
	}
	if !strings.Contains(ms, fmt.Sprintf("<D:getcontentlength>%d</D:getcontentlength>", len(want))) {
		t.Errorf("PROPFIND does not report sentences.json's %d bytes:\n%s", len(want), ms)
	}
	if got := run("-r", "10-41", s.url+dir+"sentences.json"); got != string(want[10:42]) {
		t.Errorf("Range 10-41: %q, want %q", got, want[10:42])
	}
	head := run("-I", s.url+dir+"sentences.json")
	for _, h := range []string{"Etag: ", "Last-Modified: ", fmt.Sprintf("Content-Length: %d", len(want))} {
		if !strings.Contains(strings.ToLower(head), strings.ToLower(h)) {
			t.Errorf("HEAD lacks %q:\n%s", h, head)
		}
	}
	var etag string
	for _, l := range strings.Split(head, "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.EqualFold(k, "etag") {
			etag = strings.TrimSpace(v)
		}
	}
	if code := run("-o", "/dev/null", "-w", "%{http_code}", "-H", "If-None-Match: "+etag, s.url+dir+"sentences.json"); code != "304" {
		t.Errorf("If-None-Match with the ETag: %s, want 304", code)
	}
	if opts := run("-i", "-X", "OPTIONS", s.url); !strings.Contains(opts, "Dav: 1") && !strings.Contains(opts, "DAV: 1") {
		t.Errorf("OPTIONS lacks DAV: 1:\n%s", opts)
	}
}

// TestStatus maps each failure class to its HTTP status.
func TestStatus(t *testing.T) {
	for _, c := range []struct {
		err  error
		want int
	}{
		{fmt.Errorf("x: %w", record.ErrNotFound), 404},
		{fmt.Errorf("x: %w", catalog.ErrAbsent), 404},
		{fmt.Errorf("x: %w", record.ErrAuth), 403},
		{fmt.Errorf("x: %w", crypto.ErrUnwrap), 403},
		{fmt.Errorf("x: %w", vtree.ErrGone), 410},
		{fmt.Errorf("x: %w", record.ErrUnavailable), 503},
		{context.DeadlineExceeded, 503},
		{fmt.Errorf("x: %w", crypto.ErrAuth), 502},
		{errors.New("anything else"), 502},
	} {
		if got := Status(c.err); got != c.want {
			t.Errorf("Status(%v) = %d, want %d", c.err, got, c.want)
		}
	}
}

// TestLitmus runs the WebDAV conformance suite. Every litmus suite first
// creates a collection of its own (MKCOL /litmus/ in "begin") and stops
// there when it cannot, so against a read-only server the checks that can
// pass are "init" (the server answers, with the credential); "begin" must
// fail with the read-only refusal, 403.
func TestLitmus(t *testing.T) {
	bin := vtreetest.RequireProgram(t, "litmus", "litmus")
	s := start(t, smallCorpus)
	for _, suite := range []string{"basic", "copymove", "props", "locks", "http"} {
		cmd := exec.Command(bin, s.url, testUser, testPass)
		cmd.Env = append(os.Environ(), "TESTS="+suite)
		cmd.Dir = t.TempDir()
		out, _ := cmd.CombinedOutput()
		t.Logf("litmus %s:\n%s", suite, out)
		if got := litmusResult(string(out), "init"); got != "pass" {
			t.Errorf("litmus %s: init %q, want pass", suite, got)
		}
		if got := litmusResult(string(out), "begin"); !strings.HasPrefix(got, "FAIL") || !strings.Contains(string(out), "403 Forbidden") {
			t.Errorf("litmus %s: begin %q, want the read-only 403", suite, got)
		}
	}
}

// litmusResult is the word after check's dotted line: pass, FAIL, …
func litmusResult(out, check string) string {
	res := ""
	for _, l := range strings.Split(out, "\n") {
		if i := strings.LastIndex(l, " "+check+"."); i >= 0 {
			rest := strings.TrimLeft(l[i+len(check)+1:], ".")
			res = strings.TrimSpace(rest)
		}
	}
	return res
}
