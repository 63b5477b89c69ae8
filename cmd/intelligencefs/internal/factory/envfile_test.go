package factory

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

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
