package main

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/cmd/doctor"
	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/factory"
	"github.com/intelligencefs/intelligencefs/crypto"
	"github.com/intelligencefs/intelligencefs/fetch/twiliosim"
)

// marker is embedded in every simulated sentences document and operator
// result: it must never show in doctor's output.
const marker = "PLAINTEXT-MARKER-7f3a9c"

var crPattern = regexp.MustCompile(`CR[0-9a-f]{32}`)

// fuseUsable reports whether this test process could mount with FUSE, and
// why not, using the same rules as doctor.
func fuseUsable() (bool, string) {
	if runtime.GOOS != "linux" {
		return false, "mounting needs Linux"
	}
	root := os.Geteuid() == 0
	f, err := os.OpenFile("/dev/fuse", os.O_RDWR, 0)
	if err != nil && !(root && !errors.Is(err, fs.ErrNotExist)) {
		return false, "/dev/fuse is not usable: " + err.Error()
	}
	if f != nil {
		f.Close()
	}
	if _, err := exec.LookPath("fusermount3"); err != nil && !root {
		return false, "fusermount3 is not on PATH"
	}
	return true, ""
}

// setDataLogging turns a simulated service's data logging on or off with a
// plain Service update, as the Console would.
func setDataLogging(t *testing.T, sim *twiliosim.Server, sid string, on bool) {
	t.Helper()
	v := "false"
	if on {
		v = "true"
	}
	req, err := http.NewRequest(http.MethodPost, sim.URL+"/v2/Services/"+sid, strings.NewReader(url.Values{"DataLogging": {v}}.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(sim.AccountSID, sim.AuthToken)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("turning data logging %s: HTTP %d", v, resp.StatusCode)
	}
}

// assertNoSecrets fails if a run's output holds the auth token or any
// decrypted plaintext.
func assertNoSecrets(t *testing.T, sim *twiliosim.Server, res cliResult) {
	t.Helper()
	out := res.stdout + res.stderr
	if strings.Contains(out, sim.AuthToken) {
		t.Error("the auth token appears in the output")
	}
	if strings.Contains(out, marker) {
		t.Error("decrypted plaintext appears in the output")
	}
}

// TestSetupPath is the whole set-up a customer does, against the
// simulator: keygen, keys register, services encrypt, new transcripts sealed
// to the registered key, doctor all green, then mount and read one
// sentences.json.
func TestSetupPath(t *testing.T) {
	sim := newSim(t, twiliosim.Options{Corpus: twiliosim.CorpusOptions{TranscriptsPerService: 4, Markers: []string{marker}}})
	env := simEnv(sim)
	svcSID := sim.ServiceSID("call-centre-plain")
	if svcSID == "" {
		t.Fatal("the simulator has no plain service")
	}
	setDataLogging(t, sim, svcSID, false)

	// 1. keygen
	dir := t.TempDir()
	mustRun(t, env, "keygen", "--out", dir)
	priv, pub := filepath.Join(dir, "private_key.pem"), filepath.Join(dir, "public_key.pem")

	// 2. keys register, keys list
	res := mustRun(t, env, "keys", "register", "--public-key", pub, "--name", "setup test")
	cr := crPattern.FindString(res.stdout)
	if cr == "" {
		t.Fatalf("keys register printed no CR… SID:\n%s", res.stdout)
	}
	if !strings.Contains(res.stdout, "services encrypt") {
		t.Errorf("keys register does not print the next step (services encrypt):\n%s", res.stdout)
	}
	keyBytes, _ := os.ReadFile(pub)
	wantPub, err := crypto.ParsePublicKeyPEM(keyBytes)
	if err != nil {
		t.Fatal(err)
	}
	if got := sim.PublicKey(cr); got == nil || !got.Equal(wantPub) {
		t.Fatalf("the simulator does not hold public_key.pem as %s", cr)
	}
	res = mustRun(t, env, "keys", "list")
	if !regexp.MustCompile(cr + `\s+setup test\s+\d{4}-\d\d-\d\dT`).MatchString(res.stdout) {
		t.Errorf("keys list does not show %s with its name and date:\n%s", cr, res.stdout)
	}

	// 3. services list, services encrypt
	res = mustRun(t, env, "services", "list")
	if !regexp.MustCompile(svcSID + `\s+call-centre-plain\s+en-US\s+off\s+off\s+off`).MatchString(res.stdout) {
		t.Errorf("services list before encryption:\n%s", res.stdout)
	}
	res = mustRun(t, env, "services", "encrypt", "call-centre-plain", "--credential", cr)
	if !strings.Contains(res.stdout, "before: off") || !strings.Contains(res.stdout, "after:  on, credential "+cr) {
		t.Errorf("services encrypt does not show before and after:\n%s", res.stdout)
	}
	if got := sim.Services(); !hasServiceCredential(got, svcSID, cr) {
		t.Fatalf("the service's encryption credential is not %s after services encrypt", cr)
	}
	res = mustRun(t, env, "services", "list")
	if !regexp.MustCompile(svcSID + `\s+call-centre-plain\s+en-US\s+on ` + cr).MatchString(res.stdout) {
		t.Errorf("services list after encryption:\n%s", res.stdout)
	}

	// 4. New transcripts of the service are sealed to the registered key.
	sids, err := sim.AddTranscripts(svcSID, 2)
	if err != nil {
		t.Fatal(err)
	}
	gt := sids[len(sids)-1]
	var redaction bool
	for _, ti := range sim.Transcripts(svcSID) {
		if ti.SID == gt {
			if ti.EncryptionCredentialSID != cr {
				t.Fatalf("new transcript %s is encrypted with %q, want %s", gt, ti.EncryptionCredentialSID, cr)
			}
			redaction = ti.Redaction
		}
	}

	// 5. doctor: all green.
	fuseOK, why := fuseUsable()
	res = runCLI(t, env, "doctor", "--private-key", cr+"="+priv)
	assertNoSecrets(t, sim, res)
	if !fuseOK {
		t.Logf("FUSE is not usable here (%s): doctor's FUSE check is expected to fail", why)
	}
	for _, l := range lines(res.stdout, doctor.MarkFail) {
		if !fuseOK && strings.HasPrefix(l, doctor.MarkFail+" FUSE:") {
			continue
		}
		t.Errorf("doctor failed a check: %s", l)
	}
	if wantCode := map[bool]int{true: 0, false: 1}[fuseOK]; res.code != wantCode {
		t.Errorf("doctor: exit %d, want %d\n%s%s", res.code, wantCode, res.stdout, res.stderr)
	}
	for _, want := range []string{doctor.MarkOK + " credentials: accepted", doctor.MarkOK + " key " + cr + "=" + priv + ": RSA 2048 bits, mode 0600", doctor.MarkOK + " service call-centre-plain (" + svcSID + "): your keys open transcript " + gt} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("doctor output lacks %q:\n%s", want, res.stdout)
		}
	}
	if len(lines(res.stdout, doctor.MarkWarn+" service")) != 0 {
		t.Errorf("doctor warns about a service with data logging off:\n%s", res.stdout)
	}

	// 6. mount and read the new transcript's sentences.
	if !fuseOK {
		if os.Getenv("INTELLIGENCEFS_REQUIRE_FUSE") == "1" {
			t.Fatalf("FUSE is required (INTELLIGENCEFS_REQUIRE_FUSE=1) but not usable: %s", why)
		}
		t.Skipf("mount step skipped: FUSE is not usable here (%s); set up /dev/fuse and fusermount3 to run it", why)
	}
	mnt := t.TempDir()
	path := filepath.Join(mnt, "services", svcSID, "transcripts", gt, "sentences.json")
	mountAndWait(t, env, mnt, filepath.Join(mnt, "services"), "--private-key", cr+"="+priv)
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := sim.SentencesPlaintext(gt, redaction)
	if !bytes.Equal(got, want) {
		t.Fatalf("%s: %d bytes differ from the %d bytes the simulator sealed", path, len(got), len(want))
	}
}

