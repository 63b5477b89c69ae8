//go:build linux

// Package mountpoint checks a mount point before anything is mounted on
// it: paths never to be mounted on (/, /proc, /sys, /dev, an empty
// string), the /dev/fd/N form a privileged parent hands over, a stale
// mount left by a process that died, a live intelligencefs mount already
// there, and a folder that is not empty. ScrubSecretEnv drops the secret
// variables once read, so no helper program inherits them.
package mountpoint

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/cmdutil"
	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/factory"
	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/unmount"
	"github.com/intelligencefs/intelligencefs/fs/mountinfo"
)

// IsFD reports the /dev/fd/N form: a privileged parent
// (mount.fuse3 -o drop_privileges, a container runtime) opened /dev/fuse and
// mounted it; we only serve that descriptor.
func IsFD(mp string) bool {
	return strings.HasPrefix(mp, "/dev/fd/")
}

// FD returns N of a /dev/fd/N mount point, checking that the
// descriptor is open here.
func FD(mp string) (int, error) {
	fd, err := strconv.Atoi(strings.TrimPrefix(mp, "/dev/fd/"))
	if err != nil || fd < 0 {
		return -1, fmt.Errorf("mount point %s: not a descriptor number", mp)
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil {
		return -1, fmt.Errorf("mount point %s: descriptor %d is not open here (the process that mounted /dev/fuse must pass it on, as mount.fuse3 -o drop_privileges does)", mp, fd)
	}
	return fd, nil
}

// Prepare makes mp absolute, cleans up a stale mount left there by
// a process that died ("transport endpoint is not connected") with a
// one-line notice, refuses to stack on a live intelligencefs mount, and
// checks mp is a directory.
func Prepare(mp string, log *slog.Logger) (string, error) {
	if IsFD(mp) {
		_, err := FD(mp)
		return mp, err
	}
	abs, err := CheckPath(mp)
	if err != nil {
		return "", err
	}
	// A dead FUSE server's mount can still answer stat from cached
	// attributes; opening the directory reaches the (absent) server.
	fstype, mounted := mountinfo.TypeAt(abs)
	if probe := probeDir(abs); isDisconnected(probe) {
		log.Warn("a stale mount was left at the mount point by a process that died (transport endpoint is not connected); unmounting it", "mountpoint", abs)
		if uerr := unmount.Lazy(abs); uerr != nil {
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

// CheckPath refuses, as usage errors and before anything else
// is done, mount points that must never be mounted on: "" (filepath.Abs
// makes it the working directory: an empty variable in a script), "/",
// and paths in /proc, /sys or /dev, also where a symlink leads there
// (/tmp/x -> /proc/self). It returns the absolute path.
func CheckPath(mp string) (string, error) {
	if mp == "" {
		return "", cmdutil.Usagef("the mount point is empty")
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
		return cmdutil.Usagef("refusing to mount over / (the whole system)")
	}
	for _, root := range systemRoots {
		if abs == root || strings.HasPrefix(abs, root+"/") {
			return cmdutil.Usagef("refusing to mount on %s: %s belongs to the kernel", abs, root)
		}
	}
	return nil
}

// RefuseNonEmpty fails when mp holds files: mounting over them would hide
// them silently until unmounted (--allow-non-empty, -o nonempty accept it).
func RefuseNonEmpty(mp string) error {
	f, err := os.Open(mp)
	if err != nil {
		return fmt.Errorf("mount point: %w", err)
	}
	defer f.Close()
	names, err := f.Readdirnames(1)
	if len(names) > 0 {
		return fmt.Errorf("mount point %s is not empty (it holds %q): mounting would hide its files; choose an empty folder or pass --allow-non-empty", mp, cmdutil.Truncate(names[0], 40))
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("mount point: %w", err)
	}
	return nil
}

// probeDir asks the filesystem at dir for its statistics, then opens dir
// and reads one entry. statfs always reaches a FUSE server: the kernel
// keeps attributes, entries and (without OPENDIR) whole listings of a mount
// whose server died, so a listing alone may still answer from its cache.
func probeDir(dir string) error {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return &os.PathError{Op: "statfs", Path: dir, Err: err}
	}
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

// ScrubSecretEnv removes the secret variables from this process's
// environment once they were read, so that no program started later
// inherits them: go-fuse runs fusermount3 -u with our environment.
func ScrubSecretEnv() {
	for _, k := range factory.SecretEnv {
		_ = os.Unsetenv(k)
	}
}
