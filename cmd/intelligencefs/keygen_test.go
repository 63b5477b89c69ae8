package main

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/factory"
	"github.com/intelligencefs/intelligencefs/crypto"
)

// openssl runs openssl with args and extra environment, returning its
// combined output and whether it succeeded. Tests that need it skip without.
func openssl(t *testing.T, env []string, args ...string) (string, bool) {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl is not installed: cannot read keygen's output back with it")
	}
	cmd := exec.Command("openssl", args...)
	cmd.Env = append(baseEnv(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err == nil
}

func TestKeygen(t *testing.T) {
	const passphrase = "correct horse battery staple"
	cases := []struct {
		name    string
		args    []string
		encrypt bool
		bits    int
	}{
		{"default 2048", nil, false, 2048},
		{"3072 encrypted", []string{"--bits", "3072", "--encrypt-key"}, true, 3072},
		{"4096", []string{"--bits", "4096"}, false, 4096},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "keys")
			env := baseEnv()
			if tc.encrypt {
				env = append(env, factory.EnvKeyPassphrase+"="+passphrase)
			}
			res := mustRun(t, env, append([]string{"keygen", "--out", dir}, tc.args...)...)
			priv := filepath.Join(dir, "private_key.pem")
			pub := filepath.Join(dir, "public_key.pem")
			if !strings.Contains(res.stdout, "keys register --public-key "+pub) {
				t.Errorf("keygen does not print the next step (keys register):\n%s", res.stdout)
			}
			if strings.Contains(res.stdout+res.stderr, passphrase) {
				t.Error("the passphrase appears in keygen's output")
			}
			for path, want := range map[string]os.FileMode{priv: 0o600, pub: 0o644, dir: 0o700} {
				fi, err := os.Stat(path)
				if err != nil {
					t.Fatal(err)
				}
				if got := fi.Mode().Perm(); got != want {
					t.Errorf("%s: mode %04o, want %04o", filepath.Base(path), got, want)
				}
			}
			pemBytes, err := os.ReadFile(priv)
			if err != nil {
				t.Fatal(err)
			}
			header := "-----BEGIN PRIVATE KEY-----"
			if tc.encrypt {
				header = "-----BEGIN ENCRYPTED PRIVATE KEY-----"
			}
			if !bytes.HasPrefix(pemBytes, []byte(header)) {
				t.Errorf("private key starts %q, want %q", firstLine(pemBytes), header)
			}

			// openssl reads both files back.
			if tc.encrypt {
				if out, ok := openssl(t, nil, "pkey", "-in", priv, "-noout", "-passin", "pass:wrong passphrase"); ok {
					t.Errorf("openssl opened the encrypted key with a wrong passphrase:\n%s", out)
				}
				if out, ok := openssl(t, []string{"PW=" + passphrase}, "pkey", "-in", priv, "-noout", "-passin", "env:PW"); !ok {
					t.Errorf("openssl pkey -passin cannot read the encrypted key:\n%s", out)
				}
				out, _ := openssl(t, nil, "asn1parse", "-in", priv)
				for _, want := range []string{"PBES2", "aes-256"} {
					if !strings.Contains(strings.ToLower(out), strings.ToLower(want)) {
						t.Errorf("encrypted key is not %s:\n%s", want, out)
					}
				}
			} else if out, ok := openssl(t, nil, "pkey", "-in", priv, "-noout"); !ok {
				t.Errorf("openssl pkey cannot read the private key:\n%s", out)
			}
			if out, ok := openssl(t, nil, "pkey", "-pubin", "-in", pub, "-noout"); !ok {
				t.Errorf("openssl pkey -pubin cannot read the public key:\n%s", out)
			}

			// The two files are one key pair of the asked size.
			key, err := crypto.LoadPrivateKeyFile(priv, crypto.LoadOptions{Passphrase: func() ([]byte, error) { return []byte(passphrase), nil }})
			if err != nil {
				t.Fatal(err)
			}
			pubBytes, err := os.ReadFile(pub)
			if err != nil {
				t.Fatal(err)
			}
			pk, err := crypto.ParsePublicKeyPEM(pubBytes)
			if err != nil {
				t.Fatal(err)
			}
			if !pk.Equal(&key.PublicKey) {
				t.Error("public_key.pem is not the public half of private_key.pem")
			}
			if got := key.N.BitLen(); got != tc.bits {
				t.Errorf("key is %d bits, want %d", got, tc.bits)
			}
		})
	}
}

