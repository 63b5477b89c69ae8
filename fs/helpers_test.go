package fs

import (
	"bytes"
	"context"
	"crypto/rsa"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/intelligencefs/intelligencefs/crypto"
	"github.com/intelligencefs/intelligencefs/fetch"
	"github.com/intelligencefs/intelligencefs/fetch/twiliosim"
	"github.com/intelligencefs/intelligencefs/fs/fusetest"
	"github.com/intelligencefs/intelligencefs/fs/sentencetext"
)

// fuseUsable says why FUSE mounts cannot run here ("" when they can).
func fuseUsable() string {
	if _, err := os.Stat("/dev/fuse"); err != nil {
		return "no /dev/fuse"
	}
	if os.Geteuid() != 0 {
		if _, err := exec.LookPath("fusermount3"); err != nil {
			return "not root and no fusermount3"
		}
	}
	return ""
}

// requireFUSE skips (or, under INTELLIGENCEFS_REQUIRE_FUSE=1, fails) when
// FUSE is unavailable.
func requireFUSE(t testing.TB) {
	t.Helper()
	if why := fuseUsable(); why != "" {
		if os.Getenv("INTELLIGENCEFS_REQUIRE_FUSE") == "1" {
			t.Fatalf("FUSE required (INTELLIGENCEFS_REQUIRE_FUSE=1) but unusable: %s", why)
		}
		t.Skipf("FUSE unusable: %s", why)
	}
}

// mountForTest mounts opts under a fresh temporary directory and unmounts
// in cleanup, failing the test on a stale mount.
func mountForTest(t testing.TB, opts Options) (string, *Server) {
	t.Helper()
	requireFUSE(t)
	mnt := t.TempDir()
	if testing.Verbose() && os.Getenv("INTELLIGENCEFS_DEBUG_FUSE") == "1" {
		opts.DebugFUSE = true
	}
	srv, err := Mount(mnt, opts)
	if err != nil {
		t.Fatalf("mount: %v", err)
	}
	// The watchdog covers the unmount too: srv.Wait returns only once
	// every request is answered.
	wd := fusetest.Watch(t, mnt, watchdogAfter(t))
	t.Cleanup(func() {
		defer wd.Stop()
		if err := unmountRetry(srv); err != nil {
			t.Errorf("unmount %s: %v", mnt, err)
			return
		}
		if mi, _ := os.ReadFile("/proc/self/mountinfo"); bytes.Contains(mi, []byte(" "+mnt+" ")) {
			t.Errorf("stale mount at %s", mnt)
		}
	})
	return mnt, srv
}

// mountWatchdog bounds how long a test may keep a mount: far beyond what
// any test needs on a loaded 2-core machine, so only a stuck read reaches
// it. The test's own reads wait uninterruptibly on this process's server,
// so a deadlock would otherwise outlive even go test's -timeout.
const mountWatchdog = 3 * time.Minute

// watchdogAfter is mountWatchdog, plus the soak test's duration when one
// is set, but fires before the test binary's -timeout would (the timeout's
// exit cannot end a process whose threads wait on its own mount).
func watchdogAfter(t testing.TB) time.Duration {
	after := mountWatchdog
	if d, err := time.ParseDuration(os.Getenv("INTELLIGENCEFS_SOAK")); err == nil && d > 0 {
		after += d
	}
	if _, ok := t.(*testing.B); ok {
		// A benchmark's mount lives through all its runs (minutes
		// at 150 ms per request): bound it by -timeout instead.
		if f := flag.Lookup("test.timeout"); f != nil {
			if d, err := time.ParseDuration(f.Value.String()); err == nil && d-30*time.Second > after {
				after = d - 30*time.Second
			}
		}
	}
	if tt, ok := t.(interface{ Deadline() (time.Time, bool) }); ok {
		if dl, ok := tt.Deadline(); ok {
			if left := time.Until(dl) - 30*time.Second; left > 0 && left < after {
				after = left
			}
		}
	}
	return after
}

