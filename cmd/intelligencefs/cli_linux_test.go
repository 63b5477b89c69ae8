//go:build linux

package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/intelligencefs/intelligencefs/fetch/twiliosim"
	"github.com/intelligencefs/intelligencefs/fs/fusetest"
)

// Mount tests: they follow the FUSE rules of the project. Where FUSE cannot
// be used they skip with the reason, unless INTELLIGENCEFS_REQUIRE_FUSE=1,
// where they fail. Every process they start is killed and every mount
// detached at cleanup, even on failure; mount points live under t.TempDir().

// needFUSE skips (or, under INTELLIGENCEFS_REQUIRE_FUSE=1, fails) when this
// process cannot mount.
func needFUSE(t *testing.T) {
	t.Helper()
	why := ""
	root := os.Geteuid() == 0
	if f, err := os.OpenFile("/dev/fuse", os.O_RDWR, 0); err != nil {
		why = "/dev/fuse is not usable: " + err.Error()
	} else {
		f.Close()
	}
	if _, err := exec.LookPath("fusermount3"); why == "" && err != nil && !root {
		why = "not root and fusermount3 is not on PATH"
	}
	if why != "" {
		fuseUnusable(t, why)
	}
}

// fuseUnusable skips the test with why, or fails it under
// INTELLIGENCEFS_REQUIRE_FUSE=1.
func fuseUnusable(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("INTELLIGENCEFS_REQUIRE_FUSE") == "1" {
		t.Fatalf("INTELLIGENCEFS_REQUIRE_FUSE=1 but FUSE is unusable: %s", why)
	}
	t.Skip("FUSE unusable here: " + why)
}

// syncBuffer is a bytes.Buffer safe for a process writer and a test reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// mountProc is a foreground intelligencefs process serving a mount.
type mountProc struct {
	cmd    *exec.Cmd
	stdout *syncBuffer
	stderr *syncBuffer
	done   chan struct{}
	err    error
	mnt    string
}

// newMountPoint returns a fresh directory under t.TempDir() whose mount
// (by any process) is detached and whose serving processes are killed at
// cleanup.
func newMountPoint(t *testing.T) string {
	t.Helper()
	mnt := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(mnt, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, pid := range pidsServing(t, mnt) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		for i := 0; i < 5 && isMounted(mnt); i++ {
			syscall.Unmount(mnt, syscall.MNT_DETACH)
			exec.Command("fusermount3", "-uz", mnt).Run()
		}
	})
	return mnt
}

// pidsServing finds processes of the test binary whose command line names
// mnt (daemon children and fstab-form mounts, whose pid the test never saw).
func pidsServing(t *testing.T, mnt string) []int {
	bin := testBinary(t)
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		exe, _ := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
		cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if strings.TrimSuffix(exe, " (deleted)") == bin && bytes.Contains(cmdline, []byte(mnt)) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// startMount starts the binary with args in the foreground; cleanup kills
// it. It does not wait for the mount.
func startMount(t *testing.T, env []string, mnt string, args ...string) *mountProc {
	t.Helper()
	return startProc(t, env, mnt, append([]string{testBinary(t)}, args...)...)
}

// startProc starts argv (a prefix such as setpriv's, then the binary) as a
// mountProc; cleanup kills it.
func startProc(t *testing.T, env []string, mnt string, argv ...string) *mountProc {
	t.Helper()
	p := &mountProc{stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan struct{}), mnt: mnt}
	p.cmd = exec.Command(argv[0], argv[1:]...)
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			p.reap(t)
		}
		if t.Failed() {
			t.Logf("%s\nstderr:\n%s", strings.Join(argv, " "), p.stderr.String())
		}
	})
	return p
}

// waitServing waits until mnt is mounted and lists services.
func (p *mountProc) waitServing(t *testing.T, within time.Duration) {
	t.Helper()
	if err := waitServing(p.mnt, within, p.done); err != nil {
		t.Fatalf("%v; stderr:\n%s", err, p.stderr.String())
	}
}

