package fs

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/intelligencefs/intelligencefs/crypto"
	"github.com/intelligencefs/intelligencefs/fetch"
	"github.com/intelligencefs/intelligencefs/fetch/twiliosim"
)

// mountChildEnv, when set in the environment of the test binary, makes it
// a mount process instead of running tests (see runMountChild): the RSS
// benchmark measures the mount alone, without the simulator and the test
// harness that share the test process.
const mountChildEnv = "INTELLIGENCEFS_TEST_MOUNT_CHILD"

// mountChildConfig is what the parent hands the mount child (as JSON in
// mountChildEnv). Key files are written by the parent at test time.
type mountChildConfig struct {
	Mountpoint           string
	APIURL               string
	AccountSID           string
	AuthToken            string
	KeyFiles             []string // PEM, unencrypted, 0600, in a test temp dir
	CredentialSIDs       []string // one per key file
	CacheSize            int64
	Prefetch             int
	WordTimestamps       bool
	DirectMountStrict    bool
	DisableMlockWarnings bool
}

// runMountChild mounts as the CLI would (default options, the cache size
// and keys given), prints "ready" and serves until stdin closes or SIGTERM,
// then unmounts. It returns the exit code.
func runMountChild(cfgJSON string) int {
	var cfg mountChildConfig
	if err := json.Unmarshal([]byte(cfgJSON), &cfg); err != nil {
		fmt.Fprintln(os.Stderr, "mount child:", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	client, err := fetch.New(fetch.Config{AccountSID: cfg.AccountSID, AuthToken: cfg.AuthToken, APIURL: cfg.APIURL,
		WordTimestamps: cfg.WordTimestamps, Logger: log})
	if err != nil {
		fmt.Fprintln(os.Stderr, "mount child:", err)
		return 1
	}
	defer client.Close()
	ring := crypto.NewKeyring()
	for i, p := range cfg.KeyFiles {
		pemBytes, err := os.ReadFile(p)
		if err != nil {
			fmt.Fprintln(os.Stderr, "mount child:", err)
			return 1
		}
		k, err := crypto.ParsePrivateKeyPEM(pemBytes, nil)
		if err != nil {
			fmt.Fprintln(os.Stderr, "mount child:", err)
			return 1
		}
		ring.Add(k, cfg.CredentialSIDs[i])
	}
	opts := DefaultOptions()
	opts.Source, opts.Decrypter, opts.Logger = client, ring, log
	opts.CacheSize, opts.Prefetch = cfg.CacheSize, cfg.Prefetch
	srv, err := Mount(cfg.Mountpoint, opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mount child:", err)
		return 1
	}
	fmt.Println("ready")
	done := make(chan struct{})
	go func() { _, _ = io.Copy(io.Discard, os.Stdin); close(done) }()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM)
	select {
	case <-done:
	case <-sig:
	}
	if err := unmountRetry(srv); err != nil {
		fmt.Fprintln(os.Stderr, "mount child:", err)
		return 1
	}
	return 0
}

// procMemKB reads VmHWM and VmRSS (KiB) of a process.
func procMemKB(pid int) (hwm, rss int64, err error) {
	st, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, 0, err
	}
	for _, l := range strings.Split(string(st), "\n") {
		if rest, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			hwm, _ = strconv.ParseInt(strings.Fields(rest)[0], 10, 64)
		}
		if rest, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			rss, _ = strconv.ParseInt(strings.Fields(rest)[0], 10, 64)
		}
	}
	return hwm, rss, nil
}