// unmountRetry unmounts srv and waits for it to stop, retrying for five
// seconds while the kernel reports the mount busy (a tool that just exited
// may still hold it for a moment).
func unmountRetry(srv *Server) error {
	var err error
	for i := 0; i < 50; i++ {
		if err = srv.Unmount(); err == nil {
			srv.Wait()
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return err
}

var (
	keysOnce sync.Once
	testKeys [2]*rsa.PrivateKey
)

// keys returns two 2048-bit keys shared by the package's tests.
func keys(t testing.TB) [2]*rsa.PrivateKey {
	keysOnce.Do(func() {
		for i := range testKeys {
			k, err := crypto.GenerateKey(2048)
			if err != nil {
				panic(err)
			}
			testKeys[i] = k
		}
	})
	return testKeys
}

// logBuffer collects log lines for assertions.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// env is a simulator, a fetch client on it, a keyring and a mount.
type env struct {
	sim    *twiliosim.Server
	client *fetch.Client
	ring   *crypto.Keyring
	mnt    string
	srv    *Server
	logs   *logBuffer
	opts   Options
}

// newEnv starts a simulator (both test keys registered unless simOpts.Keys
// is set), a fetch client and a mount; tweak changes the fs options.
func newEnv(t testing.TB, simOpts twiliosim.Options, cfg fetch.Config, tweak func(*Options)) *env {
	t.Helper()
	requireFUSE(t)
	k := keys(t)
	if simOpts.Keys == nil {
		simOpts.Keys = []twiliosim.Credential{{PublicKey: &k[0].PublicKey}, {PublicKey: &k[1].PublicKey}}
	}
	sim, err := twiliosim.NewServer(simOpts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	return mountSim(t, sim, cfg, tweak)
}

// mountSim mounts sim with a new fetch client (as a new process would) at
// a fresh mount point; the keys are the package's test keys.
func mountSim(t testing.TB, sim *twiliosim.Server, cfg fetch.Config, tweak func(*Options)) *env {
	t.Helper()
	k := keys(t)
	logs := &logBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	cfg.AccountSID, cfg.AuthToken, cfg.APIURL = sim.AccountSID, sim.AuthToken, sim.URL
	cfg.WordTimestamps = true // the sealed documents carry word timestamps too
	if cfg.Logger == nil {
		cfg.Logger = logger
	}
	client, err := fetch.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(client.Close)
	ring := crypto.NewKeyring()
	for i, cr := range sim.CredentialSIDs() {
		if i < len(k) {
			ring.Add(k[i], cr)
		}
	}
	opts := DefaultOptions()
	opts.Source, opts.Decrypter, opts.Logger = client, ring, logger
	opts.CacheSize = 64 << 20
	opts.Prefetch = 0
	if tweak != nil {
		tweak(&opts)
	}
	e := &env{sim: sim, client: client, ring: ring, logs: logs, opts: opts}
	e.mnt, e.srv = mountForTest(t, opts)
	if opts.kernelOpens && e.srv.root.noOpen.Load() {
		t.Fatal("Options.kernelOpens is set but files are read without OPEN")
	}
	return e
}

// svcDir is the path of a service folder.
func (e *env) svcDir(sid string) string { return filepath.Join(e.mnt, "services", sid) }

// tDir is the path of a transcript folder.
func (e *env) tDir(svc, sid string) string {
	return filepath.Join(e.mnt, "services", svc, "transcripts", sid)
}

// expected returns every file of a transcript folder as the simulator
// sealed it (nil map for a transcript that is not completed beyond
// transcript.json).
func (e *env) expected(t testing.TB, ti twiliosim.TranscriptInfo) map[string][]byte {
	t.Helper()
	want := map[string][]byte{"transcript.json": e.sim.TranscriptJSON(ti.SID)}
	if ti.Status != "completed" {
		return want
	}
	doc := e.sim.SentencesPlaintext(ti.SID, ti.Redaction)
	results := e.sim.OperatorResultPlaintexts(ti.SID, ti.Redaction)
	if ti.EncryptionCredentialSID == "" {
		// Plain transcripts come from the list endpoints, joined by fetch.
		doc = append([]byte(`{"sentences":[`), bytes.Join(e.sim.SentenceResources(ti.SID, ti.Redaction, true), []byte(","))...)
		doc = append(doc, "]}"...)
		results = e.sim.OperatorResultResources(ti.SID, ti.Redaction)
	}
	want["sentences.json"] = doc
	var resource struct{ Channel json.RawMessage }
	if err := json.Unmarshal(want["transcript.json"], &resource); err != nil {
		t.Fatal(err)
	}
	if ss, err := sentencetext.Parse(bytes.Clone(doc)); err == nil {
		sentencetext.LabelsFromChannel(resource.Channel).Apply(ss)
		want["sentences.txt"] = sentencetext.Append(nil, ss)
	}
	for i, r := range results {
		want[fmt.Sprintf("operator-results/%d.json", i+1)] = r
	}
	return want
}

// readTree returns every regular file under dir, relative paths.
func readTree(t testing.TB, dir string) map[string][]byte {
	t.Helper()
	got := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(dir, p)
			got[rel] = b
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// compareFiles reports differences between want and got.
func compareFiles(t testing.TB, where string, want, got map[string][]byte) {
	t.Helper()
	for name, w := range want {
		g, ok := got[name]
		if !ok {
			t.Errorf("%s: %s missing", where, name)
			continue
		}
		if !bytes.Equal(g, w) {
			t.Errorf("%s: %s differs: got %d bytes, want %d (%q…)", where, name, len(g), len(w), trunc(g))
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("%s: unexpected %s", where, name)
		}
	}
}

func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

func trunc(b []byte) string {
	if len(b) > 80 {
		b = b[:80]
	}
	return strings.ToValidUTF8(string(b), "?")
}

var _ = context.Background

// kernelMode is one of the two ways a kernel reads the mount. The
// end-to-end tests that exercise OPEN and READDIR run under both.
type kernelMode struct {
	name string
	// opens: the kernel opens files and folders (a handle from OPEN to
	// RELEASE), as kernels without FUSE_NO_OPEN_SUPPORT and
	// FUSE_NO_OPENDIR_SUPPORT (before 5.1) do (Options.kernelOpens). Else
	// files are read without OPEN and folders listed without OPENDIR, and
	// the kernel caches both.
	opens bool
}

// kernelModes are both modes, the default first.
var kernelModes = []kernelMode{{"no_open", false}, {"kernel_opens", true}}

// inKernelModes runs f as one subtest per kernel mode.
func inKernelModes(t *testing.T, f func(t *testing.T, m kernelMode)) {
	t.Helper()
	for _, m := range kernelModes {
		t.Run(m.name, func(t *testing.T) { f(t, m) })
	}
}

// tweak returns newEnv's tweak for this mode, after extra (may be nil).
func (m kernelMode) tweak(extra func(*Options)) func(*Options) {
	return func(o *Options) {
		if extra != nil {
			extra(o)
		}
		o.kernelOpens = m.opens
	}
}
