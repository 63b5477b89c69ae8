package unmount

import (
	"strings"
	"testing"
)

func TestHelperCommandEnvironment(t *testing.T) {
	t.Setenv("TWILIO_AUTH_TOKEN", "tokenSECRET123")
	cmd := HelperCommand("/usr/bin/env", "-0")
	if len(cmd.Env) != 1 || !strings.HasPrefix(cmd.Env[0], "PATH=") {
		t.Fatalf("helper environment %q, want PATH only", cmd.Env)
	}
	if got := strings.Join(cmd.Args, " "); got != "/usr/bin/env -0" {
		t.Errorf("args %q", got)
	}
}
