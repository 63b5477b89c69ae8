package mountpoint

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"

	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/factory"
	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/unmount"
)

// TestHelperEnvironment: helper programs (fusermount3 -uz) get PATH and
// nothing else, and once a mount has read its secrets they are gone from
// the process environment, so the fusermount3 -u that go-fuse starts with
// our environment cannot see them either.
func TestHelperEnvironment(t *testing.T) {
	cmd := unmount.HelperCommand("/usr/bin/env")
	if len(cmd.Env) != 1 || !strings.HasPrefix(cmd.Env[0], "PATH=") {
		t.Fatalf("helper environment %q, want PATH only", cmd.Env)
	}
	secrets := map[string]string{factory.EnvAuthToken: "tokenSECRET123", factory.EnvAPISecret: "apiSECRET456", factory.EnvKeyPassphrase: "phraseSECRET789"}
	for k, v := range secrets {
		t.Setenv(k, v)
	}
	ScrubSecretEnv()
	out, err := exec.Command("env").Output() // what any later child inherits
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range secrets {
		if bytes.Contains(out, []byte(v)) || bytes.Contains(out, []byte(k+"=")) {
			t.Errorf("%s still reaches a child after ScrubSecretEnv", k)
		}
	}
}
