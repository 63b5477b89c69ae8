//go:build linux

package main

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
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

	"github.com/intelligencefs/intelligencefs/crypto"
	"github.com/intelligencefs/intelligencefs/fetch/twiliosim"
)

// Security tests of issue 7 (DESIGN.md §4): they drive the built binary as
// root and, through setpriv, as unprivileged users without CAP_IPC_LOCK.
// Every process is killed and every mount detached at cleanup; /dev/fuse's
// mode and /etc/fuse.conf are restored.

const (
	nobody   = 65534 // the unprivileged mounting user
	stranger = 65533 // a user in no group of the mount
	shareGID = 4242  // the group a mount is shared with
)

// needRoot skips (or fails under INTELLIGENCEFS_REQUIRE_FUSE=1) unless the
// test runs as root, which switching users with setpriv needs.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("INTELLIGENCEFS_REQUIRE_FUSE") == "1" {
		t.Fatal("INTELLIGENCEFS_REQUIRE_FUSE=1 but these tests switch users with setpriv and need root")
	}
	t.Skip("needs root to run processes as other users (setpriv)")
}

// asUser is the setpriv prefix that runs a command as uid:gid with the
// given supplementary groups (none: cleared) and without CAP_IPC_LOCK.
func asUser(uid, gid int, groups ...int) []string {
	args := []string{"setpriv", "--reuid=" + strconv.Itoa(uid), "--regid=" + strconv.Itoa(gid)}
	if len(groups) == 0 {
		args = append(args, "--clear-groups")
	} else {
		g := make([]string, len(groups))
		for i, x := range groups {
			g[i] = strconv.Itoa(x)
		}
		args = append(args, "--groups="+strings.Join(g, ","))
	}
	return append(args, "--inh-caps=-ipc_lock", "--bounding-set=-ipc_lock", "--")
}

// openDevFuse makes /dev/fuse mode 0666, as on workstations (here it is
// 0600), and restores its mode at cleanup.
func openDevFuse(t *testing.T) {
	t.Helper()
	fi, err := os.Stat("/dev/fuse")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod("/dev/fuse", 0o666); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := os.Chmod("/dev/fuse", fi.Mode().Perm()); err != nil {
			t.Errorf("restoring /dev/fuse mode %04o: %v", fi.Mode().Perm(), err)
		}
	})
}

