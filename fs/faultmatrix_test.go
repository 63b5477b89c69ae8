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
	"github.com/intelligencefs/intelligencefs/fetch/twiliosim"
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
	d  Decrypter
}

func (s *keySwitch) set(d Decrypter) { s.mu.Lock(); s.d = d; s.mu.Unlock() }

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
		{name: "no-matching-key", errno: syscall.EACCES, cause: "no matching private key", cred: true,
			set: func(t *testing.T, fe *faultEnv) func() {
				fe.keys.set(crypto.NewKeyring())
				return func() { fe.keys.set(fe.ring) }
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
			for _, f := range files {
				readUnderFault(t, fe, tc, f)
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
