// Package cmdtest is what the command packages' unit tests share: a
// Factory over in-memory streams and a given environment, and a simulated
// account (fetch/twiliosim on loopback) that seals to a key written to a
// file, so a command's run function is tested without argv or a binary.
package cmdtest

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/spf13/cobra"

	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/factory"
	"github.com/intelligencefs/intelligencefs/crypto"
	"github.com/intelligencefs/intelligencefs/fetch/twiliosim"
)

// Run is one in-process run's streams and factory.
type Run struct {
	Factory        *factory.Factory
	Stdout, Stderr *bytes.Buffer
}

// New returns a Factory whose stdout and stderr are buffers, stdin nil
// (never a terminal) and whose environment is env only.
func New(env map[string]string) *Run {
	r := &Run{Stdout: &bytes.Buffer{}, Stderr: &bytes.Buffer{}}
	r.Factory = &factory.Factory{Stdout: r.Stdout, Stderr: r.Stderr, Getenv: func(k string) string { return env[k] }}
	return r
}

// Conn registers the connection flags (with the key flags when withKeys)
// on a throwaway command and returns them, with privateKeys given as
// --private-key.
func (r *Run) Conn(withKeys bool, privateKeys ...string) *factory.ConnFlags {
	c := r.Factory.AddConnFlags(&cobra.Command{}, withKeys)
	if withKeys {
		c.Keys.PrivateKeys = privateKeys
	}
	return c
}

// Account is a simulated account for a test: the simulator, its
// environment (credentials and API URL) and the private key it seals to,
// written unencrypted to KeyPath (mode 0600).
type Account struct {
	Sim     *twiliosim.Server
	Env     map[string]string
	KeyPath string
}

// NewAccount starts a simulator with the generated corpus (corpus.Seed and
// corpus.TranscriptsPerService as given) sealing to a fresh 2048-bit key,
// closed at the test's cleanup.
func NewAccount(t testing.TB, corpus twiliosim.CorpusOptions) *Account {
	t.Helper()
	key, err := crypto.GenerateKey(2048)
	if err != nil {
		t.Fatal(err)
	}
	pemBytes, err := crypto.MarshalPrivateKeyPEM(key, nil)
	if err != nil {
		t.Fatal(err)
	}
	keyPath := filepath.Join(t.TempDir(), crypto.PrivateKeyFileName)
	if err := os.WriteFile(keyPath, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	sim, err := twiliosim.NewServer(twiliosim.Options{
		Keys:   []twiliosim.Credential{{PublicKey: &key.PublicKey}},
		Corpus: corpus,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	return &Account{Sim: sim, KeyPath: keyPath, Env: map[string]string{
		factory.EnvAccountSID: sim.AccountSID,
		factory.EnvAuthToken:  sim.AuthToken,
		factory.EnvAPIURL:     sim.URL,
	}}
}

// Completed returns the account's completed transcripts, encrypted or
// plain as asked, in listing order.
func (a *Account) Completed(encrypted bool) []twiliosim.TranscriptInfo {
	var out []twiliosim.TranscriptInfo
	for _, s := range a.Sim.Services() {
		for _, tr := range a.Sim.Transcripts(s.SID) {
			if tr.Status == twiliosim.StatusCompleted && (tr.EncryptionCredentialSID != "") == encrypted {
				out = append(out, tr)
			}
		}
	}
	return out
}
