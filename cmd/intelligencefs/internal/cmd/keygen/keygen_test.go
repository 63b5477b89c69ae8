package keygen

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/cmdtest"
	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/cmdutil"
	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/factory"
	"github.com/intelligencefs/intelligencefs/crypto"
)

// TestRun: run writes a pair whose private half loads (with the passphrase
// from the environment when encrypted) and matches the public half, and
// refuses bad settings before writing anything.
func TestRun(t *testing.T) {
	for _, tt := range []struct {
		name string
		opts Options
		env  map[string]string
		code int    // 0: success
		want string // error text
	}{
		{"plain", Options{Bits: 2048}, nil, 0, ""},
		{"encrypted", Options{Bits: 2048, EncryptKey: true}, map[string]string{factory.EnvKeyPassphrase: "correct horse"}, 0, ""},
		{"bad bits", Options{Bits: 1024}, nil, 2, "--bits"},
		{"passphrase file without encrypt", Options{Bits: 2048, PassphraseFile: "/nonexistent"}, nil, 2, "--encrypt-key"},
		{"encrypt without passphrase", Options{Bits: 2048, EncryptKey: true}, nil, 2, factory.EnvKeyPassphrase},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "keys")
			tt.opts.OutDir = dir
			r := cmdtest.New(tt.env)
			err := run(r.Factory, &tt.opts)
			if tt.code != 0 {
				if err == nil || cmdutil.ExitCode(err) != tt.code || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("err = %v, want exit %d and %q", err, tt.code, tt.want)
				}
				if _, err := os.Stat(dir); !os.IsNotExist(err) {
					t.Error("a refused keygen created the directory")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			priv := filepath.Join(dir, crypto.PrivateKeyFileName)
			key, err := crypto.LoadPrivateKeyFile(priv, crypto.LoadOptions{Passphrase: func() ([]byte, error) { return []byte(tt.env[factory.EnvKeyPassphrase]), nil }})
			if err != nil {
				t.Fatal(err)
			}
			pubPEM, err := os.ReadFile(filepath.Join(dir, crypto.PublicKeyFileName))
			if err != nil {
				t.Fatal(err)
			}
			pub, err := crypto.ParsePublicKeyPEM(pubPEM)
			if err != nil || !pub.Equal(&key.PublicKey) {
				t.Fatalf("public_key.pem is not the private key's public half (%v)", err)
			}
			if fi, _ := os.Stat(priv); fi.Mode().Perm() != 0o600 {
				t.Errorf("private key mode %04o", fi.Mode().Perm())
			}
			if !strings.Contains(r.Stdout.String(), "keys register --public-key") {
				t.Errorf("no next step printed:\n%s", r.Stdout.String())
			}
			// A second run refuses to overwrite.
			if err := run(r.Factory, &tt.opts); err == nil || !strings.Contains(err.Error(), "already exists") {
				t.Errorf("second run: %v", err)
			}
		})
	}
}
