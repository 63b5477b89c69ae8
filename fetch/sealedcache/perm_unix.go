//go:build unix

package sealedcache

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// checkPrivate refuses a file or folder that group or others can access, or
// that another user owns (as ssh and the key files do).
func checkPrivate(p string, fi os.FileInfo) error {
	if m := fi.Mode().Perm(); m&0o077 != 0 {
		if fi.IsDir() {
			return fmt.Errorf("sealed cache: %s has mode %04o: group and others must have no access (chmod 700 %s)", p, m, p)
		}
		return fmt.Errorf("mode %04o", m)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if ok && int(st.Uid) != os.Geteuid() {
		if fi.IsDir() {
			return fmt.Errorf("sealed cache: %s is owned by uid %d, not by this user (uid %d)", p, st.Uid, os.Geteuid())
		}
		return fmt.Errorf("owned by uid %d", st.Uid)
	}
	return nil
}

// openNoFollow opens p for reading without following a symbolic link.
func openNoFollow(p string) (*os.File, error) {
	return os.OpenFile(p, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
}

// isSymlinkRefused reports the error of O_NOFOLLOW on a symbolic link.
func isSymlinkRefused(err error) bool { return errors.Is(err, syscall.ELOOP) }
