package main

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/intelligencefs/intelligencefs/crypto"
	"github.com/intelligencefs/intelligencefs/fetch/twiliosim"
)

// Tests of the commands that need no FUSE: decrypt, cat, and the
// credential and key failures every Twilio-talking command shares. They
// drive the built binary (setup_test.go).

// newKey generates a 2048-bit RSA key for a test.
func newKey(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	key, err := crypto.GenerateKey(2048)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// genKeyFile generates a key and writes it, unencrypted (or encrypted with
// passphrase), to dir/name with mode perm.
func genKeyFile(t *testing.T, dir, name string, passphrase []byte, perm os.FileMode) (*rsa.PrivateKey, string) {
	t.Helper()
	key := newKey(t)
	pemBytes, err := crypto.MarshalPrivateKeyPEM(key, passphrase)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, pemBytes, perm); err != nil {
		t.Fatal(err)
	}
	os.Chmod(p, perm)
	return key, p
}

// oneErrorLine checks that stderr is exactly one "intelligencefs: " line
// containing want.
func oneErrorLine(t *testing.T, res cliResult, code int, want string) {
	t.Helper()
	if res.code != code {
		t.Errorf("exit %d, want %d; stderr:\n%s", res.code, code, res.stderr)
	}
	ls := strings.Split(strings.TrimRight(res.stderr, "\n"), "\n")
	if len(ls) != 1 || !strings.HasPrefix(ls[0], "intelligencefs: ") {
		t.Errorf("stderr is not one intelligencefs: line:\n%s", res.stderr)
	}
	if !strings.Contains(res.stderr, want) {
		t.Errorf("stderr lacks %q:\n%s", want, res.stderr)
	}
}

func TestDecryptRoundTrip(t *testing.T) {
	dir := t.TempDir()
	key, keyPath := genKeyFile(t, dir, "private_key.pem", nil, 0o600)
	_, otherKey := genKeyFile(t, dir, "other.pem", nil, 0o600)
	marker := "MARKER-" + rand.Text()
	plain := append(bytes.Repeat([]byte("0123456789abcdef"), 8<<10), marker...)
	env, err := crypto.Seal(&key.PublicKey, plain)
	if err != nil {
		t.Fatal(err)
	}
	body := filepath.Join(dir, "body.bin")
	os.WriteFile(body, env.Body, 0o600)
	headers := filepath.Join(dir, "headers.txt")
	os.WriteFile(headers, []byte("HTTP/1.1 200 OK\r\nContent-Type: binary/octet-stream\r\nX-Amz-Meta-X-Amz-Key: "+env.EncodedKey()+
		"\r\nx-amz-meta-x-amz-iv: "+env.EncodedIV()+"\r\nContent-Length: 1\r\n\r\n"), 0o600)
	base := baseEnv()

	res := mustRun(t, base, "decrypt", "--private-key", keyPath, "--encrypted-key", env.EncodedKey(), "--iv", env.EncodedIV(), body)
	if res.stdout != string(plain) {
		t.Fatalf("flags: plaintext differs (%d bytes, want %d)", len(res.stdout), len(plain))
	}
	res = mustRun(t, base, "decrypt", "--private-key", keyPath, "--headers", headers, body)
	if res.stdout != string(plain) {
		t.Fatal("--headers: plaintext differs")
	}
	out := filepath.Join(dir, "out", "plain.json")
	os.Mkdir(filepath.Dir(out), 0o700)
	res = mustRun(t, base, "decrypt", "--private-key", keyPath, "--headers", headers, "-o", out, body)
	if got, _ := os.ReadFile(out); !bytes.Equal(got, plain) || res.stdout != "" {
		t.Fatal("-o: file differs or stdout not empty")
	}
	if fi, _ := os.Stat(out); fi.Mode().Perm() != 0o600 {
		t.Errorf("-o mode %v, want 0600", fi.Mode().Perm())
	}

	// Failures: one line, no plaintext, no OUT (and an existing OUT kept).
	tampered := append([]byte(nil), env.Body...)
	tampered[10] ^= 1
	badBody := filepath.Join(dir, "tampered.bin")
	os.WriteFile(badBody, tampered, 0o600)
	out2 := filepath.Join(dir, "out", "never.json")
	res = runCLI(t, base, "decrypt", "--private-key", keyPath, "--headers", headers, "-o", out2, badBody)
	oneErrorLine(t, res, 1, "authentication")
	if _, err := os.Stat(out2); !os.IsNotExist(err) {
		t.Error("a failed decrypt left OUT behind")
	}
	res = runCLI(t, base, "decrypt", "--private-key", keyPath, "--headers", headers, "-o", out, badBody)
	oneErrorLine(t, res, 1, "authentication")
	if got, _ := os.ReadFile(out); !bytes.Equal(got, plain) {
		t.Error("a failed decrypt changed an existing OUT")
	}
	if ents, _ := os.ReadDir(filepath.Dir(out)); len(ents) != 1 {
		t.Errorf("temporary files left: %v", ents)
	}
	res = runCLI(t, base, "decrypt", "--private-key", otherKey, "--headers", headers, body)
	oneErrorLine(t, res, 1, "cannot unwrap")
	res = runCLI(t, base, "decrypt", "--private-key", keyPath, "--iv", env.EncodedIV(), body)
	oneErrorLine(t, res, 2, "--encrypted-key")
	res = runCLI(t, base, "decrypt", "--headers", headers, body)
	oneErrorLine(t, res, 2, "--private-key")
	os.Chmod(keyPath, 0o644)
	res = runCLI(t, base, "decrypt", "--private-key", keyPath, "--headers", headers, body)
	oneErrorLine(t, res, 1, "chmod 600")
	for _, r := range []cliResult{res} {
		if strings.Contains(r.stderr, marker) {
			t.Error("plaintext in an error")
		}
	}
}

