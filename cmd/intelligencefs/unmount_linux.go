//go:build linux

package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// isFDMountPoint reports the /dev/fd/N form: a privileged parent
// (mount.fuse3 -o drop_privileges, a container runtime) opened /dev/fuse and
// mounted it; we only serve that descriptor.
func isFDMountPoint(mp string) bool {
	return strings.HasPrefix(mp, "/dev/fd/")
}

// fdMountPoint returns N of a /dev/fd/N mount point, checking that the
// descriptor is open here.
func fdMountPoint(mp string) (int, error) {
	fd, err := strconv.Atoi(strings.TrimPrefix(mp, "/dev/fd/"))
	if err != nil || fd < 0 {
		return -1, fmt.Errorf("mount point %s: not a descriptor number", mp)
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil {
		return -1, fmt.Errorf("mount point %s: descriptor %d is not open here (the process that mounted /dev/fuse must pass it on, as mount.fuse3 -o drop_privileges does)", mp, fd)
	}
	return fd, nil
}

// prepareMountPoint makes mp absolute, cleans up a stale mount left there by
// a process that died ("transport endpoint is not connected") with a
// one-line notice, refuses to stack on a live intelligencefs mount, and
// checks mp is a directory.
func prepareMountPoint(mp string, log *slog.Logger) (string, error) {
	if isFDMountPoint(mp) {
		_, err := fdMountPoint(mp)
		return mp, err
	}
	abs, err := checkMountPointPath(mp)
	if err != nil {
		return "", err
	}
	// A dead FUSE server's mount can still answer stat from cached
	// attributes; opening the directory reaches the (absent) server.
	fstype, mounted := mountTypeAt(abs)
	if probe := probeDir(abs); isDisconnected(probe) {
		log.Warn("a stale mount was left at the mount point by a process that died (transport endpoint is not connected); unmounting it", "mountpoint", abs)
		if uerr := lazyUnmount(abs); uerr != nil {
			return "", fmt.Errorf("mount point %s is a stale mount and unmounting it failed (%v): run fusermount3 -uz %s", abs, uerr, abs)
		}
	} else if mounted && probe == nil && strings.HasPrefix(fstype, "fuse.intelligencefs") {
		return "", fmt.Errorf("%s is already mounted by a running intelligencefs: unmount it first (fusermount3 -u %s)", abs, abs)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("mount point %s does not exist: create it with mkdir", abs)
		}
		return "", fmt.Errorf("mount point: %w", err)
	}
	if !fi.IsDir() {
		return "", fmt.Errorf("mount point %s is not a directory", abs)
	}
	return abs, nil
}

// checkMountPointPath refuses, as usage errors and before anything else
// is done, mount points that must never be mounted on: "" (filepath.Abs
// makes it the working directory: an empty variable in a script), "/",
// and paths in /proc, /sys or /dev, also where a symlink leads there
// (/tmp/x -> /proc/self). It returns the absolute path.
func checkMountPointPath(mp string) (string, error) {
	if mp == "" {
		return "", usagef("the mount point is empty")
	}
	abs, err := filepath.Abs(mp)
	if err != nil {
		return "", fmt.Errorf("mount point: %w", err)
	}
	if err := refuseSystemPath(abs); err != nil {
		return "", err
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil && real != abs {
		if err := refuseSystemPath(real); err != nil {
			return "", err
		}
	}
	return abs, nil
}

// systemRoots are the trees no filesystem of ours may cover: the root
// itself and the kernel's own filesystems, which the system (and this very
// process, through /proc/self) needs to work.
var systemRoots = []string{"/proc", "/sys", "/dev"}

// refuseSystemPath refuses "/" and anything in /proc, /sys or /dev (a
// usage error, before the kernel mount).
func refuseSystemPath(abs string) error {
	if abs == "/" {
		return usagef("refusing to mount over / (the whole system)")
	}
	for _, root := range systemRoots {
		if abs == root || strings.HasPrefix(abs, root+"/") {
			return usagef("refusing to mount on %s: %s belongs to the kernel", abs, root)
		}
	}
	return nil
}

// probeDir opens dir and reads one entry, which a FUSE mount must answer.
func probeDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.Readdirnames(1)
	if errors.Is(err, io.EOF) {
		return nil
	}
	return err
}

// isDisconnected reports the errors of a FUSE mount whose server is gone.
func isDisconnected(err error) bool {
	return errors.Is(err, syscall.ENOTCONN) || errors.Is(err, syscall.ECONNABORTED)
}

// mountTypeAt returns the filesystem type of the topmost mount at dir, from
// /proc/self/mountinfo.
func mountTypeAt(dir string) (string, bool) {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return "", false
	}
	var fstype string
	found := false
	for _, line := range strings.Split(string(data), "\n") {
		fields := strings.Fields(line)
		if len(fields) < 7 || unescapeMountinfo(fields[4]) != dir {
			continue
		}
		for i := 6; i < len(fields)-1; i++ {
			if fields[i] == "-" {
				fstype, found = fields[i+1], true
				break
			}
		}
	}
	return fstype, found
}

// unescapeMountinfo decodes the octal escapes (\040 for a space) the kernel
// writes in mountinfo paths.
func unescapeMountinfo(s string) string {
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

// lazyUnmount detaches the mount at mp now (MNT_DETACH): it disappears from
// the namespace at once and the kernel lets go of it when its last open file
// is closed. Root calls umount2; others ask fusermount3 -uz.
func lazyUnmount(mp string) error {
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
		out, err := helperCommand(path, "-uz", mp).CombinedOutput()
		if err == nil {
			return nil
		}
		lastErr = fmt.Errorf("%s -uz: %s", bin, oneLine(string(out)))
	}
	return lastErr
}

// helperPath is the only environment a helper program gets.
const helperPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// helperCommand builds a helper's command (fusermount3 -u and the like)
// with a minimal environment: it needs none of ours, and ours may hold
// TWILIO_AUTH_TOKEN or the key passphrase.
func helperCommand(path string, args ...string) *exec.Cmd {
	cmd := exec.Command(path, args...)
	cmd.Env = []string{helperPath}
	return cmd
}

// secretEnv are the variables that hold secrets.
var secretEnv = []string{envAuthToken, envAPISecret, envKeyPassphrase}

// scrubSecretEnv removes the secret variables from this process's
// environment once they were read, so that no program started later
// inherits them: go-fuse runs fusermount3 -u with our environment.
func scrubSecretEnv() {
	for _, k := range secretEnv {
		_ = os.Unsetenv(k)
	}
}

// sdNotify sends state (e.g. "READY=1") to systemd when it started us with
// Type=notify ($NOTIFY_SOCKET set); otherwise it does nothing. These few
// lines are the whole sd_notify protocol: one datagram on a unix socket.
func sdNotify(socket, state string) error {
	if socket == "" {
		return nil
	}
	if socket[0] == '@' {
		socket = "\x00" + socket[1:] // abstract namespace
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: socket, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("sd_notify: %w", err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(state)); err != nil {
		return fmt.Errorf("sd_notify: %w", err)
	}
	return nil
}
