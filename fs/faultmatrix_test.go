package fs

import (
	"bytes"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/intelligencefs/intelligencefs/crypto"
	"github.com/intelligencefs/intelligencefs/fetch"
	"github.com/intelligencefs/intelligencefs/fetch/record"
	"github.com/intelligencefs/intelligencefs/fetch/twiliosim"
	"github.com/intelligencefs/intelligencefs/fs/catalog"
)

// Files of a transcript folder the matrix reads under each fault.
const (
	fSentences = "sentences.json"
	fTxt       = "sentences.txt"
	fOp1       = "operator-results/1.json"
)

var allContent = []string{fSentences, fTxt, fOp1}

// keySwitch lets a test take the private keys away and give them back.
type keySwitch struct {
	mu sync.Mutex
	d  catalog.Decrypter
}

func (s *keySwitch) set(d catalog.Decrypter) { s.mu.Lock(); s.d = d; s.mu.Unlock() }

// Open implements Decrypter.
func (s *keySwitch) Open(cr string, env crypto.Envelope, dst []byte) ([]byte, error) {
	s.mu.Lock()
	d := s.d
	s.mu.Unlock()
	return d.Open(cr, env, dst)
}

// faultEnv is one mount for one row of the matrix.
type faultEnv struct {
	*env
	keys *keySwitch
	ti   twiliosim.TranscriptInfo
	want map[string][]byte
}

// faultCase is one row: set turns the fault on and returns what clears it.
type faultCase struct {
	name  string
	set   func(t *testing.T, fe *faultEnv) (clear func())
	files []string      // read under the fault (nil: allContent)
	errno syscall.Errno // 0: the fault is absorbed (retries) and the read succeeds
	cause string        // in the one warn/error line, with the transcript SID
	cred  bool          // that line also names the credential SID
	// remembered: the failure is remembered for the transcript (deniedTTL),
	// so after the first file the others fail alike at once: no download,
	// no further line.
	remembered bool
}

// rule hits every request about the case's transcript.
func rule(fe *faultEnv, target twiliosim.Target) twiliosim.Rule {
	return twiliosim.Rule{Fraction: 1, TranscriptSID: fe.ti.SID, Target: target}
}

// simFaults returns a set func for a fault switch of the simulator.
func simFaults(f func(fe *faultEnv) twiliosim.Faults) func(*testing.T, *faultEnv) func() {
	return func(t *testing.T, fe *faultEnv) func() {
		fe.sim.SetFaults(f(fe))
		return func() { fe.sim.SetFaults(twiliosim.Faults{}) }
	}
}