// catSim starts a small simulator sealing to a fresh key written to a file.
func catSim(t *testing.T) (*twiliosim.Server, string) {
	t.Helper()
	key, keyPath := genKeyFile(t, t.TempDir(), "key.pem", nil, 0o600)
	sim := newSim(t, twiliosim.Options{
		Keys:   []twiliosim.Credential{{PublicKey: &key.PublicKey}},
		Corpus: twiliosim.CorpusOptions{Seed: 7, TranscriptsPerService: 6},
	})
	return sim, keyPath
}

func TestCatExactBytes(t *testing.T) {
	sim, keyPath := catSim(t)
	env := simEnv(sim)
	if err := sim.SetTranscriptStatus(sim.Transcripts(sim.Services()[0].SID)[0].SID, twiliosim.StatusInProgress); err != nil {
		t.Fatal(err)
	}
	var sawEnc, sawPlain, sawInProgress bool
	for _, svc := range sim.Services() {
		for _, tr := range sim.Transcripts(svc.SID) {
			if tr.Status != twiliosim.StatusCompleted {
				if !sawInProgress {
					sawInProgress = true
					oneErrorLine(t, runCLI(t, env, "cat", "--private-key", keyPath, tr.SID), 1, tr.Status)
				}
				continue
			}
			enc := tr.EncryptionCredentialSID != ""
			if (enc && sawEnc) || (!enc && sawPlain) {
				continue
			}
			sawEnc, sawPlain = sawEnc || enc, sawPlain || !enc
			wantDoc := func(redacted bool) []byte {
				if enc {
					return sim.SentencesPlaintext(tr.SID, redacted)
				}
				// Plain transcripts come from the list endpoint, all pages.
				return []byte(`{"sentences":[` + string(bytes.Join(sim.SentenceResources(tr.SID, redacted, true), []byte(","))) + `]}`)
			}
			res := mustRun(t, env, "cat", "--private-key", keyPath, tr.SID)
			if want := wantDoc(tr.Redaction); res.stdout != string(want) {
				t.Errorf("cat %s (encrypted %v): %d bytes differ from the %d expected", tr.SID, enc, len(res.stdout), len(want))
			}
			res = mustRun(t, env, "cat", "--unredacted", "--private-key", keyPath, tr.SID)
			if want := wantDoc(false); res.stdout != string(want) {
				t.Errorf("cat --unredacted %s: differs", tr.SID)
			}
			res = mustRun(t, env, "cat", "--operator-results", "--private-key", keyPath, tr.SID)
			var want bytes.Buffer
			docs := sim.OperatorResultPlaintexts(tr.SID, tr.Redaction)
			if !enc {
				docs = sim.OperatorResultResources(tr.SID, tr.Redaction)
			}
			for _, doc := range docs {
				json.Compact(&want, doc)
				want.WriteByte('\n')
			}
			if res.stdout != want.String() {
				t.Errorf("cat --operator-results %s:\n%s\nwant\n%s", tr.SID, res.stdout, want.String())
			}
		}
	}
	if !sawEnc || !sawPlain || !sawInProgress {
		t.Fatalf("corpus lacks a kind: encrypted %v plain %v in-progress %v", sawEnc, sawPlain, sawInProgress)
	}
	oneErrorLine(t, runCLI(t, env, "cat", "GT00000000000000000000000000000000"), 1, "GT00000000000000000000000000000000")
}

