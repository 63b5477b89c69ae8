package mountinfo

import (
	"runtime"
	"testing"
)

// table is a mountinfo excerpt: optional fields of varying number, an
// escaped space, and two mounts stacked on one point.
const table = `22 1 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw
25 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
61 25 0:50 / /home/me/my\040mount rw,nosuid,nodev,relatime shared:30 master:2 - fuse.intelligencefs intelligencefs rw,user_id=1000,group_id=1000
70 25 0:51 / /mnt/ci rw,relatime - tmpfs tmpfs rw
71 70 0:52 / /mnt/ci ro,nosuid,nodev,relatime - fuse.intelligencefs AC123 ro,user_id=0
80 25 0:53 / /mnt/tab\011and\134slash rw - tmpfs none rw
bad line
`

func TestTypeAt(t *testing.T) {
	for _, tc := range []struct {
		dir, fstype string
		mounted     bool
	}{
		{"/", "ext4", true},
		{"/proc", "proc", true},
		{"/home/me/my mount", "fuse.intelligencefs", true},
		{`/home/me/my\040mount`, "", false},      // the escaped form is not a path
		{"/mnt/ci", "fuse.intelligencefs", true}, // the topmost of two
		{"/mnt/tab\tand\\slash", "tmpfs", true},
		{"/mnt", "", false},
		{"/mnt/ci/sub", "", false},
	} {
		fstype, mounted := typeAt(table, tc.dir)
		if fstype != tc.fstype || mounted != tc.mounted {
			t.Errorf("typeAt(%q) = %q, %v; want %q, %v", tc.dir, fstype, mounted, tc.fstype, tc.mounted)
		}
	}
}

func TestUnescape(t *testing.T) {
	for in, want := range map[string]string{
		"/plain":         "/plain",
		`/a\040b`:        "/a b",
		`/a\134b`:        `/a\b`,
		`/trailing\04`:   `/trailing\04`, // too short to be an escape
		`/not\999octal`:  `/not\999octal`,
		`/two\040\040sp`: "/two  sp",
	} {
		if got := unescape(in); got != want {
			t.Errorf("unescape(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestTypeAtHere reads this machine's own table: the root is mounted.
func TestTypeAtHere(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("mountinfo is Linux's")
	}
	if fstype, mounted := TypeAt("/"); !mounted || fstype == "" {
		t.Errorf("TypeAt(/) = %q, %v: the root is not mounted?", fstype, mounted)
	}
}