// sharedDir returns a fresh directory that other users can traverse (the
// test's temporary root and the directory itself 0755).
func sharedDir(t *testing.T) string {
	t.Helper()
	d := t.TempDir()
	for _, p := range []string{filepath.Dir(d), d} {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

// userBinary copies the test binary where uid can run it.
func userBinary(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(testBinary(t))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "intelligencefs")
	if err := os.WriteFile(p, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// userMountPoint returns dir/name owned by uid, detached at cleanup.
func userMountPoint(t *testing.T, dir, name string, uid int) string {
	t.Helper()
	mnt := filepath.Join(dir, name)
	if err := os.Mkdir(mnt, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(mnt, uid, uid); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for i := 0; i < 5 && isMounted(mnt); i++ {
			syscall.Unmount(mnt, syscall.MNT_DETACH)
			exec.Command("fusermount3", "-uz", mnt).Run()
		}
	})
	return mnt
}

// readAs runs cat path as another user and returns its output and error.
func readAs(path string, uid, gid int, groups ...int) ([]byte, string, error) {
	argv := append(asUser(uid, gid, groups...), "cat", path)
	cmd := exec.Command(argv[0], argv[1:]...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	return out, stderr.String(), err
}

// waitServingAs waits until mnt is mounted and uid can list its services
// (root cannot: no allow_other).
func waitServingAs(t *testing.T, p *mountProc, mnt string, uid int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if isMounted(mnt) {
			argv := append(asUser(uid, uid), "ls", filepath.Join(mnt, "services"))
			if out, err := exec.Command(argv[0], argv[1:]...).Output(); err == nil && len(out) > 0 {
				return
			}
		}
		select {
		case <-p.done:
			t.Fatalf("exited before the mount was ready; stderr:\n%s", p.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not serving; stderr:\n%s", mnt, p.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// procOwner returns the uid owning /proc/pid/environ: root for a
// non-dumpable process whatever its real user.
func procOwner(t *testing.T, pid int) uint32 {
	t.Helper()
	fi, err := os.Stat("/proc/" + strconv.Itoa(pid) + "/environ")
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Uid
}

// procUID returns the real uid of pid from /proc/pid/status.
func procUID(t *testing.T, pid int) int {
	t.Helper()
	st, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^Uid:\s+(\d+)`).FindSubmatch(st)
	if m == nil {
		t.Fatalf("no Uid in /proc/%d/status", pid)
	}
	uid, _ := strconv.Atoi(string(m[1]))
	return uid
}

// randomMarker is a plaintext marker from crypto/rand.
func randomMarker(t *testing.T) string {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "MARK-" + hex.EncodeToString(b)
}

// TestUnprivilegedMount mounts as uid 65534 without CAP_IPC_LOCK (through
// fusermount3, /dev/fuse opened up as on workstations), with a cache larger
// than RLIMIT_MEMLOCK: exactly one mlock warning with the bytes needed; the
// mount process and its --daemon child are non-dumpable (their /proc files
// belong to root although they run as 65534); the mounting user reads the
// exact bytes and root, another user, gets EACCES (no allow_other).
func TestUnprivilegedMount(t *testing.T) {
	needRoot(t)
	needFUSE(t)
	needTool(t, "setpriv")
	needTool(t, "fusermount3")
	openDevFuse(t)
	dir := sharedDir(t)
	bin := userBinary(t, dir)
	sim, keyPath, tr := encryptedSim(t, twiliosim.Options{})
	if err := os.Chown(keyPath, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	want := sim.SentencesPlaintext(tr.SID, tr.Redaction)
	const cacheSize = 64 << 20 // more than the 8 MiB RLIMIT_MEMLOCK default

	mnt := userMountPoint(t, dir, "mnt", nobody)
	argv := append(asUser(nobody, nobody), bin, "mount", "--private-key", keyPath, "--cache-size", "64MiB", "--mlock", "auto", mnt)
	p := startProc(t, simEnv(sim), mnt, argv...)
	waitServingAs(t, p, mnt, nobody)
	t.Run("mlock-warning", func(t *testing.T) {
		warn := lines(p.stderr.String(), "")
		var hits []string
		for _, l := range warn {
			if strings.Contains(l, "cannot be fully locked") {
				hits = append(hits, l)
			}
		}
		if len(hits) != 1 {
			t.Fatalf("want exactly one mlock warning, got %d:\n%s", len(hits), p.stderr.String())
		}
		if !strings.Contains(hits[0], "needed_bytes="+strconv.Itoa(cacheSize)) || !strings.Contains(hits[0], "level=WARN") ||
			!strings.Contains(hits[0], "RLIMIT_MEMLOCK") {
			t.Errorf("the warning lacks the level, bytes needed or the limit: %s", hits[0])
		}
	})
	t.Run("non-dumpable", func(t *testing.T) {
		pid := p.cmd.Process.Pid // setpriv execs the binary
		if uid := procUID(t, pid); uid != nobody {
			t.Fatalf("mount process runs as uid %d, want %d", uid, nobody)
		}
		if owner := procOwner(t, pid); owner != 0 {
			t.Errorf("/proc/%d/environ belongs to uid %d: the process is dumpable", pid, owner)
		}
	})
	t.Run("owner-reads", func(t *testing.T) {
		got, stderr, err := readAs(sentencesPath(mnt, tr), nobody, nobody)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("the mounting user reads: %v %s (%d bytes, want %d)", err, stderr, len(got), len(want))
		}
	})
	t.Run("root-refused", func(t *testing.T) {
		_, err := os.ReadFile(sentencesPath(mnt, tr))
		if !errors.Is(err, syscall.EACCES) {
			t.Errorf("root reading a mount of uid %d without --allow-other: %v, want EACCES", nobody, err)
		}
	})
	if code := p.exitWithin(t, syscall.SIGTERM, 5*time.Second); code != 0 {
		t.Errorf("exit %d after SIGTERM", code)
	}

	t.Run("daemon-child-non-dumpable", func(t *testing.T) {
		mnt2 := userMountPoint(t, dir, "mnt2", nobody)
		argv := append(asUser(nobody, nobody), bin, "mount", "--daemon", "--private-key", keyPath, "--mlock", "off", mnt2)
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Env = simEnv(sim)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("mount --daemon: %v\n%s", err, out)
		}
		var child int
		ents, _ := os.ReadDir("/proc")
		for _, e := range ents {
			pid, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			cl, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
			if bytes.Contains(cl, []byte(mnt2)) && bytes.Contains(cl, []byte("--daemon")) {
				child = pid
			}
		}
		if child == 0 {
			t.Fatal("no daemon child found")
		}
		t.Cleanup(func() { syscall.Kill(child, syscall.SIGKILL) })
		if uid := procUID(t, child); uid != nobody {
			t.Fatalf("daemon child runs as uid %d", uid)
		}
		if owner := procOwner(t, child); owner != 0 {
			t.Errorf("/proc/%d/environ of the daemon child belongs to uid %d: dumpable", child, owner)
		}
		syscall.Kill(child, syscall.SIGTERM)
	})
}

// TestSharedMountAccess: a root mount without --allow-other refuses another
// user (EACCES); with --allow-other --gid G --umask 0027 a member of G reads
// the exact bytes and a user in no group is refused.
func TestSharedMountAccess(t *testing.T) {
	needRoot(t)
	needFUSE(t)
	needTool(t, "setpriv")
	dir := sharedDir(t)
	sim, keyPath, tr := encryptedSim(t, twiliosim.Options{})
	want := sim.SentencesPlaintext(tr.SID, tr.Redaction)

	private := filepath.Join(dir, "private")
	shared := filepath.Join(dir, "shared")
	for _, m := range []string{private, shared} {
		if err := os.Mkdir(m, 0o755); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			for i := 0; i < 5 && isMounted(m); i++ {
				syscall.Unmount(m, syscall.MNT_DETACH)
			}
		})
	}
	p1 := startMount(t, simEnv(sim), private, "mount", "--private-key", keyPath, private)
	p1.waitServing(t, 20*time.Second)
	p2 := startMount(t, simEnv(sim), shared, "mount", "--private-key", keyPath,
		"--allow-other", "--gid", strconv.Itoa(shareGID), "--umask", "0027", shared)
	p2.waitServing(t, 20*time.Second)

	for _, tc := range []struct {
		name     string
		mnt      string
		uid, gid int
		groups   []int
		ok       bool
	}{
		{"private/other-user", private, nobody, nobody, nil, false},
		{"private/other-user-in-group", private, nobody, nobody, []int{shareGID}, false},
		{"shared/member-by-supplementary-group", shared, nobody, nobody, []int{shareGID}, true},
		{"shared/member-by-primary-group", shared, stranger, shareGID, nil, true},
		{"shared/no-group", shared, stranger, stranger, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, stderr, err := readAs(sentencesPath(tc.mnt, tr), tc.uid, tc.gid, tc.groups...)
			if tc.ok {
				if err != nil || !bytes.Equal(got, want) {
					t.Errorf("want the exact bytes: %v %s (%d bytes)", err, stderr, len(got))
				}
				return
			}
			if err == nil || len(got) != 0 || !strings.Contains(stderr, "Permission denied") {
				t.Errorf("want EACCES: err %v, %d bytes, stderr %q", err, len(got), stderr)
			}
		})
	}
	// The modes the kernel enforces for the group.
	fi, err := os.Stat(sentencesPath(shared, tr))
	if err != nil {
		t.Fatal(err)
	}
	if st := fi.Sys().(*syscall.Stat_t); fi.Mode().Perm() != 0o640 || st.Gid != shareGID {
		t.Errorf("shared file mode %v gid %d, want 0640 (0666 minus umask 0027) and %d", fi.Mode().Perm(), st.Gid, shareGID)
	}
}

// recorder fronts the simulator on its own address (the simulator's
// listener is closed and its handler served here), so the test sees what
// the mount was sent: every presigned signature it used and every content
// key wrapped for it.
type recorder struct {
	sim *twiliosim.Server

	mu      sync.Mutex
	sigs    map[string]bool
	wrapped []string
}

func (rc *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s := r.URL.Query().Get("X-Amz-Signature"); s != "" {
		rc.mu.Lock()
		rc.sigs[s] = true
		rc.mu.Unlock()
	}
	rc.sim.ServeHTTP(w, r)
	if k := w.Header().Get("x-amz-meta-x-amz-key"); k != "" {
		rc.mu.Lock()
		rc.wrapped = append(rc.wrapped, k)
		rc.mu.Unlock()
	}
}

// addSecrets adds to secrets every presigned signature rc saw and every
// content key wrapped for key (hex and base64, the forms a log could
// print), and returns how many of each it recorded; none of either fails
// the test, which would then prove nothing.
func (rc *recorder) addSecrets(t *testing.T, key *rsa.PrivateKey, secrets map[string]string) (nSigs, nKeys int) {
	t.Helper()
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for s := range rc.sigs {
		secrets["presigned signature "+s[:8]] = s
	}
	for i, w := range rc.wrapped {
		wk, err := base64.StdEncoding.DecodeString(w)
		if err != nil {
			continue
		}
		cek, err := rsa.DecryptOAEP(sha256.New(), nil, key, wk, nil)
		if err != nil {
			continue // a tampered header
		}
		secrets["CEK hex "+strconv.Itoa(i)] = hex.EncodeToString(cek)
		secrets["CEK base64 "+strconv.Itoa(i)] = base64.StdEncoding.EncodeToString(cek)
	}
	if len(rc.sigs) == 0 || len(rc.wrapped) == 0 {
		t.Fatalf("recorded %d signatures and %d wrapped keys: the test proves nothing", len(rc.sigs), len(rc.wrapped))
	}
	return len(rc.sigs), len(rc.wrapped)
}

// frontSim moves sim onto a recorder at the same address.
func frontSim(t *testing.T, sim *twiliosim.Server) *recorder {
	t.Helper()
	addr := strings.TrimPrefix(sim.URL, "http://")
	sim.Close()
	var ln net.Listener
	var err error
	for i := 0; i < 50; i++ {
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	rc := &recorder{sim: sim, sigs: map[string]bool{}}
	srv := &http.Server{Handler: rc, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return rc
}

// TestSecretsNeverLogged runs a full debug mount (--debug-fuse, --log-level
// debug) against the simulator, reads every content file cold and warm,
// triggers faults, and stops it with SIGTERM. Neither its stdout and stderr
// nor its argv (and that of a --daemon child) hold the auth token, a piece
// of the private key PEM, any content key the mount unwrapped, any
// presigned signature it used, or the plaintext marker.
func TestSecretsNeverLogged(t *testing.T) {
	needFUSE(t)
	marker := randomMarker(t)
	sim, keyPath, _ := encryptedSim(t, twiliosim.Options{Corpus: twiliosim.CorpusOptions{TranscriptsPerService: 4, Markers: []string{marker}}})
	rc := frontSim(t, sim)
	pemBytes, err := os.ReadFile(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	pemLines := strings.Split(string(pemBytes), "\n")
	pemSlice := pemLines[len(pemLines)/2][:40]

	mnt := newMountPoint(t)
	args := []string{"mount", "--private-key", keyPath, "--debug-fuse", "--log-level", "debug", "--cache-size", "1MiB", mnt}
	p := startMount(t, simEnv(sim), mnt, args...)
	p.waitServing(t, 20*time.Second)
	pid := p.cmd.Process.Pid
	cmdline, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")

	var files []string
	filepath.WalkDir(filepath.Join(mnt, "services"), func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			files = append(files, path)
		}
		return nil
	})
	readAll := func() (n int) {
		for _, f := range files {
			if b, err := os.ReadFile(f); err == nil {
				n += len(b)
			}
		}
		return n
	}
	cold, warm := readAll(), readAll()
	if cold == 0 || warm == 0 {
		t.Fatalf("read %d bytes cold, %d warm: nothing to leak, the test proves nothing", cold, warm)
	}
	// Faults: content that fails authentication, a 429 storm, rejected
	// credentials, each on content not read yet (fresh transcripts).
	for _, f := range []twiliosim.Faults{
		{TamperCiphertext: twiliosim.Rule{Fraction: 1}},
		{TooManyRequests: twiliosim.Rule{Times: 4}, RetryAfter: 0}, // a storm shorter than the 429 budget
		{WrongCredentials: true},
	} {
		sim.SetFaults(f)
		added, err := sim.AddTranscripts(sim.Services()[0].SID, 1)
		if err == nil {
			os.ReadFile(filepath.Join(mnt, "transcripts", added[0], "sentences.json"))
		}
	}
	sim.SetFaults(twiliosim.Faults{})
	if code := p.exitWithin(t, syscall.SIGTERM, 5*time.Second); code != 0 {
		t.Errorf("exit %d", code)
	}
	logs := p.stdout.String() + p.stderr.String()
	if !strings.Contains(logs, "rx ") || !strings.Contains(logs, "READ") {
		t.Fatalf("no FUSE debug output in the logs (%d bytes)", len(logs))
	}

	// The secrets to look for, in the forms they could be printed.
	secrets := map[string]string{
		"auth token":     sim.AuthToken,
		"key PEM":        pemSlice,
		"plaintext mark": marker,
	}
	nSigs, nKeys := rc.addSecrets(t, loadKey(t, keyPath), secrets)
	for what, s := range secrets {
		if strings.Contains(logs, s) {
			i := strings.Index(logs, s)
			t.Errorf("the logs hold the %s: …%s…", what, logs[max(0, i-80):i])
		}
		if bytes.Contains(cmdline, []byte(s)) {
			t.Errorf("argv holds the %s", what)
		}
	}
	t.Logf("checked %d bytes of logs and argv for %d secrets (%d signatures, %d content keys); %d files read cold and warm",
		len(logs), len(secrets), nSigs, nKeys, len(files))

	// The --daemon child's argv is the parent's: no secret either.
	mnt2 := newMountPoint(t)
	mustRun(t, simEnv(sim), "mount", "--daemon", "--private-key", keyPath, mnt2)
	pids := pidsServing(t, mnt2)
	if len(pids) == 0 {
		t.Fatal("no daemon child")
	}
	for _, pid := range pids {
		cl, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
		for what, s := range secrets {
			if bytes.Contains(cl, []byte(s)) {
				t.Errorf("daemon child argv holds the %s", what)
			}
		}
		syscall.Kill(pid, syscall.SIGTERM)
	}
}

// loadKey parses the test's unencrypted key file.
func loadKey(t *testing.T, path string) *rsa.PrivateKey {
	t.Helper()
	k, err := crypto.LoadPrivateKeyFile(path, crypto.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// openFlagsRE matches an open of a file for writing in strace output.
var openFlagsRE = regexp.MustCompile(`\b(open|openat|openat2|creat)\(.*"([^"]*)".*(O_WRONLY|O_RDWR|O_CREAT|O_TRUNC|O_APPEND)`)

// mutatingRE matches %file calls that change the filesystem.
var mutatingRE = regexp.MustCompile(`\b(mkdir|mkdirat|unlink|unlinkat|rename|renameat2?|link|linkat|symlink|symlinkat|truncate|chmod|fchmodat|chown|fchownat|mknod|mknodat)\("([^"]*)"`)

// allowedWrites are the files a mount may open for writing: the FUSE
// channel, and /dev/null (the runtime and exec plumbing).
var allowedWrites = map[string]bool{"/dev/fuse": true, "/dev/null": true}

// TestNoPlaintextOnDisk mounts under strace with a cold and a warm read
// workload: the mount process opens no file for writing beyond
// allowedWrites and changes no file, its /proc/PID/io write_bytes stays 0,
// and afterwards the random plaintext markers sealed into the corpus are
// in no file of the machine's writable places outside the mount point.
func TestNoPlaintextOnDisk(t *testing.T) {
	needRoot(t)
	needFUSE(t)
	strace := needTool(t, "strace")
	marker := randomMarker(t)
	sim, keyPath, tr := encryptedSim(t, twiliosim.Options{Corpus: twiliosim.CorpusOptions{TranscriptsPerService: 6, Markers: []string{marker}}})
	mnt := newMountPoint(t)
	trace := filepath.Join(t.TempDir(), "strace.out")
	p := startProc(t, simEnv(sim), mnt, strace, "-f", "-qq", "-e", "trace=%file", "-o", trace,
		testBinary(t), "mount", "--private-key", keyPath, "--cache-size", "1MiB", mnt)
	p.waitServing(t, 30*time.Second)
	binPid := 0
	for _, pid := range pidsServing(t, mnt) {
		binPid = pid
	}
	if binPid == 0 {
		t.Fatal("mount process not found under strace")
	}
	ioBytes := func() int64 {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(binPid) + "/io")
		if err != nil {
			t.Fatal(err)
		}
		m := regexp.MustCompile(`(?m)^write_bytes: (\d+)`).FindSubmatch(b)
		if m == nil {
			t.Fatalf("no write_bytes in /proc/%d/io", binPid)
		}
		n, _ := strconv.ParseInt(string(m[1]), 10, 64)
		return n
	}
	before := ioBytes()
	var total int
	for pass := 0; pass < 2; pass++ { // cold, then warm
		filepath.WalkDir(filepath.Join(mnt, "services"), func(path string, d fs.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				b, _ := os.ReadFile(path)
				total += len(b)
			}
			return nil
		})
	}
	if got, _ := os.ReadFile(sentencesPath(mnt, tr)); !bytes.Contains(got, []byte(marker)) {
		t.Fatal("the marker is not in the content: the search below would prove nothing")
	}
	after := ioBytes()
	syscall.Kill(binPid, syscall.SIGTERM) // strace exits with its tracee
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Fatal("the mount did not exit after SIGTERM")
	}
	if p.err != nil {
		t.Errorf("exit: %v", p.err)
	}
	if before != 0 || after != 0 {
		t.Errorf("write_bytes %d before and %d after %d bytes of reads, want 0", before, after, total)
	}
	out, err := os.ReadFile(trace)
	if err != nil {
		t.Fatal(err)
	}
	opened := map[string]bool{}
	for _, l := range strings.Split(string(out), "\n") {
		if m := openFlagsRE.FindStringSubmatch(l); m != nil && !strings.Contains(l, "= -1") {
			opened[m[2]] = true
			if !allowedWrites[m[2]] {
				t.Errorf("opened for writing: %s", l)
			}
		}
		if m := mutatingRE.FindStringSubmatch(l); m != nil && !strings.Contains(l, "= -1") {
			t.Errorf("changed the filesystem: %s", l)
		}
	}
	if !opened["/dev/fuse"] {
		t.Errorf("strace saw no open of /dev/fuse: the trace is not of the mount (%d bytes)", len(out))
	}
	t.Logf("%d bytes read cold and warm; %d lines of strace; files opened for writing: %v", total, strings.Count(string(out), "\n"), opened)

	// The marker on disk: plant a canary first so a broken search fails.
	canary := randomMarker(t)
	canaryFile := filepath.Join(t.TempDir(), "canary")
	if err := os.WriteFile(canaryFile, []byte("x "+canary+" y"), 0o600); err != nil {
		t.Fatal(err)
	}
	roots := []string{"/tmp", "/var/tmp", "/root", "/dev/shm", os.Getenv("HOME"), os.Getenv("TMPDIR")}
	if wd, err := os.Getwd(); err == nil {
		roots = append(roots, filepath.Dir(filepath.Dir(wd))) // the repository
	}
	found, stats := searchFiles(roots, mnt, []string{marker, canary})
	t.Logf("searched %v: %d files, %d bytes (skipped %d large, %d unreadable)", roots, stats.files, stats.bytes, stats.large, stats.unreadable)
	if len(found[canary]) == 0 {
		t.Fatalf("the search missed the canary in %s: it proves nothing", canaryFile)
	}
	if len(found[marker]) != 0 {
		t.Errorf("plaintext marker found on disk in %v", found[marker])
	}
}

type searchStats struct{ files, bytes, large, unreadable int64 }

// searchFiles walks roots (skipping /proc, /sys, the mount point, every
// FUSE mount and Go's module cache) and returns, per needle, the files containing it. Files over
// 256 MiB are skipped and counted, and at most 500,000 files are read.
func searchFiles(roots []string, mnt string, needles []string) (map[string][]string, searchStats) {
	skip := map[string]bool{"/proc": true, "/sys": true, mnt: true}
	// The module cache holds downloaded sources only (read-only, large).
	if out, err := exec.Command("go", "env", "GOMODCACHE").Output(); err == nil {
		skip[strings.TrimSpace(string(out))] = true
	}
	if mi, err := os.ReadFile("/proc/self/mountinfo"); err == nil {
		for _, l := range strings.Split(string(mi), "\n") {
			f := strings.Fields(l)
			if i := indexOf(f, "-"); i > 0 && i+1 < len(f) && strings.HasPrefix(f[i+1], "fuse") {
				skip[f[4]] = true
			}
		}
	}
	found := map[string][]string{}
	var st searchStats
	seen := map[string]bool{}
	buf := make([]byte, 1<<20)
	for _, root := range roots {
		if root == "" || seen[root] {
			continue
		}
		seen[root] = true
		filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				st.unreadable++
				return nil
			}
			if skip[path] {
				return filepath.SkipDir
			}
			if !d.Type().IsRegular() || st.files >= 500000 {
				return nil
			}
			if fi, err := d.Info(); err != nil || fi.Size() > 256<<20 {
				st.large++
				return nil
			}
			f, err := os.Open(path)
			if err != nil {
				st.unreadable++
				return nil
			}
			defer f.Close()
			st.files++
			hit := map[string]bool{}
			carry := 0 // the tail of the last chunk, for needles across reads
			for {
				n, err := f.Read(buf[carry:])
				chunk := buf[:carry+n]
				st.bytes += int64(n)
				for _, nd := range needles {
					if !hit[nd] && bytes.Contains(chunk, []byte(nd)) {
						hit[nd] = true
						found[nd] = append(found[nd], path)
					}
				}
				if err != nil || n == 0 {
					break
				}
				carry = min(64, len(chunk))
				copy(buf, chunk[len(chunk)-carry:])
			}
			return nil
		})
	}
	return found, st
}