// waitServing polls until mnt answers with its services folder.
func waitServing(mnt string, within time.Duration, exited <-chan struct{}) error {
	deadline := time.Now().Add(within)
	for {
		if isMounted(mnt) {
			if ents, err := os.ReadDir(filepath.Join(mnt, "services")); err == nil && len(ents) > 0 {
				return nil
			}
		}
		select {
		case <-exited:
			return errors.New("intelligencefs exited before the mount was ready")
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not serving after %v", mnt, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// reapWithin bounds the wait for a killed mount process to be reaped.
// Exiting takes milliseconds; only a thread stuck on a FUSE request
// reaches the bound.
const reapWithin = time.Minute

// reap waits until the (killed) process is reaped. A thread of the process
// that waits on a request its own server had already taken when SIGKILL
// came waits for the answer uninterruptibly, and the dead server's
// /dev/fuse stays open until that thread exits: a zombie no signal ends.
// Past reapWithin, reap aborts the mount's FUSE connection, which frees
// the thread, and fails the test with the kernel stacks it had.
func (p *mountProc) reap(t *testing.T) {
	t.Helper()
	select {
	case <-p.done:
		return
	case <-time.After(reapWithin):
	}
	stacks := fusetest.KernelStacks(p.cmd.Process.Pid)
	err := fusetest.Abort(p.mnt)
	select {
	case <-p.done:
	case <-time.After(reapWithin):
	}
	t.Errorf("killed mount process %d not reaped after %v; aborted the FUSE connection of %s (err: %v); its threads' kernel stacks:\n%s",
		p.cmd.Process.Pid, reapWithin, p.mnt, err, stacks)
}

// waitMounted waits until the process logged "mounted": only then has it
// finished the requests it makes to its own mount at start (go-fuse's
// WaitMount opens and polls a file there), which a SIGKILL must not
// interrupt (see reap).
func (p *mountProc) waitMounted(t *testing.T, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !strings.Contains(p.stderr.String(), "msg=mounted ") {
		if time.Now().After(deadline) {
			t.Fatalf("no \"mounted\" log line after %v; stderr:\n%s", within, p.stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// exitWithin sends sig and waits for the process to exit within d; it
// returns the exit code.
func (p *mountProc) exitWithin(t *testing.T, sig syscall.Signal, d time.Duration) int {
	t.Helper()
	start := time.Now()
	p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(d):
		t.Fatalf("still running %v after %v; stderr:\n%s", time.Since(start), sig, p.stderr.String())
	}
	return exitStatus(t, p.err)
}

// encryptedSim starts a simulator with a key file and returns one completed
// encrypted transcript's path parts.
func encryptedSim(t *testing.T, opts twiliosim.Options) (*twiliosim.Server, string, twiliosim.TranscriptInfo) {
	t.Helper()
	key, keyPath := genKeyFile(t, t.TempDir(), "key.pem", nil, 0o600)
	opts.Keys = []twiliosim.Credential{{PublicKey: &key.PublicKey}}
	if opts.Corpus.TranscriptsPerService == 0 {
		opts.Corpus.TranscriptsPerService = 8
	}
	sim := newSim(t, opts)
	for _, svc := range sim.Services() {
		for _, tr := range sim.Transcripts(svc.SID) {
			if tr.Status == twiliosim.StatusCompleted && tr.EncryptionCredentialSID != "" {
				return sim, keyPath, tr
			}
		}
	}
	t.Fatal("no completed encrypted transcript in the corpus")
	return nil, "", twiliosim.TranscriptInfo{}
}

// sentencesPath is where tr's sentences.json is in the mount.
func sentencesPath(mnt string, tr twiliosim.TranscriptInfo) string {
	return filepath.Join(mnt, "services", tr.ServiceSID, "transcripts", tr.SID, "sentences.json")
}

func TestMountCredentialStyles(t *testing.T) {
	needFUSE(t)
	sim, keyPath, tr := encryptedSim(t, twiliosim.Options{})
	want := sim.SentencesPlaintext(tr.SID, tr.Redaction)
	styles := map[string][]string{
		"auth token": simEnv(sim),
		"api key": append(baseEnv(), "TWILIO_ACCOUNT_SID="+sim.AccountSID, "TWILIO_API_KEY="+sim.APIKeySID,
			"TWILIO_API_SECRET="+sim.APIKeySecret, "INTELLIGENCEFS_API_URL="+sim.URL),
	}
	for name, env := range styles {
		t.Run(name, func(t *testing.T) {
			mnt := newMountPoint(t)
			p := startMount(t, env, mnt, "mount", "--private-key", keyPath, mnt)
			p.waitServing(t, 10*time.Second)
			got, err := os.ReadFile(sentencesPath(mnt, tr))
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("sentences.json: %v (%d bytes, want %d)", err, len(got), len(want))
			}
			if code := p.exitWithin(t, syscall.SIGTERM, 2*time.Second); code != 0 {
				t.Fatalf("exit %d", code)
			}
			if isMounted(mnt) {
				t.Fatal("still mounted after SIGTERM")
			}
		})
	}
}

// TestSIGTERMWithReadersInFlight: the 2 s shutdown is a contract, measured
// with a deadline while 8 readers wait on slow downloads.
func TestSIGTERMWithReadersInFlight(t *testing.T) {
	needFUSE(t)
	sim, keyPath, _ := encryptedSim(t, twiliosim.Options{Corpus: twiliosim.CorpusOptions{Seed: 3, TranscriptsPerService: 40}})
	sim.SetFaults(twiliosim.Faults{ObjectLatency: 400 * time.Millisecond})
	mnt := newMountPoint(t)
	p := startMount(t, simEnv(sim), mnt, "mount", "--prefetch", "0", "--private-key", keyPath, mnt)
	p.waitServing(t, 10*time.Second)

	var files []string
	for _, svc := range sim.Services() {
		for _, tr := range sim.Transcripts(svc.SID) {
			if tr.Status == twiliosim.StatusCompleted && tr.EncryptionCredentialSID != "" {
				files = append(files, sentencesPath(mnt, tr))
			}
		}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var started sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		started.Add(1)
		go func(i int) {
			defer wg.Done()
			once := sync.OnceFunc(started.Done)
			defer once()
			for j := i; ; j += 8 {
				select {
				case <-stop:
					return
				default:
				}
				f, err := os.Open(files[j%len(files)])
				once()
				if err != nil {
					continue
				}
				io.Copy(io.Discard, f)
				f.Close()
			}
		}(i)
	}
	started.Wait()
	time.Sleep(150 * time.Millisecond) // the readers are now inside slow downloads
	start := time.Now()
	code := p.exitWithin(t, syscall.SIGTERM, 2*time.Second)
	elapsed := time.Since(start)
	close(stop)
	// Readers blocked on the dead connection return with errors; do not let
	// them outlive the test.
	waitDone := make(chan struct{})
	go func() { wg.Wait(); close(waitDone) }()
	select {
	case <-waitDone:
	case <-time.After(5 * time.Second):
		t.Error("readers still blocked 5 s after the mount went away")
	}
	if code != 0 {
		t.Fatalf("exit %d after SIGTERM, want 0; stderr:\n%s", code, p.stderr.String())
	}
	if isMounted(mnt) {
		t.Fatal("still mounted after SIGTERM")
	}
	t.Logf("SIGTERM to exit with 8 readers in flight: %v", elapsed)
}

func TestStaleMountRecovered(t *testing.T) {
	needFUSE(t)
	sim, keyPath, tr := encryptedSim(t, twiliosim.Options{})
	mnt := newMountPoint(t)
	p := startMount(t, simEnv(sim), mnt, "mount", "--private-key", keyPath, mnt)
	p.waitServing(t, 10*time.Second)
	p.waitMounted(t, 10*time.Second)
	// Listed before the crash: the kernel may answer the listing from its
	// cache afterwards, so the new mount must not take it for a live one.
	if _, err := os.ReadDir(mnt); err != nil {
		t.Fatal(err)
	}
	p.cmd.Process.Kill()
	p.reap(t)
	var st syscall.Statfs_t
	if err := syscall.Statfs(mnt, &st); !errors.Is(err, syscall.ENOTCONN) {
		t.Fatalf("after SIGKILL, statfs of the mount point gives %v, want ENOTCONN", err)
	}
	p2 := startMount(t, simEnv(sim), mnt, "mount", "--private-key", keyPath, mnt)
	// The "mounted" line first: the dead mount's folders may still list
	// from the kernel's caches, so waitServing alone can pass before the
	// new process has looked at the mount point.
	p2.waitMounted(t, 10*time.Second)
	p2.waitServing(t, 10*time.Second)
	if !strings.Contains(p2.stderr.String(), "stale mount") {
		t.Errorf("no notice about the stale mount:\n%s", p2.stderr.String())
	}
	if got, err := os.ReadFile(sentencesPath(mnt, tr)); err != nil || !bytes.Equal(got, sim.SentencesPlaintext(tr.SID, tr.Redaction)) {
		t.Fatalf("read after recovery: %v", err)
	}
	if code := p2.exitWithin(t, syscall.SIGTERM, 2*time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if isMounted(mnt) {
		t.Fatal("mount points left behind")
	}
}

// waitGone waits until no process serves mnt and it is not mounted.
func waitGone(t *testing.T, mnt string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for len(pidsServing(t, mnt)) > 0 || isMounted(mnt) {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: processes %v, mounted %v", within, pidsServing(t, mnt), isMounted(mnt))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestDaemonReturnsWhenReady(t *testing.T) {
	needFUSE(t)
	sim, keyPath, tr := encryptedSim(t, twiliosim.Options{})
	// Slow the API so a daemon that returned early would be caught.
	sim.SetFaults(twiliosim.Faults{APILatency: 150 * time.Millisecond})
	mnt := newMountPoint(t)
	res := runCLI(t, simEnv(sim), "mount", "--daemon", "--private-key", keyPath, mnt)
	if res.code != 0 {
		t.Fatalf("mount --daemon: exit %d\n%s", res.code, res.stderr)
	}
	if !isMounted(mnt) {
		t.Fatal("mount --daemon returned before the mount was there")
	}
	sim.SetFaults(twiliosim.Faults{})
	if got, err := os.ReadFile(sentencesPath(mnt, tr)); err != nil || !bytes.Equal(got, sim.SentencesPlaintext(tr.SID, tr.Redaction)) {
		t.Fatalf("read: %v", err)
	}
	pids := pidsServing(t, mnt)
	if len(pids) != 1 {
		t.Fatalf("daemon processes: %v", pids)
	}
	syscall.Kill(pids[0], syscall.SIGTERM)
	waitGone(t, mnt, 3*time.Second)

	// A failure in the child reaches the parent's exit status and stderr.
	bad := append(baseEnv(), "TWILIO_ACCOUNT_SID="+sim.AccountSID, "TWILIO_AUTH_TOKEN="+strings.Repeat("0", len(sim.AuthToken)), "INTELLIGENCEFS_API_URL="+sim.URL)
	res = runCLI(t, bad, "mount", "--daemon", "--private-key", keyPath, mnt)
	oneErrorLine(t, res, 1, "rejected")
	if isMounted(mnt) || len(pidsServing(t, mnt)) > 0 {
		t.Fatal("a failed daemon left something behind")
	}
}

// TestDaemonPromptedPassphrase types the passphrase on a terminal (script(1)
// gives the command a pty) and checks the child, which has no terminal,
// gets it over the pipe.
func TestDaemonPromptedPassphrase(t *testing.T) {
	needFUSE(t)
	script := needTool(t, "script")
	key, encKey := genKeyFile(t, t.TempDir(), "enc.pem", []byte("correct horse battery"), 0o600)
	sim := newSim(t, twiliosim.Options{Keys: []twiliosim.Credential{{PublicKey: &key.PublicKey}}, Corpus: twiliosim.CorpusOptions{Seed: 9, TranscriptsPerService: 4}})
	mnt := newMountPoint(t)
	cmdline := fmt.Sprintf("%s mount --daemon --private-key %s %s", testBinary(t), encKey, mnt)
	cmd := exec.Command(script, "-qec", cmdline, "/dev/null")
	cmd.Env = simEnv(sim)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var outBuf syncBuffer
	cmd.Stdout, cmd.Stderr = &outBuf, &outBuf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Type only once prompted (and echo is off), as a person would:
	// type-ahead would be echoed by the terminal before the prompt.
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(outBuf.String(), "Passphrase for") {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("no prompt:\n%s", outBuf.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	io.WriteString(stdin, "correct horse battery\n")
	stdin.Close()
	err = cmd.Wait()
	out := []byte(outBuf.String())
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if bytes.Contains(out, []byte("correct horse")) {
		t.Error("the passphrase was echoed")
	}
	if err := waitServing(mnt, 5*time.Second, nil); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, svc := range sim.Services() {
		for _, tr := range sim.Transcripts(svc.SID) {
			if tr.Status == twiliosim.StatusCompleted && tr.EncryptionCredentialSID != "" {
				if got, err := os.ReadFile(sentencesPath(mnt, tr)); err != nil || !bytes.Equal(got, sim.SentencesPlaintext(tr.SID, tr.Redaction)) {
					t.Fatalf("read: %v", err)
				}
				for _, pid := range pidsServing(t, mnt) {
					cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
					environ, _ := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
					if bytes.Contains(cmdline, []byte("correct horse")) || bytes.Contains(environ, []byte("correct horse")) {
						t.Error("the passphrase is in the daemon's argv or environment")
					}
					syscall.Kill(pid, syscall.SIGTERM)
				}
				waitGone(t, mnt, 3*time.Second)
				return
			}
		}
	}
	t.Fatal("no encrypted transcript")
}

// fstabFiles writes the env file and returns the -o options of an fstab
// line for sim.
func fstabFiles(t *testing.T, sim *twiliosim.Server, keyPath string) string {
	t.Helper()
	envFile := filepath.Join(t.TempDir(), "env")
	content := fmt.Sprintf("TWILIO_ACCOUNT_SID=%s\nTWILIO_AUTH_TOKEN=%s\nINTELLIGENCEFS_API_URL=%s\n", sim.AccountSID, sim.AuthToken, sim.URL)
	if err := os.WriteFile(envFile, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return "env_file=" + envFile + ",private_key=" + keyPath + ",cache_size=64MiB,prefetch=4,_netdev,nodev,nosuid"
}

func TestFstabForm(t *testing.T) {
	needFUSE(t)
	sim, keyPath, tr := encryptedSim(t, twiliosim.Options{})
	opts := fstabFiles(t, sim, keyPath)
	want := sim.SentencesPlaintext(tr.SID, tr.Redaction)
	check := func(t *testing.T, mnt string) {
		t.Helper()
		if err := waitServing(mnt, 2*time.Second, nil); err != nil {
			t.Fatal(err)
		}
		if got, err := os.ReadFile(sentencesPath(mnt, tr)); err != nil || !bytes.Equal(got, want) {
			t.Fatalf("read: %v", err)
		}
		if len(pidsServing(t, mnt)) != 1 {
			t.Fatalf("want one daemon, have %v", pidsServing(t, mnt))
		}
		out, err := exec.Command("umount", mnt).CombinedOutput()
		if err != nil {
			t.Fatalf("umount: %v %s", err, out)
		}
		waitGone(t, mnt, 3*time.Second)
	}

	t.Run("direct", func(t *testing.T) {
		mnt := newMountPoint(t)
		res := runCLI(t, baseEnv(), sim.AccountSID, mnt, "-o", opts)
		if res.code != 0 {
			t.Fatalf("exit %d: %s", res.code, res.stderr)
		}
		check(t, mnt)
	})
	t.Run("mount(8)", func(t *testing.T) {
		needTool(t, "mount.fuse3")
		mount := needTool(t, "mount")
		mnt := newMountPoint(t)
		// TYPE#SOURCE names the helper by path; with the binary installed
		// on PATH, -t fuse.intelligencefs does the same (see README).
		out, err := exec.Command(mount, "-t", "fuse", testBinary(t)+"#twilio", mnt, "-o", opts).CombinedOutput()
		if err != nil {
			t.Fatalf("mount: %v\n%s", err, out)
		}
		check(t, mnt)
	})
	t.Run("secret option refused", func(t *testing.T) {
		mnt := newMountPoint(t)
		res := runCLI(t, baseEnv(), "twilio", mnt, "-o", opts+",auth_token="+sim.AuthToken)
		oneErrorLine(t, res, 2, "/proc")
		if strings.Contains(res.stderr, sim.AuthToken) {
			t.Fatal("the refused secret is in the error")
		}
		if isMounted(mnt) {
			t.Fatal("mounted anyway")
		}
	})
	t.Run("foreground", func(t *testing.T) {
		mnt := newMountPoint(t)
		p := startMount(t, baseEnv(), mnt, "twilio", mnt, "-f", "-o", opts)
		p.waitServing(t, 10*time.Second)
		if code := p.exitWithin(t, syscall.SIGINT, 2*time.Second); code != 0 {
			t.Fatalf("exit %d", code)
		}
	})
}

// TestFstabFormDevFD is the fstab form as mount.fuse3 -o drop_privileges
// runs it: mount.fuse3 opens /dev/fuse and mounts it itself, drops every
// capability, and runs the file system (found on PATH by the type's name,
// fuse.intelligencefs → intelligencefs) with /dev/fd/N as the mount point.
func TestFstabFormDevFD(t *testing.T) {
	needFUSE(t)
	if os.Geteuid() != 0 {
		fuseUnusable(t, "mount.fuse3 -o drop_privileges needs root (CAP_SYS_ADMIN and CAP_SETPCAP)")
	}
	mountFuse := needTool(t, "mount.fuse3")
	sim, keyPath, tr := encryptedSim(t, twiliosim.Options{})
	opts := fstabFiles(t, sim, keyPath)
	// The daemon's command line names the env file, not the mount point.
	marker, _, _ := strings.Cut(opts, ",")
	binDir := t.TempDir()
	if err := os.Symlink(testBinary(t), filepath.Join(binDir, "intelligencefs")); err != nil {
		t.Fatal(err)
	}
	mnt := newMountPoint(t)
	t.Cleanup(func() {
		for _, pid := range pidsServing(t, marker) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})

	// What `mount -t fuse.intelligencefs twilio MNT -o OPTS` runs. mount(8)
	// clears PATH for its helpers (so mount.fuse3's /bin/sh finds
	// intelligencefs only in the default PATH, /usr/local/bin and the
	// like); the helper is run directly here to find the test binary.
	// With the README fstab line's other options (allow_other, nofail).
	cmd := exec.Command(mountFuse, "twilio", mnt, "-o", "drop_privileges,"+opts+",allow_other,nofail", "-t", "fuse.intelligencefs")
	cmd.Env = append(baseEnv(), "PATH="+binDir+":"+os.Getenv("PATH"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mount: %v\n%s", err, out)
	}
	if err := waitServing(mnt, 2*time.Second, nil); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(sentencesPath(mnt, tr))
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if want := sim.SentencesPlaintext(tr.SID, tr.Redaction); !bytes.Equal(got, want) {
		t.Fatalf("read %d bytes, not the %d bytes sealed", len(got), len(want))
	}
	pids := pidsServing(t, marker)
	if len(pids) != 1 {
		t.Fatalf("want one daemon, have %v", pids)
	}
	cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pids[0]))
	if !bytes.Contains(cmdline, []byte("\x00/dev/fd/")) {
		t.Errorf("the daemon was not given a /dev/fd/N mount point: %q", bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '}))
	}
	status, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pids[0]))
	if !regexp.MustCompile(`(?m)^CapEff:\s+0+$`).Match(status) {
		t.Errorf("the daemon kept capabilities (drop_privileges not in effect):\n%s", status)
	}
	if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
		t.Fatalf("umount: %v %s", err, out)
	}
	deadline := time.Now().Add(3 * time.Second)
	for len(pidsServing(t, marker)) > 0 || isMounted(mnt) {
		if time.Now().After(deadline) {
			t.Fatalf("after umount: processes %v, mounted %v", pidsServing(t, marker), isMounted(mnt))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestFstabFormClosedFD: a /dev/fd/N mount point whose descriptor nobody
// passed gives one line saying so, before any daemon starts.
func TestFstabFormClosedFD(t *testing.T) {
	sim, keyPath, _ := encryptedSim(t, twiliosim.Options{})
	res := runCLI(t, baseEnv(), "twilio", "/dev/fd/9", "-o", fstabFiles(t, sim, keyPath))
	oneErrorLine(t, res, 1, "descriptor 9 is not open")
}

func TestDemoServesWithin10s(t *testing.T) {
	needFUSE(t)
	mnt := filepath.Join(newMountPoint(t), "created-by-demo")
	t.Cleanup(func() {
		for _, pid := range pidsServing(t, mnt) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		syscall.Unmount(mnt, syscall.MNT_DETACH)
	})
	start := time.Now()
	p := startMount(t, baseEnv(), mnt, "demo", mnt)
	p.waitServing(t, 10*time.Second)
	catLine := regexp.MustCompile(`cat (\S+/sentences\.txt)`)
	var path string
	for time.Since(start) < 10*time.Second {
		if m := catLine.FindStringSubmatch(p.stdout.String()); m != nil {
			path = m[1]
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if path == "" {
		t.Fatalf("no cat hint printed:\n%s", p.stdout.String())
	}
	data, err := os.ReadFile(path)
	if err != nil || !bytes.HasPrefix(data, []byte("[")) {
		t.Fatalf("sentences.txt: %v %q", err, data)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("demo took %v to serve a file", d)
	}
	for _, want := range []string{"grep -r", "jq", "sentences.txt"} {
		if !strings.Contains(p.stdout.String(), want) {
			t.Errorf("hints lack %q", want)
		}
	}
	if code := p.exitWithin(t, syscall.SIGINT, 2*time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}
}

// TestReadinessAndStats: READY=1 on NOTIFY_SOCKET, the SIGUSR1 stats line,
// and the Prometheus endpoint.
func TestReadinessAndStats(t *testing.T) {
	needFUSE(t)
	sim, keyPath, tr := encryptedSim(t, twiliosim.Options{})
	sock := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	mnt := newMountPoint(t)
	p := startMount(t, append(simEnv(sim), "NOTIFY_SOCKET="+sock), mnt, "mount", "--metrics-addr", "127.0.0.1:0", "--private-key", keyPath, mnt)
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 4096)
	n, err := conn.Read(buf)
	if err != nil || !strings.Contains(string(buf[:n]), "READY=1") {
		t.Fatalf("notify: %q %v\n%s", buf[:n], err, p.stderr.String())
	}
	if !isMounted(mnt) {
		t.Fatal("READY=1 before the mount")
	}
	if _, err := os.ReadFile(sentencesPath(mnt, tr)); err != nil {
		t.Fatal(err)
	}
	p.cmd.Process.Signal(syscall.SIGUSR1)
	var url string
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && (url == "" || !strings.Contains(p.stderr.String(), "msg=stats")) {
		sc := bufio.NewScanner(strings.NewReader(p.stderr.String()))
		for sc.Scan() {
			if i := strings.Index(sc.Text(), "url=http://"); i >= 0 {
				url = strings.Fields(sc.Text()[i+4:])[0]
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(p.stderr.String(), "msg=stats") || !strings.Contains(p.stderr.String(), "cache_misses=") {
		t.Fatalf("no stats line after SIGUSR1:\n%s", p.stderr.String())
	}
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("metrics %q: %v", url, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, m := range []string{"intelligencefs_cache_hits_total", "intelligencefs_cache_misses_total", "intelligencefs_cache_bytes", "intelligencefs_fetch_object_downloads_total", "intelligencefs_fetch_retries_total", "intelligencefs_fetch_errors_total"} {
		if !bytes.Contains(body, []byte(m)) {
			t.Errorf("metrics lack %s", m)
		}
	}
	// The file read is in the mount's cache, and both reports say so: the
	// counters come from the mount (which owns the cache), not from a
	// cache of their own.
	for _, re := range []string{`cache_misses=([0-9]+)`, `cache_bytes=([0-9]+)`, `cache_entries=([0-9]+)`} {
		if m := regexp.MustCompile(re).FindStringSubmatch(p.stderr.String()); m == nil || m[1] == "0" {
			t.Errorf("stats line: %s is %v, want more than 0:\n%s", re, m, p.stderr.String())
		}
	}
	for _, re := range []string{`(?m)^intelligencefs_cache_misses_total ([0-9.e+]+)$`, `(?m)^intelligencefs_cache_bytes ([0-9.e+]+)$`, `(?m)^intelligencefs_cache_entries ([0-9.e+]+)$`} {
		if m := regexp.MustCompile(re).FindSubmatch(body); m == nil || string(m[1]) == "0" {
			t.Errorf("metrics: %s is %q, want more than 0", re, m)
		}
	}
	if code := p.exitWithin(t, syscall.SIGTERM, 2*time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}
}

// TestDaemonSecretsNotInEnviron: a daemonized mount whose auth token and
// key passphrase come from the environment serves (so both reached the
// child), yet the daemon's /proc/PID/environ holds neither, nor their
// names: they crossed on the hand-over pipe. Its core file limit is 0.
// Before, the child inherited the whole environment, and clearing Go's
// copy of it left /proc/PID/environ holding the secrets for the daemon's
// life.
func TestDaemonSecretsNotInEnviron(t *testing.T) {
	needFUSE(t)
	const passphrase = "correct horse battery staple"
	key, encKey := genKeyFile(t, t.TempDir(), "enc.pem", []byte(passphrase), 0o600)
	sim := newSim(t, twiliosim.Options{Keys: []twiliosim.Credential{{PublicKey: &key.PublicKey}}, Corpus: twiliosim.CorpusOptions{Seed: 9, TranscriptsPerService: 4}})
	mnt := newMountPoint(t)
	env := append(simEnv(sim), "INTELLIGENCEFS_KEY_PASSPHRASE="+passphrase)
	res := runCLI(t, env, "mount", "--daemon", "--private-key", encKey, mnt)
	if res.code != 0 {
		t.Fatalf("mount --daemon: exit %d\n%s", res.code, res.stderr)
	}
	pids := pidsServing(t, mnt)
	t.Cleanup(func() {
		for _, pid := range pidsServing(t, mnt) {
			syscall.Kill(pid, syscall.SIGTERM)
		}
		waitGone(t, mnt, 3*time.Second)
	})
	if len(pids) != 1 {
		t.Fatalf("daemon processes: %v", pids)
	}
	var tr twiliosim.TranscriptInfo
	for _, svc := range sim.Services() {
		for _, x := range sim.Transcripts(svc.SID) {
			if x.Status == twiliosim.StatusCompleted && x.EncryptionCredentialSID != "" && tr.SID == "" {
				tr = x
			}
		}
	}
	if got, err := os.ReadFile(sentencesPath(mnt, tr)); err != nil || !bytes.Equal(got, sim.SentencesPlaintext(tr.SID, tr.Redaction)) {
		t.Fatalf("read through the daemon: %v", err)
	}
	environ, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pids[0]))
	if err != nil {
		t.Fatal(err)
	}
	for what, s := range map[string]string{"auth token": sim.AuthToken, "passphrase": passphrase,
		"TWILIO_AUTH_TOKEN": "TWILIO_AUTH_TOKEN=", "INTELLIGENCEFS_KEY_PASSPHRASE": "INTELLIGENCEFS_KEY_PASSPHRASE="} {
		if bytes.Contains(environ, []byte(s)) {
			t.Errorf("the daemon's /proc/PID/environ holds the %s", what)
		}
	}
	if !bytes.Contains(environ, []byte("TWILIO_ACCOUNT_SID="+sim.AccountSID)) {
		t.Error("the daemon's environment lost what is not a secret (the test proves nothing)")
	}
	if soft, hard := coreLimit(t, pids[0]); soft != "0" || hard != "0" {
		t.Errorf("the daemon's core file limit is %s/%s, want 0/0", soft, hard)
	}
}

// coreLimit reads a process's "Max core file size" from /proc/PID/limits.
func coreLimit(t *testing.T, pid int) (soft, hard string) {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "Max core file size") {
			f := strings.Fields(strings.TrimPrefix(l, "Max core file size"))
			if len(f) >= 2 {
				return f[0], f[1]
			}
		}
	}
	t.Fatalf("no core limit in /proc/%d/limits", pid)
	return "", ""
}

// TestNoCoreFiles: serve and a command waiting on stdin (transcripts
// delete -) run with a core file limit of 0 however the caller set it
// (here: raised to the hard limit): a crash writes no memory to disk.
func TestNoCoreFiles(t *testing.T) {
	var old unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_CORE, &old); err != nil {
		t.Fatal(err)
	}
	raised := unix.Rlimit{Cur: old.Max, Max: old.Max}
	if raised.Cur == 0 {
		t.Skip("the hard core limit is already 0 here: nothing to lower")
	}
	if err := unix.Setrlimit(unix.RLIMIT_CORE, &raised); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Setrlimit(unix.RLIMIT_CORE, &old) })
	sim, keyPath := searchSim(t)
	env := simEnv(sim)
	for _, args := range [][]string{
		{"serve", "--private-key", keyPath},
		{"transcripts", "delete", "--yes", "-"},
	} {
		cmd := exec.Command(testBinary(t), args...)
		cmd.Env = env
		stdin, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		var soft, hard string
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if soft, hard = coreLimit(t, cmd.Process.Pid); soft == "0" {
				break
			}
		}
		if soft != "0" || hard != "0" {
			t.Errorf("%s: core file limit %s/%s, want 0/0", args[0], soft, hard)
		}
		stdin.Close()
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}
}
