// Package mountinfo answers one question from the kernel's table of
// mounts (/proc/self/mountinfo, Linux): which filesystem type is mounted
// at a directory. The mount uses it to tell a live intelligencefs mount
// (refused: unmount it first) from a stale one or another filesystem.
package mountinfo

import (
	"os"
	"strconv"
	"strings"
)

// Path is the kernel's table of this process's mounts.
const Path = "/proc/self/mountinfo"

// TypeAt returns the filesystem type ("fuse.intelligencefs", "tmpfs", …)
// of the topmost mount at dir, an absolute, clean path, and whether
// anything is mounted there. Without a readable mountinfo (not Linux)
// nothing is mounted anywhere.
func TypeAt(dir string) (fstype string, mounted bool) {
	data, err := os.ReadFile(Path)
	if err != nil {
		return "", false
	}
	return typeAt(string(data), dir)
}

// typeAt is TypeAt on the text of a mountinfo table. Each line is
//
//	ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL…] - FSTYPE SOURCE SUPER
//
// with an unknown number of optional fields before the "-"; mounts
// stacked on one point appear in mount order, so the last one is on top.
func typeAt(table, dir string) (fstype string, mounted bool) {
	for _, line := range strings.Split(table, "\n") {
		fields := strings.Fields(line)
		if len(fields) < 7 || unescape(fields[4]) != dir {
			continue
		}
		for i := 6; i < len(fields)-1; i++ {
			if fields[i] == "-" {
				fstype, mounted = fields[i+1], true
				break
			}
		}
	}
	return fstype, mounted
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