// TestConnectionFailures covers the one-line errors and exit codes of
// missing or bad credentials and keys; every case fails before anything is
// mounted, so no FUSE is needed (and a mount point that does not exist
// proves nothing was attempted).
func TestConnectionFailures(t *testing.T) {
	sim, keyPath := catSim(t)
	dir := t.TempDir()
	mnt := filepath.Join(dir, "mnt")
	os.Mkdir(mnt, 0o700)
	notPEM := filepath.Join(dir, "notpem.pem")
	os.WriteFile(notPEM, []byte("hello"), 0o600)
	_, encKey := genKeyFile(t, dir, "enc.pem", []byte("correct horse"), 0o600)
	_, looseKey := genKeyFile(t, dir, "loose.pem", nil, 0o644)
	pub := filepath.Join(dir, "pub.pem")
	apiEnv := func(extra ...string) []string {
		return append(append(baseEnv(), "INTELLIGENCEFS_API_URL="+sim.URL), extra...)
	}
	wrong := strings.Repeat("0", len(sim.AuthToken))
	for _, tt := range []struct {
		name string
		env  []string
		args []string
		code int
		want string
	}{
		{"no credentials", apiEnv(), []string{"mount", mnt}, 2, "TWILIO_AUTH_TOKEN"},
		{"api key without secret", apiEnv("TWILIO_ACCOUNT_SID="+sim.AccountSID, "TWILIO_API_KEY="+sim.APIKeySID), []string{"mount", mnt}, 2, "TWILIO_API_SECRET"},
		{"wrong auth token", apiEnv("TWILIO_ACCOUNT_SID="+sim.AccountSID, "TWILIO_AUTH_TOKEN="+wrong), []string{"mount", "--private-key", keyPath, mnt}, 1, "rejected"},
		{"wrong api secret", apiEnv("TWILIO_ACCOUNT_SID="+sim.AccountSID, "TWILIO_API_KEY="+sim.APIKeySID, "TWILIO_API_SECRET="+wrong), []string{"mount", mnt, "--private-key", keyPath}, 1, "rejected"},
		{"not PEM", simEnv(sim), []string{"mount", "--private-key", notPEM, mnt}, 1, notPEM},
		{"missing key file", simEnv(sim), []string{"mount", "--private-key", filepath.Join(dir, "nope.pem"), mnt}, 1, "nope.pem"},
		{"group-readable key", simEnv(sim), []string{"mount", "--private-key", looseKey, mnt}, 1, "chmod 600"},
		{"encrypted key, no passphrase", simEnv(sim), []string{"mount", "--private-key", encKey, mnt}, 1, "INTELLIGENCEFS_KEY_PASSPHRASE"},
		{"encrypted key, wrong passphrase", append(simEnv(sim), "INTELLIGENCEFS_KEY_PASSPHRASE=wrong"), []string{"mount", "--private-key", encKey, mnt}, 1, "wrong passphrase"},
		{"public key given", simEnv(sim), []string{"mount", "--private-key", pub, mnt}, 1, "pub.pem"},
		{"cat, no credentials", apiEnv(), []string{"cat", "GT00000000000000000000000000000000"}, 2, "TWILIO_ACCOUNT_SID"},
		{"bad flag", simEnv(sim), []string{"mount", "--cache-size", "lots", mnt}, 2, "cache-size"},
		{"env file too open", apiEnv(), []string{"mount", "--env-file", looseKey, mnt}, 2, "chmod 600"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name == "public key given" {
				os.WriteFile(pub, mustPublicPEM(t, sim), 0o600)
			}
			res := runCLI(t, tt.env, tt.args...)
			oneErrorLine(t, res, tt.code, tt.want)
			if strings.Contains(res.stderr, sim.AuthToken) || strings.Contains(res.stderr, sim.APIKeySecret) || strings.Contains(res.stderr, "correct horse") {
				t.Error("a secret is in the error")
			}
			if isMounted(mnt) {
				t.Fatal("something was mounted")
			}
		})
	}
}

// mustPublicPEM returns the PEM of the simulator's first public key.
func mustPublicPEM(t *testing.T, sim *twiliosim.Server) []byte {
	t.Helper()
	b, err := crypto.MarshalPublicKeyPEM(sim.PublicKey(sim.CredentialSIDs()[0]))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// isMounted reports whether dir is a mount point in /proc/self/mountinfo
// (always false where that file does not exist).
func isMounted(dir string) bool {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) > 4 && f[4] == dir {
			return true
		}
	}
	return false
}
