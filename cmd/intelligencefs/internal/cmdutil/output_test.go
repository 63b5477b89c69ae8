package cmdutil

import (
	"testing"
)

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"256MiB": 256 << 20, "1G": 1 << 30, "64M": 64 << 20, "1.5GiB": 3 << 29, "4096": 4096, "2k": 2048, "1TB": 1 << 40} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "MiB", "12X", "1e400G", "-5M"} {
		if _, err := ParseSize(bad); err == nil {
			t.Errorf("ParseSize(%q): no error", bad)
		}
	}
	if s := FormatSize(256 << 20); s != "256MiB" {
		t.Errorf("FormatSize = %q", s)
	}
}
