//go:build linux

package mount

import (
	"context"
	"errors"
	"os"

	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/cmdutil"
	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/daemon"
	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/factory"
	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/mountpoint"
)

// daemonize is the daemon parent's side of a mount (package daemon): the
// child is this command line run again; a /dev/fd/N mount point's
// descriptor is handed on. prompted are the passphrases typed on the
// parent's terminal. A child that failed before it was ready ends the
// parent with the child's status and line.
func daemonize(ctx context.Context, f *factory.Factory, prompted map[string][]byte, mountPoint string) error {
	req := daemon.Request{Argv: f.Argv, Prompted: prompted, SecretEnv: factory.SecretEnv, Stderr: f.Stderr}
	if mountpoint.IsFD(mountPoint) {
		fd, err := mountpoint.FD(mountPoint)
		if err != nil {
			return err
		}
		req.Fuse, req.FuseArg = os.NewFile(uintptr(fd), mountPoint), mountPoint
	}
	err := daemon.Start(ctx, req)
	var ee *daemon.ExitError
	if errors.As(err, &ee) {
		return cmdutil.ExitCodeError{Code: ee.Code, Msg: ee.Msg}
	}
	return err
}
