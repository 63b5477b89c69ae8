package mountinfo

import (
	"runtime"
	"testing"
)

// table is a mountinfo excerpt: optional fields of varying number, an
// escaped space, two mounts stacked on one point, a large device number,
// and lines without the separator or with a damaged device field.
const table = `22 1 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw
25 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
61 25 0:50 / /home/me/my\040mount rw,nosuid,nodev,relatime shared:30 master:2 - fuse.intelligencefs intelligencefs rw,user_id=1000,group_id=1000
70 25 0:51 / /mnt/ci rw,relatime - tmpfs tmpfs rw
71 70 0:52 / /mnt/ci ro,nosuid,nodev,relatime - fuse.intelligencefs AC123 ro,user_id=0
80 25 0:53 / /mnt/tab\011and\134slash rw - tmpfs none rw
81 25 259:1048575 / /mnt/big rw - xfs /dev/nvme0n1 rw
82 25 0:54 / /no/separator rw shared:9 tmpfs none rw
83 25 zero / /bad/device rw - tmpfs none rw
bad line
`

func TestAt(t *testing.T) {
	for _, tc := range []struct {
		dir     string
		want    Mount
		mounted bool
	}{
		{"/", Mount{Major: 8, Minor: 1, Point: "/", FSType: "ext4"}, true},
		{"/proc", Mount{Major: 0, Minor: 21, Point: "/proc", FSType: "proc"}, true},
		{"/home/me/my mount", Mount{Major: 0, Minor: 50, Point: "/home/me/my mount", FSType: "fuse.intelligencefs"}, true},
		{`/home/me/my\040mount`, Mount{}, false},                                                       // the escaped form is not a path
		{"/mnt/ci", Mount{Major: 0, Minor: 52, Point: "/mnt/ci", FSType: "fuse.intelligencefs"}, true}, // the topmost of two
		{"/mnt/tab\tand\\slash", Mount{Major: 0, Minor: 53, Point: "/mnt/tab\tand\\slash", FSType: "tmpfs"}, true},
		{"/mnt/big", Mount{Major: 259, Minor: 1048575, Point: "/mnt/big", FSType: "xfs"}, true},
		{"/mnt", Mount{}, false},
		{"/mnt/ci/sub", Mount{}, false},
		{"/no/separator", Mount{}, false},
		{"/bad/device", Mount{}, false},
	} {
		m, mounted := at(table, tc.dir)
		if m != tc.want || mounted != tc.mounted {
			t.Errorf("at(%q) = %+v, %v; want %+v, %v", tc.dir, m, mounted, tc.want, tc.mounted)
		}
	}
	if m, _ := at(table, "/mnt/big"); m.Dev() != 259<<20|1048575 {
		t.Errorf("Dev() = %d, want MKDEV(259, 1048575)", m.Dev())
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
