//go:build linux

package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
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

// prepareMountPoint makes mp absolute, cleans up a stale mount left there by
// a process that died (stat fails with ENOTCONN, "transport endpoint is not
// connected") with a one-line notice, and checks it is a directory.
func prepareMountPoint(mp string, log *slog.Logger) (string, error) {
	if isFDMountPoint(mp) {
		return mp, nil
	}
	abs, err := filepath.Abs(mp)
	if err != nil {
		return "", fmt.Errorf("mount point: %w", err)
	}
	_, err = os.Stat(abs)
	if errors.Is(err, syscall.ENOTCONN) || errors.Is(err, syscall.ECONNABORTED) {
		log.Warn("a stale mount was left at the mount point by a process that died (transport endpoint is not connected); unmounting it", "mountpoint", abs)
		if uerr := lazyUnmount(abs); uerr != nil {
			return "", fmt.Errorf("mount point %s is a stale mount and unmounting it failed (%v): run fusermount3 -uz %s", abs, uerr, abs)
		}
		_, err = os.Stat(abs)
	}
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("mount point %s does not exist: create it with mkdir", abs)
		}
		return "", fmt.Errorf("mount point: %w", err)
	}
	fi, _ := os.Stat(abs)
	if !fi.IsDir() {
		return "", fmt.Errorf("mount point %s is not a directory", abs)
	}
	return abs, nil
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
		out, err := exec.Command(path, "-uz", mp).CombinedOutput()
		if err == nil {
			return nil
		}
		lastErr = fmt.Errorf("%s -uz: %s", bin, oneLine(string(out)))
	}
	return lastErr
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
