//go:build linux

package main

import (
	"context"
	"errors"
)

// runFstab is the fstab form: parse it and mount like `mount`.
func (a *app) runFstab(ctx context.Context, args []string) error {
	if _, err := parseFstabArgs(args); err != nil {
		return err
	}
	return errors.New("the fstab form is not wired yet")
}
