package factory

import (
	"strings"
	"testing"

	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/cmdutil"
)

func TestCredentials(t *testing.T) {
	const (
		ac = "AC0123456789abcdef0123456789abcdef"
		sk = "SK0123456789abcdef0123456789abcdef"
	)
	for _, tt := range []struct {
		name string
		env  map[string]string
		want string // error substring, "" for success
	}{
		{"none", nil, "no Twilio credentials"},
		{"auth token", map[string]string{EnvAccountSID: ac, EnvAuthToken: "tok"}, ""},
		{"api key", map[string]string{EnvAccountSID: ac, EnvAPIKey: sk, EnvAPISecret: "sec"}, ""},
		{"api key without secret", map[string]string{EnvAccountSID: ac, EnvAPIKey: sk}, "TWILIO_API_SECRET"},
		{"api key without account", map[string]string{EnvAPIKey: sk, EnvAPISecret: "sec"}, "TWILIO_ACCOUNT_SID"},
		{"token without account", map[string]string{EnvAuthToken: "tok"}, "TWILIO_ACCOUNT_SID"},
		{"account without token", map[string]string{EnvAccountSID: ac}, "TWILIO_AUTH_TOKEN"},
		{"malformed account", map[string]string{EnvAccountSID: "ACnope", EnvAuthToken: "tok"}, "AC followed by 32 hex"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := &Factory{Getenv: func(k string) string { return tt.env[k] }}
			c := &ConnFlags{f: f}
			_, err := c.credentials()
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) || cmdutil.ExitCode(err) != 2 {
				t.Fatalf("err = %v (exit %d), want %q and exit 2", err, cmdutil.ExitCode(err), tt.want)
			}
			if strings.Contains(err.Error(), "tok") || strings.Contains(err.Error(), "sec") {
				t.Fatalf("error quotes a secret: %v", err)
			}
		})
	}
}

func TestKeySpec(t *testing.T) {
	s, err := ParseKeySpec("CR0123456789abcdef0123456789abcdef=/k=1.pem")
	if err != nil || s.CredentialSID != "CR0123456789abcdef0123456789abcdef" || s.Path != "/k=1.pem" {
		t.Errorf("binding: %+v %v", s, err)
	}
	if s, err := ParseKeySpec("./a=b.pem"); err != nil || s.Path != "./a=b.pem" || s.CredentialSID != "" {
		t.Errorf("path with =: %+v %v", s, err)
	}
	if _, err := ParseKeySpec("CR12=x"); err == nil {
		t.Error("short CR binding accepted")
	}
}