// hasServiceCredential reports whether service sid encrypts with cr.
func hasServiceCredential(svcs []twiliosim.ServiceInfo, sid, cr string) bool {
	for _, s := range svcs {
		if s.SID == sid {
			return s.EncryptionCredentialSID == cr
		}
	}
	return false
}

// mountAndWait starts `intelligencefs mount` at mnt in the foreground, waits
// until ready exists (the mount answers), and unmounts and reaps it at
// cleanup.
func mountAndWait(t *testing.T, env []string, mnt, ready string, flags ...string) {
	t.Helper()
	cmd := exec.Command(testBinary(t), append(append([]string{"mount"}, flags...), mnt)...)
	cmd.Env = env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		// A mount left behind by a crash: detach it so TempDir can go.
		exec.Command("fusermount3", "-u", "-z", mnt).Run()
		exec.Command("umount", "-l", mnt).Run()
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(ready); err == nil {
			return
		}
		select {
		case err := <-done:
			done <- err
			t.Fatalf("mount exited before the mount was ready (%v):\n%s", err, out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("mount not ready after 30s:\n%s", out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// writeKey writes key as an unencrypted PKCS#8 PEM file with mode perm.
func writeKey(t *testing.T, path string, key *rsa.PrivateKey, perm os.FileMode) {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, perm); err != nil {
		t.Fatal(err)
	}
}

// TestDoctorCatches runs doctor against set-ups that are each wrong in one
// way and checks it says so on the expected ✘ line with a non-zero exit,
// and that warnings (⚠) alone leave the exit status 0.
func TestDoctorCatches(t *testing.T) {
	keyA, keyB := newKey(t), newKey(t)
	short, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	sim := newSim(t, twiliosim.Options{
		Keys: []twiliosim.Credential{{PublicKey: &keyA.PublicKey, FriendlyName: "A"}, {PublicKey: &keyB.PublicKey, FriendlyName: "B"}},
		// The mixed service would repeat the encrypted one's lines.
		Corpus: twiliosim.CorpusOptions{TranscriptsPerService: 4, NoMixedService: true, Markers: []string{marker}},
	})
	creds := sim.CredentialSIDs()
	if len(creds) != 2 {
		t.Fatalf("simulator credentials: %v", creds)
	}
	crA, crB := creds[0], creds[1]
	encSID := sim.ServiceSID("call-centre-encrypted")
	plainSID := sim.ServiceSID("call-centre-plain")
	encName := "service call-centre-encrypted (" + encSID + ")"

	dir := t.TempDir()
	pathA := filepath.Join(dir, "a.pem")
	pathB := filepath.Join(dir, "b.pem")
	pathOpen := filepath.Join(dir, "world-readable.pem")
	pathShort := filepath.Join(dir, "short.pem")
	pathJunk := filepath.Join(dir, "junk.pem")
	pathEnc := filepath.Join(dir, "encrypted.pem")
	pathLocked := filepath.Join(dir, "unreadable.pem")
	writeKey(t, pathA, keyA, 0o600)
	writeKey(t, pathB, keyB, 0o600)
	writeKey(t, pathOpen, keyA, 0o644)
	writeKey(t, pathShort, short, 0o600)
	writeKey(t, pathLocked, keyA, 0o000)
	if err := os.WriteFile(pathJunk, []byte("this is not a key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const pw = "doctor test passphrase"
	if err := crypto.WritePrivateKeyFile(pathEnc, keyA, []byte(pw), false); err != nil {
		t.Fatal(err)
	}

	fuseOK, why := fuseUsable()
	if !fuseOK {
		t.Logf("FUSE is not usable here (%s): a FUSE ✘ line is tolerated in the passing cases", why)
	}
	dataLogging := doctor.MarkWarn + " service call-centre-plain (" + plainSID + "): data logging is on"
	withoutToken := func(env []string) []string {
		var out []string
		for _, kv := range env {
			if !strings.HasPrefix(kv, "TWILIO_AUTH_TOKEN=") {
				out = append(out, kv)
			}
		}
		return out
	}

	cases := []struct {
		name  string
		args  []string
		env   func([]string) []string
		fail  bool     // a ✘ line (other than FUSE) and exit 1 expected
		want  []string // substrings of lines that must appear
		noDAC bool     // as root, run without the capabilities that let root read any file
	}{
		{name: "right key, data logging warns only", args: []string{"--private-key", crA + "=" + pathA},
			want: []string{doctor.MarkOK + " credentials: accepted", doctor.MarkOK + " " + encName + ": your keys open transcript", dataLogging}},
		{name: "unbound right key", args: []string{"--private-key", pathA},
			want: []string{doctor.MarkOK + " key " + pathA + ": RSA 2048 bits, mode 0600, unbound", doctor.MarkOK + " " + encName + ": your keys open"}},
		{name: "encrypted key, passphrase from env", args: []string{"--private-key", crA + "=" + pathEnc},
			env:  func(e []string) []string { return append(e, factory.EnvKeyPassphrase+"="+pw) },
			want: []string{doctor.MarkOK + " key " + crA + "=" + pathEnc, doctor.MarkOK + " " + encName + ": your keys open"}},
		{name: "world-readable key allowed", args: []string{"--private-key", crA + "=" + pathOpen, "--allow-insecure-key-perms"},
			want: []string{doctor.MarkWarn + " key " + crA + "=" + pathOpen + ": group or others can read it", doctor.MarkOK + " " + encName + ": your keys open"}},

		{name: "wrong key", args: []string{"--private-key", pathB}, fail: true,
			want: []string{doctor.MarkFail + " " + encName + ": none of your keys opens transcript", "registered as " + crA}},
		{name: "key for another credential", args: []string{"--private-key", crB + "=" + pathB}, fail: true,
			want: []string{doctor.MarkFail + " " + encName + ": none of your keys opens", "--private-key " + crA + "=PATH"}},
		{name: "right key bound to another credential", args: []string{"--private-key", crB + "=" + pathA}, fail: true,
			want: []string{doctor.MarkFail + " " + encName + ": none of your keys opens", "fits but is bound to " + crB + ": bind it as --private-key " + crA + "=" + pathA}},
		{name: "no key", fail: true,
			want: []string{doctor.MarkFail + " " + encName + ": no --private-key given"}},
		{name: "world-readable key", args: []string{"--private-key", crA + "=" + pathOpen}, fail: true,
			want: []string{doctor.MarkFail + " key " + crA + "=" + pathOpen + ": mode 0644 gives group or others access: run chmod 600 " + pathOpen}},
		{name: "missing key file", args: []string{"--private-key", crA + "=" + filepath.Join(dir, "nope.pem")}, fail: true,
			want: []string{doctor.MarkFail + " key " + crA + "=" + filepath.Join(dir, "nope.pem") + ": no such file"}},
		{name: "unreadable key file", args: []string{"--private-key", crA + "=" + pathLocked}, fail: true, noDAC: true,
			want: []string{doctor.MarkFail + " key " + crA + "=" + pathLocked + ": cannot read it"}},
		{name: "not a key", args: []string{"--private-key", crA + "=" + pathJunk}, fail: true,
			want: []string{doctor.MarkFail + " key " + crA + "=" + pathJunk + ": not a PEM file"}},
		{name: "key too short", args: []string{"--private-key", crA + "=" + pathShort}, fail: true,
			want: []string{doctor.MarkFail + " key " + crA + "=" + pathShort + ": RSA key too short"}},
		{name: "encrypted key without passphrase", args: []string{"--private-key", crA + "=" + pathEnc}, fail: true,
			want: []string{doctor.MarkFail + " key " + crA + "=" + pathEnc + ":", factory.EnvKeyPassphrase}},
		{name: "wrong credentials", args: []string{"--private-key", crA + "=" + pathA}, fail: true,
			env: func(e []string) []string {
				return append(withoutToken(e), "TWILIO_AUTH_TOKEN=0123456789abcdef0123456789abcdef")
			},
			want: []string{doctor.MarkFail + " credentials: Twilio rejected the auth token of " + sim.AccountSID, doctor.MarkOK + " key " + crA + "=" + pathA}},
		{name: "no credentials", args: []string{"--private-key", crA + "=" + pathA}, fail: true,
			env:  withoutToken,
			want: []string{doctor.MarkFail + " credentials: ", "TWILIO_AUTH_TOKEN"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var wrapper []string
			if tc.noDAC && os.Geteuid() == 0 {
				// Root reads a mode 0000 file through CAP_DAC_OVERRIDE and
				// CAP_DAC_READ_SEARCH; without them it is refused like
				// any user, which is the case this row is about.
				setpriv := needTool(t, "setpriv")
				drop := "-dac_override,-dac_read_search"
				wrapper = []string{setpriv, "--inh-caps=" + drop, "--bounding-set=" + drop, "--"}
			}
			env := simEnv(sim)
			if tc.env != nil {
				env = tc.env(env)
			}
			res := runCLIUnder(t, wrapper, env, append([]string{"doctor"}, tc.args...)...)
			assertNoSecrets(t, sim, res)
			if strings.Contains(res.stdout+res.stderr, pw) {
				t.Error("the passphrase appears in doctor's output")
			}
			for _, w := range tc.want {
				if !strings.Contains(res.stdout, w) {
					t.Errorf("doctor output lacks %q", w)
				}
			}
			var fails []string
			for _, l := range lines(res.stdout, doctor.MarkFail) {
				if !fuseOK && strings.HasPrefix(l, doctor.MarkFail+" FUSE:") {
					continue
				}
				fails = append(fails, l)
			}
			wantCode := 0
			if tc.fail || !fuseOK {
				wantCode = 1
			}
			if tc.fail != (len(fails) > 0) || res.code != wantCode {
				t.Errorf("exit %d with %d ✘ line(s); want exit %d, failing %v", res.code, len(fails), wantCode, tc.fail)
			}
			if t.Failed() {
				t.Logf("doctor %s\nstdout:\n%s\nstderr:\n%s", strings.Join(tc.args, " "), res.stdout, res.stderr)
			}
		})
	}
}

// TestDoctorMemlockWarning runs doctor with a small RLIMIT_MEMLOCK and
// without CAP_IPC_LOCK: a ⚠ line with the fixes, exit status unaffected.
func TestDoctorMemlockWarning(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("RLIMIT_MEMLOCK is checked on Linux only")
	}
	prlimit, err := exec.LookPath("prlimit")
	if err != nil {
		t.Skip("needs util-linux prlimit to lower RLIMIT_MEMLOCK")
	}
	argv := []string{prlimit, "--memlock=65536:65536"}
	if os.Geteuid() == 0 {
		setpriv, err := exec.LookPath("setpriv")
		if err != nil {
			t.Skip("running as root, and no util-linux setpriv to drop CAP_IPC_LOCK")
		}
		argv = append(argv, setpriv, "--bounding-set=-ipc_lock")
	}
	sim := newSim(t, twiliosim.Options{Corpus: twiliosim.CorpusOptions{TranscriptsPerService: -1}})
	setDataLogging(t, sim, sim.ServiceSID("call-centre-plain"), false)
	argv = append(argv, testBinary(t), "doctor", "--cache-size", "1G")
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = simEnv(sim)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	code := exitStatus(t, cmd.Run())
	want := doctor.MarkWarn + " memory locking: RLIMIT_MEMLOCK is 64KiB, less than the 1GiB cache"
	if !strings.Contains(stdout.String(), want) || !strings.Contains(stdout.String(), "ulimit -l 1048576") || !strings.Contains(stdout.String(), "LimitMEMLOCK=1G") {
		t.Errorf("doctor output lacks %q with the ulimit and systemd fixes:\n%s", want, stdout.String())
	}
	fuseOK, _ := fuseUsable()
	if wantCode := map[bool]int{true: 0, false: 1}[fuseOK]; code != wantCode {
		t.Errorf("exit %d, want %d:\n%s%s", code, wantCode, stdout.String(), stderr.String())
	}
}
