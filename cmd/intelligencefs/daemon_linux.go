//go:build linux

package main

import (
	"context"
	"errors"
	"os"

	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/daemon"
)

// daemonize is the daemon parent's side of a mount (package daemon): the
// child is this command line run again; a /dev/fd/N mount point's
// descriptor is handed on. prompted are the passphrases typed on the
// parent's terminal. A child that failed before it was ready ends the
// parent with the child's status and line.
func (a *app) daemonize(ctx context.Context, prompted map[string][]byte, mountPoint string) error {
	req := daemon.Request{Argv: a.argv, Prompted: prompted, Stderr: a.stderr}
	if isFDMountPoint(mountPoint) {
		fd, err := fdMountPoint(mountPoint)
		if err != nil {
			return err
		}
		req.Fuse, req.FuseArg = os.NewFile(uintptr(fd), mountPoint), mountPoint
	}
	err := daemon.Start(ctx, req)
	var ee *daemon.ExitError
	if errors.As(err, &ee) {
		return exitCodeError{code: ee.Code, msg: ee.Msg}
	}
	return err
}
