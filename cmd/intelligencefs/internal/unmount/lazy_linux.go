package unmount

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Lazy detaches the mount at mp now (MNT_DETACH): it disappears from the
// namespace at once and the kernel lets go of it when its last open file
// is closed. Root calls umount2 (nothing mounted there is not an error);
// others, or root where umount2 fails, ask fusermount3 -uz (then
// fusermount -uz). The error names the helper and quotes what it said, on
// one line.
func Lazy(mp string) error {
	if os.Geteuid() == 0 {
		err := unix.Unmount(mp, unix.MNT_DETACH)
		if err == nil || errors.Is(err, syscall.EINVAL) { // EINVAL: not mounted (any more)
			return nil
		}
	}
	var lastErr error
	for _, bin := range []string{"fusermount3", "fusermount"} {
		path, err := exec.LookPath(bin)
		if err != nil {
			lastErr = err
			continue
		}
		out, err := HelperCommand(path, "-uz", mp).CombinedOutput()
		if err == nil {
			return nil
		}
		lastErr = fmt.Errorf("%s -uz: %s", bin, strings.Join(strings.Fields(string(out)), " "))
	}
	return lastErr
}
