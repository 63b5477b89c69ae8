package fs

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"testing"

	"github.com/intelligencefs/intelligencefs/crypto"
	"github.com/intelligencefs/intelligencefs/fetch/record"
	"github.com/intelligencefs/intelligencefs/fs/catalog"
)

func TestErrnoOf(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("transcript GT0: %w", err) }
	tests := []struct {
		err  error
		want syscall.Errno
	}{
		{nil, 0},
		{wrap(record.ErrNotFound), syscall.ENOENT},
		{wrap(record.ErrAuth), syscall.EACCES},
		{wrap(crypto.ErrUnwrap), syscall.EACCES},
		{wrap(crypto.ErrAuth), syscall.EIO},
		{wrap(crypto.ErrMalformed), syscall.EIO},
		{wrap(record.ErrUnavailable), syscall.EIO},
		{wrap(record.ErrExpired), syscall.EIO},
		{wrap(context.Canceled), syscall.EINTR},
		{catalog.ErrInterrupted, syscall.EINTR},
		{wrap(context.DeadlineExceeded), syscall.EIO},
		{errors.New("anything"), syscall.EIO},
		{wrap(syscall.ENOSYS), syscall.EIO},
		{wrap(syscall.ECONNRESET), syscall.EIO},
		{wrap(catalog.ErrAbsent), syscall.ENOENT},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.err), func(t *testing.T) {
			if got := errnoOf(tc.err); got != tc.want {
				t.Fatalf("errnoOf(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}
