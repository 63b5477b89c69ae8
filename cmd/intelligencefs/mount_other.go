//go:build !linux

package main

import (
	"context"
	"errors"
)

// errNeedsLinux is what mount, demo and the fstab form say outside Linux.
var errNeedsLinux = errors.New("mounting needs Linux (or WSL2); decrypt, cat, keygen, keys, services and doctor work here")

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
