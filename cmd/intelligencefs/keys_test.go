package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/intelligencefs/intelligencefs/crypto"
	"github.com/intelligencefs/intelligencefs/fetch/twiliosim"
)

// TestKeysRegisterRefuses checks the mistakes keys register catches before
// sending anything to Twilio.
func TestKeysRegisterRefuses(t *testing.T) {
	sim := newSim(t, twiliosim.Options{Corpus: twiliosim.CorpusOptions{TranscriptsPerService: -1}})
	key := newKey(t)
	dir := t.TempDir()
	priv := filepath.Join(dir, "private_key.pem")
	writeKey(t, priv, key, 0o600)
	pub := filepath.Join(dir, "public_key.pem")
	if err := crypto.WritePublicKeyFile(pub, &key.PublicKey, false); err != nil {
		t.Fatal(err)
	}
	junk := filepath.Join(dir, "junk.pem")
	if err := os.WriteFile(junk, []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"private key given", []string{"--public-key", priv, "--name", "x"}, 1, "holds a private key"},
		{"not a key", []string{"--public-key", junk, "--name", "x"}, 1, "not a PEM file"},
		{"missing file", []string{"--public-key", filepath.Join(dir, "nope.pem"), "--name", "x"}, 1, "no such file"},
		{"no name", []string{"--public-key", pub}, 2, "--name is required"},
		{"name too long", []string{"--public-key", pub, "--name", strings.Repeat("n", 65)}, 2, "at most 64"},
		{"no key", []string{"--name", "x"}, 2, "--public-key is required"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sim.ResetCounts()
			res := runCLI(t, simEnv(sim), append([]string{"keys", "register"}, tc.args...)...)
			if res.code != tc.code || !strings.Contains(res.stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want exit %d mentioning %q", res.code, res.stderr, tc.code, tc.want)
			}
			if strings.Contains(res.stdout+res.stderr, "PRIVATE KEY") {
				t.Error("key material in the output")
			}
			if n := sim.Counts()[twiliosim.EndpointCreatePublicKey]; n != 0 {
				t.Errorf("%d create request(s) sent despite the error", n)
			}
		})
	}
}

// TestKeysList checks the table, including a credential without a name.
func TestKeysList(t *testing.T) {
	key := newKey(t)
	sim := newSim(t, twiliosim.Options{
		Keys:   []twiliosim.Credential{{PublicKey: &key.PublicKey, FriendlyName: "prod key"}, {PublicKey: &key.PublicKey}},
		Corpus: twiliosim.CorpusOptions{TranscriptsPerService: -1},
	})
	res := mustRun(t, simEnv(sim), "keys", "list")
	got := strings.Split(strings.TrimSpace(res.stdout), "\n")
	if len(got) != 3 || !strings.HasPrefix(got[0], "SID") {
		t.Fatalf("keys list:\n%s", res.stdout)
	}
	for i, cr := range sim.CredentialSIDs() {
		want := []string{"prod key", "-"}[i]
		f := strings.Fields(got[i+1])
		if f[0] != cr || !strings.Contains(got[i+1], want) || !strings.HasPrefix(f[len(f)-1], "20") {
			t.Errorf("row %d = %q; want %s, %q and a date", i+1, got[i+1], cr, want)
		}
	}
}
