//go:build linux

package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/intelligencefs/intelligencefs/fetch/twiliosim"
	"github.com/intelligencefs/intelligencefs/fs/mountinfo"
)

// runCLIWithin is runCLI bounded by d: a run that hangs is killed and
// reported as exit -1 (so a test of a hang fails instead of hanging).
func runCLIWithin(t *testing.T, d time.Duration, env []string, args ...string) (cliResult, time.Duration) {
	t.Helper()
	bin := testBinary(t) // built before the clock starts
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	took := time.Since(start)
	if ctx.Err() != nil {
		return cliResult{stdout: stdout.String(), stderr: stderr.String(), code: -1}, took
	}
	return cliResult{stdout: stdout.String(), stderr: stderr.String(), code: exitStatus(t, err)}, took
}

// TestSecretFileIsFIFO: a FIFO given as --private-key, --env-file,
// --passphrase-file or a public key file is refused at once with one line
// ("not a regular file") instead of blocking forever in open(2).
func TestSecretFileIsFIFO(t *testing.T) {
	sim := newSim(t, twiliosim.Options{})
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	_, keyPath := genKeyFile(t, dir, "key.pem", []byte("pass phrase"), 0o600)
	for _, tc := range []struct {
		name string
		env  []string
		args []string
	}{
		{"private-key", simEnv(sim), []string{"cat", "--private-key", fifo, "GT00000000000000000000000000000000"}},
		{"env-file", baseEnv(), []string{"services", "list", "--env-file", fifo}},
		{"passphrase-file", simEnv(sim), []string{"cat", "--private-key", keyPath, "--passphrase-file", fifo, "GT00000000000000000000000000000000"}},
		{"public-key", simEnv(sim), []string{"keys", "register", "--name", "fifo", "--public-key", fifo}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, took := runCLIWithin(t, 20*time.Second, tc.env, tc.args...)
			if res.code == -1 {
				t.Fatalf("still blocked after %v", took)
			}
			oneErrorLine(t, res, res.code, "not a regular file")
			if res.code == 0 {
				t.Errorf("exit 0")
			}
			t.Logf("refused in %v", took.Round(time.Millisecond))
		})
	}
}

// TestMountPointRefused: an empty mount point (filepath.Abs("") is the
// working directory), "/", and paths in /proc, /sys or /dev (directly or
// through a symlink) are usage errors before anything is mounted; so is
// --uid/--gid 4294967295, (uid_t)-1.
func TestMountPointRefused(t *testing.T) {
	needFUSE(t)
	sim := newSim(t, twiliosim.Options{})
	link := filepath.Join(t.TempDir(), "self")
	if err := os.Symlink("/proc/self", link); err != nil {
		t.Fatal(err)
	}
	cwd, _ := os.Getwd()
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"empty", []string{"mount", ""}, "mount point is empty"},
		{"root", []string{"mount", "/"}, "refusing to mount over /"},
		{"proc-self", []string{"mount", "/proc/self"}, "belongs to the kernel"},
		{"sys", []string{"mount", "/sys/kernel"}, "belongs to the kernel"},
		{"dev-shm", []string{"mount", "/dev/shm"}, "belongs to the kernel"},
		{"symlink-to-proc", []string{"mount", link}, "belongs to the kernel"},
		{"uid-minus-one", []string{"mount", "--uid", "4294967295", t.TempDir()}, "below 4294967295"},
		{"gid-minus-one", []string{"mount", "--gid", "4294967295", t.TempDir()}, "below 4294967295"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, took := runCLIWithin(t, 20*time.Second, simEnv(sim), tc.args...)
			if res.code == -1 {
				t.Fatalf("still running after %v: it mounted", took)
			}
			oneErrorLine(t, res, 2, tc.want)
		})
	}
	for _, p := range []string{"/", "/proc/self", "/sys/kernel", "/dev/shm", cwd} {
		if fstype, ok := mountinfo.TypeAt(p); ok && strings.HasPrefix(fstype, "fuse.intelligencefs") {
			t.Errorf("an intelligencefs mount was left at %s", p)
		}
	}
}
