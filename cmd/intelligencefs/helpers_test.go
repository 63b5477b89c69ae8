package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"256MiB": 256 << 20, "1G": 1 << 30, "64M": 64 << 20, "1.5GiB": 3 << 29, "4096": 4096, "2k": 2048, "1TB": 1 << 40} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "MiB", "12X", "1e400G", "-5M"} {
		if _, err := parseSize(bad); err == nil {
			t.Errorf("parseSize(%q): no error", bad)
		}
	}
	if s := formatSize(256 << 20); s != "256MiB" {
		t.Errorf("formatSize = %q", s)
	}
}

func TestParseEnvFile(t *testing.T) {
	vars, err := parseEnvFile([]byte("# comment\r\nexport TWILIO_ACCOUNT_SID=AC1\r\nTWILIO_AUTH_TOKEN = 'tok'\n\nINTELLIGENCEFS_KEY_PASSPHRASE=\"p w\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if vars["TWILIO_ACCOUNT_SID"] != "AC1" || vars["TWILIO_AUTH_TOKEN"] != "tok" || vars["INTELLIGENCEFS_KEY_PASSPHRASE"] != "p w" {
		t.Errorf("vars = %v", vars)
	}
	for _, bad := range []string{"HOME=/root\n", "novalue\n", "=x\n"} {
		_, err := parseEnvFile([]byte(bad + "TWILIO_AUTH_TOKEN=s3cr3t\n"))
		if err == nil || strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("parseEnvFile(%q): %v", bad, err)
		}
	}
}

func TestReadEnvFileMode(t *testing.T) {
	p := filepath.Join(t.TempDir(), "env")
	if err := os.WriteFile(p, []byte("TWILIO_AUTH_TOKEN=s3cr3t\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := readEnvFile(p); err == nil || !strings.Contains(err.Error(), "chmod 600") || strings.Contains(err.Error(), "s3cr3t") {
		t.Errorf("mode 0644: %v", err)
	}
	os.Chmod(p, 0o600)
	if v, err := readEnvFile(p); err != nil || v["TWILIO_AUTH_TOKEN"] != "s3cr3t" {
		t.Errorf("mode 0600: %v %v", v, err)
	}
}

func TestParseEnvelopeHeaders(t *testing.T) {
	dump := "HTTP/1.1 302 Found\r\nLocation: x\r\nX-Amz-Meta-X-Amz-Key: old\r\n\r\n" +
		"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nX-AMZ-META-X-AMZ-KEY:  a2V5 \r\nx-amz-meta-x-amz-iv: aXY=\r\n\r\n"
	k, iv, err := parseEnvelopeHeaders([]byte(dump))
	if err != nil || k != "a2V5" || iv != "aXY=" {
		t.Errorf("got %q %q %v", k, iv, err)
	}
	if _, _, err := parseEnvelopeHeaders([]byte("HTTP/1.1 200 OK\nx-amz-meta-x-amz-iv: aXY=\n")); err == nil || !strings.Contains(err.Error(), "x-amz-meta-x-amz-key") {
		t.Errorf("missing key header: %v", err)
	}
}

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
		{"auth token", map[string]string{envAccountSID: ac, envAuthToken: "tok"}, ""},
		{"api key", map[string]string{envAccountSID: ac, envAPIKey: sk, envAPISecret: "sec"}, ""},
		{"api key without secret", map[string]string{envAccountSID: ac, envAPIKey: sk}, "TWILIO_API_SECRET"},
		{"api key without account", map[string]string{envAPIKey: sk, envAPISecret: "sec"}, "TWILIO_ACCOUNT_SID"},
		{"token without account", map[string]string{envAuthToken: "tok"}, "TWILIO_ACCOUNT_SID"},
		{"account without token", map[string]string{envAccountSID: ac}, "TWILIO_AUTH_TOKEN"},
		{"malformed account", map[string]string{envAccountSID: "ACnope", envAuthToken: "tok"}, "AC followed by 32 hex"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := &app{getenv: func(k string) string { return tt.env[k] }}
			c := &connFlags{app: a}
			_, err := c.credentials()
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) || exitCode(err) != 2 {
				t.Fatalf("err = %v (exit %d), want %q and exit 2", err, exitCode(err), tt.want)
			}
			if strings.Contains(err.Error(), "tok") || strings.Contains(err.Error(), "sec") {
				t.Fatalf("error quotes a secret: %v", err)
			}
		})
	}
}

func TestKeySpec(t *testing.T) {
	s, err := parseKeySpec("CR0123456789abcdef0123456789abcdef=/k=1.pem")
	if err != nil || s.CredentialSID != "CR0123456789abcdef0123456789abcdef" || s.Path != "/k=1.pem" {
		t.Errorf("binding: %+v %v", s, err)
	}
	if s, err := parseKeySpec("./a=b.pem"); err != nil || s.Path != "./a=b.pem" || s.CredentialSID != "" {
		t.Errorf("path with =: %+v %v", s, err)
	}
	if _, err := parseKeySpec("CR12=x"); err == nil {
		t.Error("short CR binding accepted")
	}
}
