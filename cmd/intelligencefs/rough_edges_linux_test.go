//go:build linux

package main

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/intelligencefs/intelligencefs/fetch/twiliosim"
)

// serve starts the binary with args and waits until mnt serves.
func serve(t *testing.T, env []string, mnt string, args ...string) *mountProc {
	t.Helper()
	p := startMount(t, env, mnt, args...)
	p.waitServing(t, 10*time.Second)
	return p
}

// stop ends a mount with SIGTERM; it must exit 0 within the 2 s budget.
func (p *mountProc) stop(t *testing.T) {
	t.Helper()
	if code := p.exitWithin(t, syscall.SIGTERM, 2*time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}
}

// TestMountDashO: `mount -o KEY=VALUE,…` on the subcommand sets the flags
// (here the cache size, which df reports as the mount's size).
func TestMountDashO(t *testing.T) {
	needFUSE(t)
	sim, keyPath, _ := encryptedSim(t, twiliosim.Options{})
	mnt := newMountPoint(t)
	p := serve(t, simEnv(sim), mnt, "mount", "-o", "cache_size=64MiB,private_key="+keyPath, "-o", "prefetch=2", mnt)
	var st syscall.Statfs_t
	if err := syscall.Statfs(mnt, &st); err != nil {
		t.Fatal(err)
	}
	if got := st.Blocks * uint64(st.Bsize); got != 64<<20 {
		t.Errorf("mount size %d, want 64MiB from -o cache_size", got)
	}
	p.stop(t)
}

// TestMountRefusesNonEmpty: a folder holding files is not mounted over
// unless --allow-non-empty (or -o nonempty) says so.
func TestMountRefusesNonEmpty(t *testing.T) {
	needFUSE(t)
	sim, keyPath, _ := encryptedSim(t, twiliosim.Options{})
	mnt := newMountPoint(t)
	if err := os.WriteFile(filepath.Join(mnt, "notes.txt"), []byte("mine"), 0o600); err != nil {
		t.Fatal(err)
	}
	res := runCLI(t, simEnv(sim), "mount", "--private-key", keyPath, mnt)
	oneErrorLine(t, res, 1, "is not empty")
	if !strings.Contains(res.stderr, "--allow-non-empty") || isMounted(mnt) {
		t.Errorf("refusal: %q, mounted %v", res.stderr, isMounted(mnt))
	}
	for _, flag := range [][]string{{"--allow-non-empty"}, {"-o", "nonempty"}} {
		p := serve(t, simEnv(sim), mnt, append(append([]string{"mount", "--private-key", keyPath}, flag...), mnt)...)
		if code := p.exitWithin(t, syscall.SIGTERM, 2*time.Second); code != 0 {
			t.Fatalf("%v: exit %d", flag, code)
		}
	}
	if b, err := os.ReadFile(filepath.Join(mnt, "notes.txt")); err != nil || string(b) != "mine" {
		t.Errorf("the folder's file after unmounting: %q %v", b, err)
	}
}

// TestMountKeyCheck: a key that opens none of an encrypted service's
// transcripts is warned about once per such service, in the background,
// right after mounting; a fitting key is not.
func TestMountKeyCheck(t *testing.T) {
	needFUSE(t)
	sim, keyPath, _ := encryptedSim(t, twiliosim.Options{})
	_, wrongPath := genKeyFile(t, t.TempDir(), "wrong.pem", nil, 0o600)
	encrypted := 0
	for _, s := range sim.Services() {
		for _, tr := range sim.Transcripts(s.SID) {
			if tr.Status == twiliosim.StatusCompleted && tr.EncryptionCredentialSID != "" {
				encrypted++
				break
			}
		}
	}
	for _, tc := range []struct {
		key   string
		warns int
	}{{wrongPath, encrypted}, {keyPath, 0}} {
		mnt := newMountPoint(t)
		p := serve(t, simEnv(sim), mnt, "mount", "--private-key", tc.key, mnt)
		// The check runs after READY; it is done when its lines are
		// there, or when the wrong key's count is reached.
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) && strings.Count(p.stderr.String(), "key check:") < tc.warns {
			time.Sleep(20 * time.Millisecond)
		}
		time.Sleep(300 * time.Millisecond) // a second line per service would show by now
		if n := strings.Count(p.stderr.String(), "none of the --private-key files opens"); n != tc.warns {
			t.Errorf("key %s: %d warnings, want %d:\n%s", filepath.Base(tc.key), n, tc.warns, p.stderr.String())
		}
		p.stop(t)
	}
}

