//go:build !linux

package main

import (
	"context"
)

// runFstab is the fstab form, which mounts: Linux only.
func (a *app) runFstab(ctx context.Context, args []string) error { return errNeedsLinux }

// runMount mounts: Linux only.
func (a *app) runMount(ctx context.Context, req mountRequest) error { return errNeedsLinux }

// mountSupported is false: mounting needs Linux.
const mountSupported = false