func TestKeygenRefusesToOverwrite(t *testing.T) {
	dir := t.TempDir()
	env := baseEnv()
	mustRun(t, env, "keygen", "--out", dir)
	priv := filepath.Join(dir, "private_key.pem")
	before, err := os.ReadFile(priv)
	if err != nil {
		t.Fatal(err)
	}
	res := runCLI(t, env, "keygen", "--out", dir)
	if res.code == 0 || !strings.Contains(res.stderr, "--force") {
		t.Fatalf("second keygen: exit %d, stderr %q; want a failure that names --force", res.code, res.stderr)
	}
	if after, _ := os.ReadFile(priv); !bytes.Equal(before, after) {
		t.Fatal("keygen without --force changed the existing private key")
	}
	mustRun(t, env, "keygen", "--out", dir, "--force")
	if after, _ := os.ReadFile(priv); bytes.Equal(before, after) {
		t.Fatal("keygen --force did not replace the private key")
	}
}

func TestKeygenUsageErrors(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"bad size", []string{"--bits", "1024"}, "--bits must be 2048, 3072 or 4096"},
		{"no passphrase and no terminal", []string{"--encrypt-key"}, factory.EnvKeyPassphrase},
		{"passphrase file without encrypt", []string{"--passphrase-file", "x"}, "--encrypt-key"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			res := runCLI(t, baseEnv(), append([]string{"keygen", "--out", dir}, tc.args...)...)
			if res.code != 2 || !strings.Contains(res.stderr, tc.want) {
				t.Fatalf("exit %d, stderr %q; want exit 2 mentioning %q", res.code, res.stderr, tc.want)
			}
			if _, err := os.Stat(filepath.Join(dir, "private_key.pem")); err == nil {
				t.Fatal("a key was written despite the usage error")
			}
		})
	}
}

// firstLine is the first line of b, for messages.
func firstLine(b []byte) string {
	l, _, _ := bytes.Cut(b, []byte("\n"))
	return string(l)
}

// TestKeygenPrompt types the passphrase twice on a terminal (a pty made by
// util-linux script): a mismatch fails with one line and writes nothing.
func TestKeygenPrompt(t *testing.T) {
	if _, err := exec.LookPath("script"); err != nil || runtime.GOOS != "linux" {
		t.Skip("needs util-linux script to give keygen a terminal")
	}
	cases := []struct {
		name         string
		first, again string
		code         int
		want         string
	}{
		{"mismatch", "one passphrase", "another one", 1, "intelligencefs: the two passphrases do not match: nothing was written"},
		{"empty", "", "", 1, "the passphrase is empty"},
		{"match", "same passphrase", "same passphrase", 0, "encrypted with your passphrase"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "keys")
			logFile := filepath.Join(t.TempDir(), "typescript")
			cmd := exec.Command("script", "-qec", testBinary(t)+" keygen --encrypt-key --out "+dir, logFile)
			cmd.Env = baseEnv()
			stdin, err := cmd.StdinPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			go func() {
				for _, l := range []string{tc.first, tc.again} {
					time.Sleep(300 * time.Millisecond)
					io.WriteString(stdin, l+"\n")
				}
			}()
			err = cmd.Wait()
			stdin.Close()
			code := exitStatus(t, err)
			out, _ := os.ReadFile(logFile)
			if code != tc.code || !strings.Contains(string(out), tc.want) {
				t.Fatalf("exit %d, want %d with %q; terminal:\n%s", code, tc.code, tc.want, out)
			}
			if tc.first != "" && strings.Contains(string(out), tc.first) {
				t.Error("the passphrase was echoed")
			}
			_, statErr := os.Stat(filepath.Join(dir, "private_key.pem"))
			if (statErr == nil) != (tc.code == 0) {
				t.Errorf("private key written: %v, want %v", statErr == nil, tc.code == 0)
			}
			if tc.code == 0 {
				if o, ok := openssl(t, []string{"PW=" + tc.first}, "pkey", "-in", filepath.Join(dir, "private_key.pem"), "-noout", "-passin", "env:PW"); !ok {
					t.Errorf("openssl cannot open the key with the typed passphrase:\n%s", o)
				}
			}
		})
	}
}