// TestDebugFUSEAlone: --debug-fuse logs FUSE requests at the default log
// level.
func TestDebugFUSEAlone(t *testing.T) {
	needFUSE(t)
	sim, keyPath, tr := encryptedSim(t, twiliosim.Options{})
	mnt := newMountPoint(t)
	p := serve(t, simEnv(sim), mnt, "mount", "--debug-fuse", "--private-key", keyPath, mnt)
	if _, err := os.ReadFile(sentencesPath(mnt, tr)); err != nil {
		t.Fatal(err)
	}
	p.stop(t)
	if !regexp.MustCompile(`LOOKUP|GETATTR`).MatchString(p.stderr.String()) {
		t.Errorf("--debug-fuse logged no FUSE request:\n%.2000s", p.stderr.String())
	}
}

// TestSIGHUPForgetsListings: after SIGHUP the next listing shows what
// Twilio has now, within --dir-cache-time (1m), and the mount stays.
func TestSIGHUPForgetsListings(t *testing.T) {
	needFUSE(t)
	sim, keyPath, tr := encryptedSim(t, twiliosim.Options{})
	mnt := newMountPoint(t)
	p := serve(t, simEnv(sim), mnt, "mount", "--private-key", keyPath, mnt)
	dir := filepath.Join(mnt, "services", tr.ServiceSID, "transcripts")
	count := func() int {
		ents, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		return len(ents)
	}
	before := count()
	if _, err := sim.AddTranscripts(tr.ServiceSID, 3); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != before {
		t.Fatalf("listing changed without SIGHUP (%d -> %d): the test proves nothing", before, n)
	}
	p.cmd.Process.Signal(syscall.SIGHUP)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && !strings.Contains(p.stderr.String(), "cached listings dropped") {
		time.Sleep(20 * time.Millisecond)
	}
	if n := count(); n != before+3 {
		t.Errorf("after SIGHUP: %d transcripts, want %d", n, before+3)
	}
	if code := p.exitWithin(t, syscall.SIGTERM, 2*time.Second); code != 0 {
		t.Fatalf("exit %d (SIGHUP must not stop the mount)", code)
	}
}

// TestMetricsAdded: latency histograms of API requests and downloads,
// in-flight gauges, the decrypt-failure counter and the process collector.
func TestMetricsAdded(t *testing.T) {
	needFUSE(t)
	sim, keyPath, tr := encryptedSim(t, twiliosim.Options{})
	mnt := newMountPoint(t)
	p := serve(t, simEnv(sim), mnt, "mount", "--metrics-addr", "127.0.0.1:0", "--private-key", keyPath, mnt)
	if _, err := os.ReadFile(sentencesPath(mnt, tr)); err != nil {
		t.Fatal(err)
	}
	url := regexp.MustCompile(`url=(http://\S+/metrics)`).FindStringSubmatch(p.stderr.String())
	if url == nil {
		t.Fatalf("no metrics url:\n%s", p.stderr.String())
	}
	resp, err := http.Get(url[1])
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, m := range []string{
		`intelligencefs_fetch_request_duration_seconds_bucket{kind="api"`,
		`intelligencefs_fetch_request_duration_seconds_bucket{kind="object"`,
		"intelligencefs_fetch_api_in_flight ", "intelligencefs_fetch_object_downloads_in_flight ",
		"intelligencefs_decrypt_failures_total 0", "process_resident_memory_bytes", "go_goroutines",
	} {
		if !bytes.Contains(body, []byte(m)) {
			t.Errorf("metrics lack %s", m)
		}
	}
	p.stop(t)
}
