// Package unmount detaches a mount lazily, the way out when a clean unmount
// is refused because a file is open or a process has its working directory
// inside (and the way to clear a stale mount whose server died). It also
// builds the helper commands (fusermount3) with an environment of their
// own, so no secret of ours reaches them.
package unmount

import "os/exec"

// helperPath is the only environment a helper program gets.
const helperPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// HelperCommand builds a helper's command (fusermount3 -u and the like)
// with a minimal environment: it needs none of ours, and ours may hold
// TWILIO_AUTH_TOKEN or a key passphrase.
func HelperCommand(path string, args ...string) *exec.Cmd {
	cmd := exec.Command(path, args...)
	cmd.Env = []string{helperPath}
	return cmd
}