// TestFaultMatrix flips each failure the simulator can produce (and a
// simulator killed and restarted on its port, and the keys taken away) on a
// real mount, reading each content file of a fresh transcript. For every
// row: the errno of DESIGN.md §5 (never ENOENT for an unavailable
// upstream), no byte of content with a failed read, exactly one warn/error
// line naming the transcript and the cause, and, once the fault clears, the
// exact bytes from the same mount. After each unmount no goroutine is left.
func TestFaultMatrix(t *testing.T) {
	cases := []faultCase{
		{name: "latency-spike", set: simFaults(func(fe *faultEnv) twiliosim.Faults {
			return twiliosim.Faults{APILatency: 300 * time.Millisecond, ObjectLatency: 300 * time.Millisecond}
		})},
		{name: "latency-beyond-timeout", files: []string{fSentences, fOp1}, errno: syscall.EIO, cause: "upstream unavailable",
			set: simFaults(func(fe *faultEnv) twiliosim.Faults {
				return twiliosim.Faults{APILatency: 3 * time.Second, ObjectLatency: 3 * time.Second}
			})},
		{name: "429-storm-retry-after", errno: syscall.EIO, cause: "upstream unavailable", set: func(t *testing.T, fe *faultEnv) func() {
			fe.sim.SetFaults(twiliosim.Faults{TooManyRequests: rule(fe, twiliosim.TargetBoth), RetryAfter: time.Second})
			fe.sim.ResetCounts()
			return func() {
				// Retry-After was honoured: a second attempt per read.
				if n := fe.sim.Count(twiliosim.CounterFaultPrefix + "TooManyRequests"); n < 2*3 {
					t.Errorf("429s sent: %d, want 2 attempts for each of 3 reads", n)
				}
				fe.sim.SetFaults(twiliosim.Faults{})
			}
		}},
		{name: "5xx-burst-absorbed", set: simFaults(func(fe *faultEnv) twiliosim.Faults {
			return twiliosim.Faults{ServerError: twiliosim.Rule{Times: 1, TranscriptSID: fe.ti.SID}, ServerErrorStatus: 502}
		})},
		{name: "5xx-storm", errno: syscall.EIO, cause: "upstream unavailable", set: simFaults(func(fe *faultEnv) twiliosim.Faults {
			return twiliosim.Faults{ServerError: rule(fe, twiliosim.TargetBoth)}
		})},
		{name: "reset-mid-body", errno: syscall.EIO, cause: "upstream unavailable", set: simFaults(func(fe *faultEnv) twiliosim.Faults {
			return twiliosim.Faults{ResetMidBody: rule(fe, twiliosim.TargetObjects)}
		})},
		{name: "truncated-body", errno: syscall.EIO, cause: "upstream unavailable", set: simFaults(func(fe *faultEnv) twiliosim.Faults {
			return twiliosim.Faults{TruncateBody: rule(fe, twiliosim.TargetObjects)}
		})},
		{name: "tampered-ciphertext", errno: syscall.EIO, cause: "failed authentication", set: simFaults(func(fe *faultEnv) twiliosim.Faults {
			return twiliosim.Faults{TamperCiphertext: rule(fe, twiliosim.TargetObjects)}
		})},
		{name: "missing-key-header", errno: syscall.EIO, cause: "malformed envelope", set: simFaults(func(fe *faultEnv) twiliosim.Faults {
			return twiliosim.Faults{MissingKeyHeader: rule(fe, twiliosim.TargetObjects)}
		})},
		{name: "missing-iv-header", errno: syscall.EIO, cause: "malformed envelope", set: simFaults(func(fe *faultEnv) twiliosim.Faults {
			return twiliosim.Faults{MissingIVHeader: rule(fe, twiliosim.TargetObjects)}
		})},
		{name: "malformed-iv-header", errno: syscall.EIO, cause: "malformed envelope", set: simFaults(func(fe *faultEnv) twiliosim.Faults {
			return twiliosim.Faults{MalformedIVHeader: rule(fe, twiliosim.TargetObjects)}
		})},
		{name: "malformed-key-header", errno: syscall.EIO, cause: "malformed envelope", set: simFaults(func(fe *faultEnv) twiliosim.Faults {
			return twiliosim.Faults{MalformedKeyHeader: rule(fe, twiliosim.TargetObjects)}
		})},
		// Expired locations: operator-result locations were issued (valid)
		// when the folder was listed, so only the sentences are hit.
		{name: "expired-urls", files: []string{fSentences, fTxt}, errno: syscall.EIO, cause: "upstream unavailable",
			set: simFaults(func(fe *faultEnv) twiliosim.Faults {
				return twiliosim.Faults{ExpiredURLs: rule(fe, twiliosim.TargetBoth)}
			})},
		{name: "expired-url-once", files: []string{fSentences}, set: simFaults(func(fe *faultEnv) twiliosim.Faults {
			return twiliosim.Faults{ExpiredURLs: twiliosim.Rule{Times: 1, TranscriptSID: fe.ti.SID}}
		})},
		// Wrong credentials: presigned objects need none, so operator
		// results whose locations are known still read.
		{name: "wrong-credentials", files: []string{fSentences, fTxt}, errno: syscall.EACCES, cause: "credentials rejected",
			set: simFaults(func(fe *faultEnv) twiliosim.Faults { return twiliosim.Faults{WrongCredentials: true} })},
		{name: "no-matching-key", errno: syscall.EACCES, cause: "no matching private key", cred: true, remembered: true,
			set: func(t *testing.T, fe *faultEnv) func() {
				fe.keys.set(crypto.NewKeyring())
				return func() {
					fe.keys.set(fe.ring)
					fe.srv.root.Forget() // what SIGHUP does once the key is fixed
				}
			}},
		{name: "simulator-killed-and-restarted", errno: syscall.EIO, cause: "upstream unavailable", set: killSim},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// Registered first, so it runs after the unmount and the
			// simulator's and client's cleanups.
			t.Cleanup(func() { goleak.VerifyNone(t, leakIgnores()...) })
			fe := newFaultEnv(t)
			files := tc.files
			if files == nil {
				files = allContent
			}
			clear := tc.set(t, fe)
			for i, f := range files {
				if tc.remembered && i > 0 {
					fe.sim.ResetCounts()
					before := len(fe.logs.String())
					_, err := os.ReadFile(filepath.Join(fe.tDir(fe.ti.ServiceSID, fe.ti.SID), f))
					if !errors.Is(err, tc.errno) {
						t.Errorf("%s (remembered): %v, want %v", f, err, tc.errno)
					}
					if n := fe.sim.Count(twiliosim.EndpointObjectGet); n != 0 {
						t.Errorf("%s (remembered): %d downloads, want 0", f, n)
					}
					if l := problemLines(fe.logs.String()[before:], ""); len(l) != 0 {
						t.Errorf("%s (remembered): logged again: %q", f, l)
					}
					continue
				}
				readUnderFault(t, fe, tc, f)
			}
			if tc.remembered {
				// One envelope was tried and failed; the rest were answered
				// from memory.
				if n := fe.srv.root.Stats().DecryptFailures; n != 1 {
					t.Errorf("decrypt failures counted: %d, want 1", n)
				}
			}
			clear()
			before := len(fe.logs.String())
			for _, f := range allContent {
				got, err := os.ReadFile(filepath.Join(fe.tDir(fe.ti.ServiceSID, fe.ti.SID), f))
				if err != nil || !bytes.Equal(got, fe.want[f]) {
					t.Errorf("%s after the fault cleared (same mount): %v, %d bytes, want %d", f, err, len(got), len(fe.want[f]))
				}
			}
			if l := problemLines(fe.logs.String()[before:], ""); len(l) != 0 {
				t.Errorf("warnings after recovery: %q", l)
			}
		})
	}
}