// BenchmarkColdScanRSS scans (grep -r) encrypted data ten times the
// --cache-size through a mount running in a child process (this test
// binary re-executed, so the simulator's memory is not counted), sampling
// the child's VmRSS every 10 ms: peak RSS (VmHWM) during the scan and RSS
// a second after it, against the bound cache size + 64 MiB.
func BenchmarkColdScanRSS(b *testing.B) {
	requireFUSE(b)
	cacheSize := int64(*benchRSSCache) << 20
	const docBytes = 256 << 10
	n := int(cacheSize * int64(*benchRSSData) / docBytes * 10 / 9) // about 9 in 10 transcripts are completed
	k := keys(b)
	sim, err := twiliosim.NewServer(twiliosim.Options{
		Keys: []twiliosim.Credential{{PublicKey: &k[0].PublicKey}, {PublicKey: &k[1].PublicKey}},
		Corpus: twiliosim.CorpusOptions{Seed: 59, TranscriptsPerService: n, NoPlainService: true, NoMixedService: true,
			SentencesBytes: docBytes}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(sim.Close)
	dir := b.TempDir()
	cfg := mountChildConfig{APIURL: sim.URL, AccountSID: sim.AccountSID, AuthToken: sim.AuthToken,
		CacheSize: cacheSize, Prefetch: DefaultPrefetch, WordTimestamps: true}
	for i, cr := range sim.CredentialSIDs() {
		if i >= len(k) {
			break
		}
		pemBytes, err := crypto.MarshalPrivateKeyPEM(k[i], nil)
		if err != nil {
			b.Fatal(err)
		}
		p := filepath.Join(dir, fmt.Sprintf("key%d.pem", i))
		if err := os.WriteFile(p, pemBytes, 0o600); err != nil {
			b.Fatal(err)
		}
		cfg.KeyFiles = append(cfg.KeyFiles, p)
		cfg.CredentialSIDs = append(cfg.CredentialSIDs, cr)
	}
	svc := sim.Services()[0].SID
	var data int64
	for _, ti := range sim.Transcripts(svc) {
		if ti.Status == "completed" {
			data += docBytes // at least; SentencesBytes is a lower bound
		}
	}
	bound := cacheSize + 64<<20
	var peaks, afters []int64
	for b.Loop() {
		cfg.Mountpoint = b.TempDir()
		cj, _ := json.Marshal(cfg)
		child := exec.Command(os.Args[0])
		child.Env = append(os.Environ(), mountChildEnv+"="+string(cj))
		child.Stderr = os.Stderr
		stdin, _ := child.StdinPipe()
		out, _ := child.StdoutPipe()
		if err := child.Start(); err != nil {
			b.Fatal(err)
		}
		if l, err := bufio.NewReader(out).ReadString('\n'); err != nil || l != "ready\n" {
			stdin.Close()
			child.Wait()
			b.Fatalf("mount child: %q, %v", l, err)
		}
		pid := child.Process.Pid
		var mu sync.Mutex
		stopSampling := make(chan struct{})
		var wg sync.WaitGroup
		var peak int64
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				if hwm, _, err := procMemKB(pid); err == nil {
					mu.Lock()
					peak = max(peak, hwm)
					mu.Unlock()
				}
				select {
				case <-stopSampling:
					return
				case <-time.After(10 * time.Millisecond):
				}
			}
		}()
		grepTree(b, filepath.Join(cfg.Mountpoint, "services", svc, "transcripts"), "sentences.json")
		time.Sleep(time.Second)
		hwm, rss, err := procMemKB(pid)
		if err != nil {
			b.Fatal(err)
		}
		close(stopSampling)
		wg.Wait()
		stdin.Close()
		if err := child.Wait(); err != nil {
			b.Fatalf("mount child: %v", err)
		}
		peaks = append(peaks, max(peak, hwm)<<10)
		afters = append(afters, rss<<10)
	}
	mib := func(v int64) float64 { return float64(v) / (1 << 20) }
	pk, af := medianInt(peaks), medianInt(afters)
	b.ReportMetric(mib(data), "MiB_scanned")
	b.ReportMetric(mib(cacheSize), "MiB_cache")
	b.ReportMetric(mib(pk), "MiB_peak_rss")
	b.ReportMetric(mib(af), "MiB_rss_after")
	b.ReportMetric(mib(bound), "MiB_bound")
	b.ReportMetric(float64(pk)/float64(bound), "x_bound")
}

// medianInt is the median of integer samples.
func medianInt(v []int64) int64 {
	ds := make([]time.Duration, len(v))
	for i, x := range v {
		ds[i] = time.Duration(x)
	}
	return int64(median(ds))
}