func indexOf(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

// TestServeSecretsNeverLogged runs serve at --log-level debug against the
// simulator and drives it over HTTP through every page kind (services, a
// service's transcripts, a transcript, a search that matches, each
// download), a request without the token and one with a foreign Host, a
// 429 storm and content that fails authentication. Its output but the one
// URL line holds none of the access token, the auth token, a presigned
// query or signature, the key PEM, a content key, or the plaintext marker.
func TestServeSecretsNeverLogged(t *testing.T) {
	marker := randomMarker(t)
	sim, keyPath, _ := encryptedSim(t, twiliosim.Options{Corpus: twiliosim.CorpusOptions{TranscriptsPerService: 4, Markers: []string{marker}}})
	var tr twiliosim.TranscriptInfo // an encrypted transcript that holds the marker
	for _, svc := range sim.Services() {
		for _, x := range sim.Transcripts(svc.SID) {
			if x.Status == twiliosim.StatusCompleted && x.EncryptionCredentialSID != "" &&
				bytes.Contains(sim.SentencesPlaintext(x.SID, x.Redaction), []byte(marker)) && tr.SID == "" {
				tr = x
			}
		}
	}
	if tr.SID == "" {
		t.Fatal("no sealed transcript holds the marker")
	}
	rc := frontSim(t, sim)
	pemBytes, err := os.ReadFile(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	pemLines := strings.Split(string(pemBytes), "\n")

	cmd := exec.Command(testBinary(t), "serve", "--private-key", keyPath, "--log-level", "debug", "--cache-size", "1MiB")
	cmd.Env = simEnv(sim)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	stdout := bufio.NewReader(out)
	urlLine, err := stdout.ReadString('\n')
	if err != nil {
		t.Fatalf("serve printed no URL: %v", err)
	}
	u, err := url.Parse(strings.TrimSpace(urlLine))
	if err != nil {
		t.Fatal(err)
	}
	token := u.Query().Get("token")
	base := u.Scheme + "://" + u.Host
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	get := func(c *http.Client, path, host string) (int, string) {
		t.Helper()
		req, err := http.NewRequest("GET", base+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if host != "" {
			req.Host = host
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get(c, "/?"+u.RawQuery, ""); code != 200 {
		t.Fatalf("the printed URL: %d", code)
	}
	pages := []string{"/services"}
	for _, svc := range sim.Services() {
		pages = append(pages, "/services/"+svc.SID)
	}
	pages = append(pages, "/transcripts/"+tr.SID, "/search?q="+url.QueryEscape(marker))
	for _, f := range []string{"sentences.json", "sentences.txt", "operator-results.jsonl"} {
		pages = append(pages, "/transcripts/"+tr.SID+"/download/"+f)
	}
	for _, p := range pages {
		code, body := get(c, p, "")
		if code != 200 {
			t.Errorf("%s: %d", p, code)
		}
		if (strings.HasPrefix(p, "/search") || strings.HasSuffix(p, ".json") || p == "/transcripts/"+tr.SID) && !strings.Contains(body, marker) {
			t.Errorf("%s does not show the marker: the test proves nothing", p)
		}
	}
	if code, _ := get(http.DefaultClient, "/services", ""); code != http.StatusForbidden {
		t.Errorf("without the token: %d", code)
	}
	if code, _ := get(c, "/?token="+token, "evil.example:80"); code != http.StatusForbidden {
		t.Errorf("a foreign Host: %d", code)
	}
	// Faults on transcripts not viewed yet: a 429 storm (debug retry
	// lines), content that fails authentication (a failed page's line).
	for _, f := range []twiliosim.Faults{
		{TooManyRequests: twiliosim.Rule{Times: 2}, RetryAfter: 0},
		{TamperCiphertext: twiliosim.Rule{Fraction: 1}},
	} {
		sim.SetFaults(f)
		added, err := sim.AddTranscripts(tr.ServiceSID, 1)
		if err != nil {
			t.Fatal(err)
		}
		get(c, "/transcripts/"+added[0], "")
		get(c, "/transcripts/"+added[0]+"/download/sentences.json", "")
	}
	sim.SetFaults(twiliosim.Faults{})

	cmd.Process.Signal(os.Interrupt)
	rest, _ := io.ReadAll(stdout)
	if err := cmd.Wait(); err != nil {
		t.Errorf("serve: %v", err)
	}
	logs := string(rest) + stderr.String()
	for _, want := range []string{"web: request", "fetch: throttled", "web: loading the transcript's content failed", "web: fetching the transcript's content failed"} {
		if !strings.Contains(logs, want) {
			t.Fatalf("no %q line in the debug logs: the test proves nothing\n%s", want, logs)
		}
	}

	secrets := map[string]string{
		"access token":    token,
		"auth token":      sim.AuthToken,
		"key PEM":         pemLines[len(pemLines)/2][:40],
		"plaintext mark":  marker,
		"presigned query": "X-Amz-Signature",
		"presigned cred":  "X-Amz-Credential",
	}
	nSigs, nKeys := rc.addSecrets(t, loadKey(t, keyPath), secrets)
	for what, s := range secrets {
		if i := strings.Index(logs, s); i >= 0 {
			t.Errorf("the logs hold the %s: …%s…", what, logs[max(0, i-120):min(len(logs), i+len(s)+40)])
		}
	}
	t.Logf("checked %d bytes of logs for %d secrets (%d signatures, %d content keys) over %d pages", len(logs), len(secrets), nSigs, nKeys, len(pages))
}
