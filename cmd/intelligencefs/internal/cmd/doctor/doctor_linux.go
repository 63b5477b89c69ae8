//go:build linux

package doctor

import (
	"bufio"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/cmdutil"
)

// fuseConf is where FUSE reads user_allow_other from.
const fuseConf = "/etc/fuse.conf"

// checkFUSE checks that this user can mount here: /dev/fuse exists and opens
// (or we are root), fusermount3 is on PATH (or we are root), and, with
// allowOther, /etc/fuse.conf has user_allow_other (root needs none).
func checkFUSE(r *doctorReport, allowOther bool) {
	root := os.Geteuid() == 0
	switch f, err := os.OpenFile("/dev/fuse", os.O_RDWR, 0); {
	case err == nil:
		f.Close()
		r.ok("FUSE: /dev/fuse opens")
	case errors.Is(err, fs.ErrNotExist):
		r.fail("FUSE: /dev/fuse does not exist: load the module (sudo modprobe fuse) or, in a container, pass the device in (docker run --device /dev/fuse --cap-add SYS_ADMIN)")
	case root:
		r.ok("FUSE: /dev/fuse exists (running as root)")
	default:
		r.fail("FUSE: cannot open /dev/fuse (%v): make it usable by this user (mode 0666 is the default) or run as root", unwrapPathError(err))
	}
	if p, err := exec.LookPath("fusermount3"); err == nil {
		r.ok("FUSE: fusermount3 found (%s)", p)
	} else if root {
		r.ok("FUSE: no fusermount3 on PATH, not needed as root")
	} else {
		r.fail("FUSE: fusermount3 is not on PATH: install FUSE 3 (apt install fuse3, dnf install fuse3)")
	}
	if !allowOther {
		return
	}
	switch ok, err := userAllowOther(fuseConf); {
	case root:
		r.ok("FUSE: --allow-other is allowed (running as root)")
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		r.fail("FUSE: cannot read %s (%v), so --allow-other may be refused", fuseConf, unwrapPathError(err))
	case !ok:
		r.fail("FUSE: --allow-other needs a line user_allow_other in %s (as root: echo user_allow_other >> %s)", fuseConf, fuseConf)
	default:
		r.ok("FUSE: %s has user_allow_other (for --allow-other)", fuseConf)
	}
}

// userAllowOther reports whether the FUSE config at path enables
// user_allow_other (a line of its own, comments ignored).
func userAllowOther(path string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		if strings.TrimSpace(line) == "user_allow_other" {
			return true, nil
		}
	}
	return false, sc.Err()
}

// capIPCLock is CAP_IPC_LOCK's bit number.
const capIPCLock = 14

// checkMemlock warns when the plaintext cache (cacheSize bytes) cannot all
// be locked in RAM: RLIMIT_MEMLOCK below it and no CAP_IPC_LOCK.
func checkMemlock(r *doctorReport, cacheSize int64) {
	if hasCapIPCLock() {
		r.ok("memory locking: CAP_IPC_LOCK held, the whole %s cache can be kept out of swap", cmdutil.FormatSize(cacheSize))
		return
	}
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_MEMLOCK, &lim); err != nil {
		r.warn("memory locking: cannot read RLIMIT_MEMLOCK (%v)", err)
		return
	}
	if lim.Cur == unix.RLIM_INFINITY || lim.Cur >= uint64(cacheSize) {
		r.ok("memory locking: RLIMIT_MEMLOCK %s covers the %s cache", rlimitString(lim.Cur), cmdutil.FormatSize(cacheSize))
		return
	}
	kib := (cacheSize + 1023) >> 10
	r.warn("memory locking: RLIMIT_MEMLOCK is %s, less than the %s cache, so cached plaintext beyond it may be swapped to disk: raise it with ulimit -l %d (KiB; the hard limit may need /etc/security/limits.conf) in the shell that mounts, LimitMEMLOCK=%s in the systemd unit, or use a smaller --cache-size",
		rlimitString(lim.Cur), cmdutil.FormatSize(cacheSize), kib, systemdSize(cacheSize))
}

// hasCapIPCLock reports whether CAP_IPC_LOCK is in the effective set.
func hasCapIPCLock() bool {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return false
	}
	return data[capIPCLock/32].Effective&(1<<(capIPCLock%32)) != 0
}

// rlimitString shows a limit in bytes the way sizes are shown elsewhere.
func rlimitString(v uint64) string {
	if v == unix.RLIM_INFINITY {
		return "unlimited"
	}
	return cmdutil.FormatSize(int64(v))
}

// systemdSize renders n for LimitMEMLOCK= (K/M/G suffixes are base 1024).
func systemdSize(n int64) string {
	for _, u := range []struct {
		s string
		v int64
	}{{"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}} {
		if n >= u.v && n%u.v == 0 {
			return strconv.FormatInt(n/u.v, 10) + u.s
		}
	}
	return strconv.FormatInt(n, 10)
}
