package daemon

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

// TestReadStatus: what the parent makes of the child's status lines.
func TestReadStatus(t *testing.T) {
	for _, tc := range []struct {
		name, in, logs string
		want           outcome
	}{
		{"ready", "log mounting\nlog key loaded\nready\nlog after\n", "mounting\nkey loaded\n", outcome{ready: true}},
		{"error", "log checking\nerror 2 --cache-size must be at least 1MiB\n", "checking\n", outcome{code: 2, msg: "--cache-size must be at least 1MiB"}},
		{"error-bad-code", "error x it broke\n", "", outcome{code: 1, msg: "it broke"}},
		{"error-zero-code", "error 0 it broke\n", "", outcome{code: 1, msg: "it broke"}},
		{"died", "log mounting\n", "mounting\n", outcome{code: 1}},
		{"unknown-lines-ignored", "hello\nready\n", "", outcome{ready: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			got := readStatus(strings.NewReader(tc.in), &logs)
			if got != tc.want || logs.String() != tc.logs {
				t.Errorf("readStatus = %+v, logs %q; want %+v, %q", got, logs.String(), tc.want, tc.logs)
			}
		})
	}
}

func TestReplaceArg(t *testing.T) {
	got := replaceArg([]string{"mount", "--daemon", "/dev/fd/7", "x"}, "/dev/fd/7", FuseFDPath)
	if want := []string{"mount", "--daemon", FuseFDPath, "x"}; !slices.Equal(got, want) {
		t.Errorf("%q, want %q", got, want)
	}
}
