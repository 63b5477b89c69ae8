package daemon

import (
	"errors"
	"os"
	"syscall"
)

// InitChild recognises the daemon child (by the variable Start sets, read
// through getenv), reads the passphrases from fd 3 and keeps the status
// pipe on fd 4. It returns nil, nil in any other process.
func InitChild(getenv func(string) string) (*Child, error) {
	if getenv(childEnv) != "1" {
		return nil, nil
	}
	os.Unsetenv(childEnv) // not for fusermount3 or anything we start
	secrets := os.NewFile(secretsFD, "daemon-secrets")
	status := os.NewFile(statusFD, "daemon-status")
	if secrets == nil || status == nil {
		return nil, errors.New("started as a daemon child without its pipes")
	}
	syscall.CloseOnExec(secretsFD)
	syscall.CloseOnExec(statusFD)
	defer secrets.Close()
	return newChild(secrets, status)
}
