package keys

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/cmdtest"
	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/cmdutil"
	"github.com/intelligencefs/intelligencefs/crypto"
	"github.com/intelligencefs/intelligencefs/fetch/twiliosim"
)

// TestRegisterAndList: a registered public key shows in the list (table
// and JSON) under the SID register printed; a private key, a missing name
// or an over-long one are refused before anything is sent.
func TestRegisterAndList(t *testing.T) {
	acct := cmdtest.NewAccount(t, twiliosim.CorpusOptions{TranscriptsPerService: 1})
	ctx := context.Background()
	key, err := crypto.GenerateKey(2048)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	pub := filepath.Join(dir, crypto.PublicKeyFileName)
	pubPEM, _ := crypto.MarshalPublicKeyPEM(&key.PublicKey)
	privPEM, _ := crypto.MarshalPrivateKeyPEM(key, nil)
	os.WriteFile(pub, pubPEM, 0o644)
	priv := filepath.Join(dir, crypto.PrivateKeyFileName)
	os.WriteFile(priv, privPEM, 0o600)

	for _, tt := range []struct {
		name, path, friendly, want string
	}{
		{"private key", priv, "x", "holds a private key"},
		{"no name", pub, "", "--name is required"},
		{"name too long", pub, strings.Repeat("n", 65), "at most 64"},
		{"no file", "", "x", "--public-key is required"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := cmdtest.New(acct.Env)
			before := acct.Sim.Count(twiliosim.EndpointCreatePublicKey)
			err := runRegister(ctx, r.Factory, &registerOptions{conn: r.Conn(false), publicKey: tt.path, name: tt.friendly})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			if tt.path != priv && cmdutil.ExitCode(err) != 2 {
				t.Errorf("exit %d, want 2 (usage)", cmdutil.ExitCode(err))
			}
			if acct.Sim.Count(twiliosim.EndpointCreatePublicKey) != before {
				t.Error("a refused key was sent")
			}
		})
	}

	r := cmdtest.New(acct.Env)
	if err := runRegister(ctx, r.Factory, &registerOptions{conn: r.Conn(false), publicKey: pub, name: "unit test"}); err != nil {
		t.Fatal(err)
	}
	var sid string
	for _, f := range strings.Fields(r.Stdout.String()) {
		if strings.HasPrefix(f, "CR") && len(f) == 34 {
			sid = f
			break
		}
	}
	if sid == "" {
		t.Fatalf("no CR… SID printed:\n%s", r.Stdout.String())
	}

	r = cmdtest.New(acct.Env)
	if err := runList(ctx, r.Factory, &listOptions{conn: r.Conn(false)}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(r.Stdout.String(), sid) || !strings.Contains(r.Stdout.String(), "unit test") {
		t.Errorf("list lacks %s:\n%s", sid, r.Stdout.String())
	}
	r = cmdtest.New(acct.Env)
	if err := runList(ctx, r.Factory, &listOptions{conn: r.Conn(false), asJSON: true}); err != nil {
		t.Fatal(err)
	}
	var docs []publicKeyJSON
	if err := json.Unmarshal(r.Stdout.Bytes(), &docs); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, d := range docs {
		found = found || (d.SID == sid && d.FriendlyName == "unit test")
	}
	if !found {
		t.Errorf("--json lacks %s: %s", sid, r.Stdout.String())
	}
}