// readUnderFault reads one file with the fault on and checks errno, bytes
// and the log line.
func readUnderFault(t *testing.T, fe *faultEnv, tc faultCase, f string) {
	t.Helper()
	before := len(fe.logs.String())
	got, err := os.ReadFile(filepath.Join(fe.tDir(fe.ti.ServiceSID, fe.ti.SID), f))
	var errno syscall.Errno
	if err != nil && !errors.As(err, &errno) {
		t.Fatalf("%s: %v is no errno", f, err)
	}
	lines := problemLines(fe.logs.String()[before:], fe.ti.SID)
	all := problemLines(fe.logs.String()[before:], "")
	if tc.errno == 0 {
		if err != nil || !bytes.Equal(got, fe.want[f]) {
			t.Errorf("%s: %v, %d bytes; the fault should have been absorbed", f, err, len(got))
		}
		if len(all) != 0 {
			t.Errorf("%s: absorbed fault logged %q", f, all)
		}
		return
	}
	if errno != tc.errno {
		t.Errorf("%s: errno %v (%v), want %v", f, errno, err, tc.errno)
	}
	if len(got) != 0 {
		t.Errorf("%s: failed read returned %d bytes", f, len(got))
	}
	if len(lines) != 1 || len(all) != 1 {
		t.Errorf("%s: want exactly one warn/error line naming %s, got %d (of %d):\n%s", f, fe.ti.SID, len(lines), len(all), strings.Join(all, "\n"))
		return
	}
	if !strings.Contains(lines[0], tc.cause) {
		t.Errorf("%s: log line lacks %q: %s", f, tc.cause, lines[0])
	}
	if tc.cred && !strings.Contains(lines[0], fe.ti.EncryptionCredentialSID) {
		t.Errorf("%s: log line lacks the credential %s: %s", f, fe.ti.EncryptionCredentialSID, lines[0])
	}
}

