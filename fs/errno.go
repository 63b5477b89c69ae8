package fs

import (
	"context"
	"errors"
	"syscall"

	"github.com/intelligencefs/intelligencefs/crypto"
	"github.com/intelligencefs/intelligencefs/fetch/record"
	"github.com/intelligencefs/intelligencefs/fs/catalog"
)

// errnoOf maps an error from the source, the decrypter or a request context
// to the errno a user sees (DESIGN.md §5). go-fuse's own ToErrno compares
// with == and would turn every wrapped error into ENOSYS, so the mapping is
// done here with errors.Is/As and never yields ENOSYS. Anything unknown is
// EIO: in particular a 429/5xx must never look like ENOENT, which the kernel
// and tools would cache as "does not exist".
func errnoOf(err error) syscall.Errno {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, context.Canceled), errors.Is(err, catalog.ErrInterrupted):
		return syscall.EINTR
	case errors.Is(err, record.ErrNotFound), errors.Is(err, catalog.ErrAbsent):
		return syscall.ENOENT
	case errors.Is(err, record.ErrAuth), errors.Is(err, crypto.ErrUnwrap):
		return syscall.EACCES
	case errors.Is(err, crypto.ErrAuth), errors.Is(err, crypto.ErrMalformed):
		return syscall.EIO
	default:
		// errUnavailable, errExpired, context.DeadlineExceeded (a timeout is
		// an unavailable upstream, not an interrupt) and everything else.
		return syscall.EIO
	}
}
