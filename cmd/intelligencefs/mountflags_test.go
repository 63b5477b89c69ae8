package main

import (
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