// problemLines returns the WARN and ERROR lines of a text log, those
// containing sub if it is not empty.
func problemLines(log, sub string) []string {
	var out []string
	for _, l := range strings.Split(log, "\n") {
		if (strings.Contains(l, "level=WARN") || strings.Contains(l, "level=ERROR")) && strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return out
}

// leakIgnores are goroutines that are not ours to stop (as in TestMain).
func leakIgnores() []goleak.Option {
	return []goleak.Option{goleak.IgnoreTopFunction("net/http.setRequestCancel.func4")}
}

// newFaultEnv mounts a small encrypted corpus with switchable keys and
// short retry budgets, picks a completed transcript with operator results,
// lists its folders and records what each file must hold.
func newFaultEnv(t *testing.T) *faultEnv {
	t.Helper()
	ks := &keySwitch{}
	e := newEnv(t, twiliosim.Options{Corpus: twiliosim.CorpusOptions{Seed: 23, TranscriptsPerService: 6}},
		fetch.Config{MaxAttempts: 2, MaxRetryTime: 3 * time.Second, MaxThrottleTime: 3 * time.Second, Timeout: 1500 * time.Millisecond},
		func(o *Options) { o.Decrypter = ks })
	ks.set(e.ring)
	fe := &faultEnv{env: e, keys: ks}
	for _, s := range e.sim.Services() {
		for _, ti := range e.sim.Transcripts(s.SID) {
			if ti.Status == "completed" && ti.EncryptionCredentialSID != "" && len(e.sim.OperatorResultPlaintexts(ti.SID, ti.Redaction)) > 0 {
				fe.ti = ti
				break
			}
		}
		if fe.ti.SID != "" {
			break
		}
	}
	if fe.ti.SID == "" {
		t.Fatal("no completed encrypted transcript with operator results in the corpus")
	}
	fe.want = e.expected(t, fe.ti)
	for _, f := range allContent {
		if fe.want[f] == nil {
			t.Fatalf("%s has no %s", fe.ti.SID, f)
		}
	}
	dir := e.tDir(fe.ti.ServiceSID, fe.ti.SID)
	for _, d := range []string{dir, filepath.Join(dir, "operator-results")} {
		if _, err := os.ReadDir(d); err != nil { // listed before the fault
			t.Fatal(err)
		}
	}
	return fe
}

// killSim stops the simulator (connections refused) and returns what
// restarts it on the same address with the same state.
func killSim(t *testing.T, fe *faultEnv) func() {
	addr := strings.TrimPrefix(fe.sim.URL, "http://")
	fe.sim.Close()
	return func() {
		var ln net.Listener
		var err error
		for i := 0; i < 50; i++ { // the port was just released
			if ln, err = net.Listen("tcp", addr); err == nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err != nil {
			t.Fatalf("restarting the simulator on %s: %v", addr, err)
		}
		srv := &http.Server{Handler: fe.sim, ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		t.Cleanup(func() { _ = srv.Close() })
	}
}

// hostileCase is one row of TestHostileServerMatrix: a server that
// misbehaves in shape or size rather than in transport.
type hostileCase struct {
	name   string
	faults func(e *env, ti twiliosim.TranscriptInfo) twiliosim.Faults
	// check runs on the mount with the faults on.
	check func(t *testing.T, e *env, ti twiliosim.TranscriptInfo)
	// plain picks a plain (unencrypted) transcript instead of an encrypted one.
	plain bool
}

// readErrno reads path and returns the errno (0 on success) and the bytes.
func readErrno(t *testing.T, path string) (syscall.Errno, []byte) {
	t.Helper()
	b, err := os.ReadFile(path)
	var errno syscall.Errno
	if err != nil && !errors.As(err, &errno) {
		t.Fatalf("%s: %v is no errno", path, err)
	}
	return errno, b
}

// lsErrno lists dir and returns the errno (0 on success) and the names.
func lsErrno(t *testing.T, dir string) (syscall.Errno, []string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	var errno syscall.Errno
	if err != nil && !errors.As(err, &errno) {
		t.Fatalf("%s: %v is no errno", dir, err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return errno, names
}

// oneProblem checks that the log since before holds exactly one warn/error
// line, containing each of says.
func oneProblem(t *testing.T, e *env, before int, says ...string) {
	t.Helper()
	lines := problemLines(e.logs.String()[before:], "")
	if len(lines) != 1 {
		t.Errorf("want one warn/error line, got %d:\n%s", len(lines), strings.Join(lines, "\n"))
		return
	}
	for _, s := range says {
		if !strings.Contains(lines[0], s) {
			t.Errorf("log line lacks %q: %s", s, lines[0])
		}
	}
}

// problems checks that the log since before has exactly one warn/error
// line per group of strings, each line holding its group's strings.
func problems(t *testing.T, e *env, before int, groups ...[]string) {
	t.Helper()
	lines := problemLines(e.logs.String()[before:], "")
	if len(lines) != len(groups) {
		t.Errorf("want %d warn/error lines, got %d:\n%s", len(groups), len(lines), strings.Join(lines, "\n"))
		return
	}
	for _, g := range groups {
		found := false
		for _, l := range lines {
			all := true
			for _, s := range g {
				all = all && strings.Contains(l, s)
			}
			found = found || all
		}
		if !found {
			t.Errorf("no log line holds all of %q:\n%s", g, strings.Join(lines, "\n"))
		}
	}
}

// objectFault turns the rule of an object fault into a row's faults, hitting
// every object of the row's transcript.
func objectFault(f func(twiliosim.Rule) twiliosim.Faults) func(*env, twiliosim.TranscriptInfo) twiliosim.Faults {
	return func(_ *env, ti twiliosim.TranscriptInfo) twiliosim.Faults {
		return f(twiliosim.Rule{Fraction: 1, TranscriptSID: ti.SID})
	}
}

// sentencesMalformed checks that sentences.json is EIO (not EACCES) with
// one "malformed envelope" line naming the transcript.
func sentencesMalformed(t *testing.T, e *env, ti twiliosim.TranscriptInfo) {
	before := len(e.logs.String())
	if errno, b := readErrno(t, filepath.Join(e.tDir(ti.ServiceSID, ti.SID), fSentences)); errno != syscall.EIO || len(b) != 0 {
		t.Errorf("sentences.json: %v, %d bytes, want EIO", errno, len(b))
	}
	oneProblem(t, e, before, "malformed envelope", ti.SID)
}

// TestHostileServerMatrix: a server that never ends its paging, sends
// compression bombs, names entries with strings that are not SIDs or
// points links outside the mount, or seals objects in shapes Twilio does
// not make. Each row mounts a fresh tree and checks: EIO (never a hang, a
// phantom entry or a link out of the mount), one log line, and that the
// mount stayed bounded (requests, bytes taken in).
func TestHostileServerMatrix(t *testing.T) {
	api := twiliosim.Rule{Fraction: 1, Target: twiliosim.TargetAPI}
	cases := []hostileCase{
		{name: "services-page-loop",
			faults: func(*env, twiliosim.TranscriptInfo) twiliosim.Faults { return twiliosim.Faults{PageLoop: api} },
			check: func(t *testing.T, e *env, _ twiliosim.TranscriptInfo) {
				before := len(e.logs.String())
				if errno, names := lsErrno(t, filepath.Join(e.mnt, "services")); errno != syscall.EIO {
					t.Errorf("ls services: %v %v, want EIO", errno, names)
				}
				oneProblem(t, e, before, "paging loop")
				if n := e.sim.Count(twiliosim.EndpointListServices); n > 3 {
					t.Errorf("%d services pages requested, want at most 3", n)
				}
			}},
		{name: "transcripts-empty-pages",
			faults: func(e *env, ti twiliosim.TranscriptInfo) twiliosim.Faults {
				return twiliosim.Faults{EmptyPages: twiliosim.Rule{Fraction: 1, Target: twiliosim.TargetAPI}}
			},
			check: func(t *testing.T, e *env, ti twiliosim.TranscriptInfo) {
				before := len(e.logs.String())
				dir := filepath.Join(e.svcDir(ti.ServiceSID), "transcripts")
				if errno, names := lsErrno(t, dir); errno != syscall.EIO {
					t.Errorf("ls transcripts: %v, %d names, want EIO", errno, len(names))
				}
				oneProblem(t, e, before, "empty but names a next page")
				if n := e.sim.Count(twiliosim.EndpointListTranscripts); n > 2 {
					t.Errorf("%d transcripts pages requested, want at most 2", n)
				}
			}},
		{name: "plain-sentences-page-loop", plain: true,
			faults: func(e *env, ti twiliosim.TranscriptInfo) twiliosim.Faults {
				return twiliosim.Faults{PageLoop: twiliosim.Rule{Fraction: 1, TranscriptSID: ti.SID}}
			},
			check: func(t *testing.T, e *env, ti twiliosim.TranscriptInfo) {
				before := len(e.logs.String())
				if errno, b := readErrno(t, filepath.Join(e.tDir(ti.ServiceSID, ti.SID), fSentences)); errno != syscall.EIO || len(b) != 0 {
					t.Errorf("sentences.json: %v, %d bytes, want EIO", errno, len(b))
				}
				oneProblem(t, e, before, "paging loop", ti.SID)
				if n := e.sim.Count(twiliosim.EndpointListSentences); n > 3 {
					t.Errorf("%d sentence pages requested, want at most 3", n)
				}
			}},
		{name: "services-gzip-bomb",
			faults: func(*env, twiliosim.TranscriptInfo) twiliosim.Faults {
				return twiliosim.Faults{GzipBomb: api, GzipBombBytes: 64 << 20}
			},
			check: func(t *testing.T, e *env, _ twiliosim.TranscriptInfo) {
				before := len(e.logs.String())
				if errno, names := lsErrno(t, filepath.Join(e.mnt, "services")); errno != syscall.EIO {
					t.Errorf("ls services: %v %v, want EIO", errno, names)
				}
				oneProblem(t, e, before, "content-encoded")
				if b := e.client.Stats().APIBytes; b > 1<<20 {
					t.Errorf("%d API bytes taken in", b)
				}
			}},
		{name: "object-gzip-bomb",
			faults: func(e *env, ti twiliosim.TranscriptInfo) twiliosim.Faults {
				return twiliosim.Faults{GzipBomb: twiliosim.Rule{Fraction: 1, Target: twiliosim.TargetObjects, TranscriptSID: ti.SID}, GzipBombBytes: 64 << 20}
			},
			check: func(t *testing.T, e *env, ti twiliosim.TranscriptInfo) {
				before := len(e.logs.String())
				if errno, b := readErrno(t, filepath.Join(e.tDir(ti.ServiceSID, ti.SID), fSentences)); errno != syscall.EIO || len(b) != 0 {
					t.Errorf("sentences.json: %v, %d bytes, want EIO", errno, len(b))
				}
				oneProblem(t, e, before, "content-encoded", ti.SID)
				if b := e.client.Stats().BytesDownloaded; b > 1<<20 {
					t.Errorf("%d object bytes taken in", b)
				}
			}},
		{name: "services-not-sids-and-link-targets",
			faults: func(*env, twiliosim.TranscriptInfo) twiliosim.Faults { return twiliosim.Faults{HostileServices: true} },
			check: func(t *testing.T, e *env, _ twiliosim.TranscriptInfo) {
				before := len(e.logs.String())
				errno, names := lsErrno(t, filepath.Join(e.mnt, "services"))
				if errno != 0 {
					t.Fatalf("ls services: %v", errno)
				}
				want := map[string]bool{}
				for _, s := range e.sim.Services() {
					want[s.SID] = true
					if s.UniqueName != "" {
						want[s.UniqueName] = true
					}
				}
				seen := map[string]bool{}
				for _, n := range names {
					if !want[n] || seen[n] {
						t.Errorf("ls services shows %q (unknown or repeated)", n)
					}
					seen[n] = true
					p := filepath.Join(e.mnt, "services", n)
					if target, err := os.Readlink(p); err == nil && !record.IsSID(target, "GA") {
						t.Errorf("%s -> %q: a link to something that is not a service SID", n, target)
					}
				}
				if len(seen) != len(want) {
					t.Errorf("ls services: %d names, want %d", len(seen), len(want))
				}
				for _, n := range []string{"abs-target", "rel-target"} {
					if _, err := os.Lstat(filepath.Join(e.mnt, "services", n)); !errors.Is(err, os.ErrNotExist) {
						t.Errorf("services/%s: %v, want ENOENT", n, err)
					}
				}
				// fetch refuses the malformed SIDs where it decodes them
				// (one line), the catalog the repeated one (one line).
				problems(t, e, before, []string{"malformed=8", `first="not a well-formed SID`}, []string{"duplicates=1"})
			}},
		{name: "transcripts-not-sids-and-escaping-service",
			faults: func(*env, twiliosim.TranscriptInfo) twiliosim.Faults {
				return twiliosim.Faults{HostileTranscripts: true}
			},
			check: func(t *testing.T, e *env, ti twiliosim.TranscriptInfo) {
				before := len(e.logs.String())
				errno, names := lsErrno(t, filepath.Join(e.svcDir(ti.ServiceSID), "transcripts"))
				if errno != 0 {
					t.Fatalf("ls transcripts: %v", errno)
				}
				want := map[string]bool{}
				for _, x := range e.sim.Transcripts(ti.ServiceSID) {
					want[x.SID] = true
				}
				seen := map[string]bool{}
				for _, n := range names {
					if !want[n] || seen[n] {
						t.Errorf("ls transcripts shows %q (unknown or repeated)", n)
					}
					seen[n] = true
				}
				if len(seen) != len(want) {
					t.Errorf("ls transcripts: %d names, want %d", len(seen), len(want))
				}
				// HostileTranscriptSID is well formed but names the service
				// "../../../../tmp": refused where it is decoded, with the
				// other four.
				problems(t, e, before, []string{"malformed=5"}, []string{"duplicates=1"})
				before = len(e.logs.String())
				link := filepath.Join(e.mnt, "transcripts", twiliosim.HostileTranscriptSID)
				if target, err := os.Readlink(link); err == nil {
					t.Errorf("transcripts/%s -> %q: a link built from service_sid %q", twiliosim.HostileTranscriptSID, target, "../../../../tmp")
				} else if !errors.Is(err, syscall.EIO) {
					t.Errorf("readlink transcripts/%s: %v, want EIO", twiliosim.HostileTranscriptSID, err)
				}
				oneProblem(t, e, before, "not a well-formed SID", twiliosim.HostileTranscriptSID, `\"../../../../tmp\"`)
			}},
		{name: "huge-wrapped-key", faults: objectFault(func(r twiliosim.Rule) twiliosim.Faults { return twiliosim.Faults{HugeWrappedKey: r} }),
			check: sentencesMalformed},
		{name: "aes-128-content-key", faults: objectFault(func(r twiliosim.Rule) twiliosim.Faults { return twiliosim.Faults{ShortContentKey: r} }),
			check: sentencesMalformed},
		{name: "oversized-listed-transcript",
			faults: func(e *env, ti twiliosim.TranscriptInfo) twiliosim.Faults {
				return twiliosim.Faults{OversizedTranscript: twiliosim.Rule{Fraction: 1, TranscriptSID: ti.SID}, OversizeBytes: 1 << 20}
			},
			check: func(t *testing.T, e *env, ti twiliosim.TranscriptInfo) {
				before := len(e.logs.String())
				errno, names := lsErrno(t, filepath.Join(e.svcDir(ti.ServiceSID), "transcripts"))
				if errno != 0 {
					t.Fatalf("ls transcripts: %v", errno)
				}
				if n := len(e.sim.Transcripts(ti.ServiceSID)); len(names) != n-1 || strings.Contains(strings.Join(names, " "), ti.SID) {
					t.Errorf("ls transcripts: %d names of %d, the 1 MiB one included: %v", len(names), n, strings.Contains(strings.Join(names, " "), ti.SID))
				}
				oneProblem(t, e, before, "larger than any real one", "bytes=1049")
			}},
		{name: "transcript-json-keeps-new-fields",
			faults: func(e *env, ti twiliosim.TranscriptInfo) twiliosim.Faults {
				return twiliosim.Faults{OversizedTranscript: twiliosim.Rule{Fraction: 1, TranscriptSID: ti.SID}, OversizeBytes: 100}
			},
			check: func(t *testing.T, e *env, ti twiliosim.TranscriptInfo) {
				errno, got := readErrno(t, filepath.Join(e.tDir(ti.ServiceSID, ti.SID), "transcript.json"))
				if want := e.sim.TranscriptJSON(ti.SID); errno != 0 || !bytes.Equal(got, want) {
					t.Fatalf("transcript.json: %v\n got %s\nwant %s", errno, got, want)
				}
				if !bytes.Contains(got, []byte(`"padding":"`+strings.Repeat("x", 100)+`"`)) {
					t.Errorf("the field the server added is missing: %s", got)
				}
			}},
		{name: "too-many-locations",
			faults: func(*env, twiliosim.TranscriptInfo) twiliosim.Faults { return twiliosim.Faults{ManyLocations: 1500} },
			check: func(t *testing.T, e *env, ti twiliosim.TranscriptInfo) {
				before := len(e.logs.String())
				if errno, names := lsErrno(t, filepath.Join(e.tDir(ti.ServiceSID, ti.SID), "operator-results")); errno != syscall.EIO {
					t.Errorf("ls operator-results: %v, %d names, want EIO", errno, len(names))
				}
				oneProblem(t, e, before, "1500 operator result locations", ti.SID)
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Cleanup(func() { goleak.VerifyNone(t, leakIgnores()...) })
			// Generous attempt timeout: no row is about slowness, and a
			// 4 MiB header takes a while on a loaded machine.
			e := newEnv(t, twiliosim.Options{Corpus: twiliosim.CorpusOptions{Seed: 23, TranscriptsPerService: 6}},
				fetch.Config{MaxAttempts: 2, MaxRetryTime: 3 * time.Second, Timeout: 20 * time.Second}, nil)
			var ti twiliosim.TranscriptInfo
			for _, s := range e.sim.Services() {
				for _, x := range e.sim.Transcripts(s.SID) {
					if x.Status == "completed" && (x.EncryptionCredentialSID == "") == tc.plain && ti.SID == "" {
						ti = x
					}
				}
			}
			if ti.SID == "" {
				t.Fatal("no completed transcript of the kind in the corpus")
			}
			e.sim.SetFaults(tc.faults(e, ti))
			e.sim.ResetCounts()
			tc.check(t, e, ti)
			e.sim.SetFaults(twiliosim.Faults{})
		})
	}
}
