// Package mountinfo reads the kernel's table of mounts
// (/proc/self/mountinfo, Linux): what is mounted at a directory, its
// filesystem type and its device number. The CLI uses it to tell a live
// intelligencefs mount (refused: unmount it first) from a stale one or
// another filesystem; the test helper fs/fusetest uses it to find a FUSE
// mount's connection in fusectl without touching the mount, which may not
// answer. It is a package of its own so both read the table one way.
package mountinfo

import (
	"os"
	"strconv"
	"strings"
)

// Path is the kernel's table of this process's mounts.
const Path = "/proc/self/mountinfo"

// Mount is one line of the table.
type Mount struct {
	// Major and Minor are the device number of the mounted filesystem
	// (for FUSE, fusectl names the connection by Dev()).
	Major, Minor uint64
	// Point is the mount point, unescaped.
	Point string
	// FSType is the filesystem type ("fuse.intelligencefs", "tmpfs", …).
	FSType string
}

// Dev is the kernel's internal device number of m (MKDEV: 20 bits of
// minor), the number fusectl names a FUSE connection's directory by.
func (m Mount) Dev() uint64 { return m.Major<<20 | m.Minor }

// At returns the topmost mount at dir, an absolute, clean path, and
// whether anything is mounted there. Without a readable table (not Linux)
// nothing is mounted anywhere.
func At(dir string) (Mount, bool) {
	data, err := os.ReadFile(Path)
	if err != nil {
		return Mount{}, false
	}
	return at(string(data), dir)
}

// TypeAt returns the filesystem type of the topmost mount at dir (see At).
func TypeAt(dir string) (fstype string, mounted bool) {
	m, ok := At(dir)
	return m.FSType, ok
}

// at is At on the text of a mountinfo table. Each line is
//
//	ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL…] - FSTYPE SOURCE SUPER
//
// with an unknown number of optional fields before the "-"; mounts
// stacked on one point appear in mount order, so the last one is on top.
// Lines that do not have this shape are skipped.
func at(table, dir string) (m Mount, mounted bool) {
	for line := range strings.Lines(table) {
		if l, ok := parse(line); ok && l.Point == dir {
			m, mounted = l, true
		}
	}
	return m, mounted
}

// parse reads one line of the table.
func parse(line string) (Mount, bool) {
	fields := strings.Fields(line)
	if len(fields) < 7 {
		return Mount{}, false
	}
	maj, min, ok := strings.Cut(fields[2], ":")
	if !ok {
		return Mount{}, false
	}
	major, err1 := strconv.ParseUint(maj, 10, 32)
	minor, err2 := strconv.ParseUint(min, 10, 32)
	if err1 != nil || err2 != nil {
		return Mount{}, false
	}
	for i := 6; i < len(fields)-1; i++ {
		if fields[i] == "-" {
			return Mount{Major: major, Minor: minor, Point: unescape(fields[4]), FSType: fields[i+1]}, true
		}
	}
	return Mount{}, false
}

// unescape decodes the octal escapes the kernel writes in mountinfo paths
// (\040 for a space, \011 tab, \012 newline, \134 backslash).
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
