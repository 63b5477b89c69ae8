//go:build !linux

package mount

import (
	"context"

	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/factory"
)

// RunFstab is the fstab form, which mounts: Linux only.
func RunFstab(ctx context.Context, f *factory.Factory, args []string) error { return ErrNeedsLinux }

// Run mounts: Linux only.
func Run(ctx context.Context, f *factory.Factory, req Request) error { return ErrNeedsLinux }

// Supported is false: mounting needs Linux.
const Supported = false
