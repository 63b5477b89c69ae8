//go:build !linux

package main

import (
	"context"
)

// runFstab is the fstab form, which mounts: Linux only.
func (a *app) runFstab(ctx context.Context, args []string) error { return errNeedsLinux }

// runMount mounts: Linux only.
func (a *app) runMount(ctx context.Context, req mountRequest) error { return errNeedsLinux }

// daemonChildFailed does nothing where there is no daemon mode.
func (a *app) daemonChildFailed(err error) {}

// daemonChild does not exist where there is no daemon mode.
type daemonChild struct{}

// initDaemonChild finds no daemon child outside Linux.
func (a *app) initDaemonChild() (*daemonChild, error) { return nil, nil }

// mountSupported is false: mounting needs Linux.
const mountSupported = false
