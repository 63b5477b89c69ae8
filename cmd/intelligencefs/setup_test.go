package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/intelligencefs/intelligencefs/fetch/twiliosim"
)

// The command tests drive the built binary, as a user would: argv, the
// environment, stdout, stderr and the exit status. testBinary builds it once
// per test process (TestMain removes it); INTELLIGENCEFS_TEST_BINARY names a
// prebuilt one instead.

var (
	buildOnce sync.Once
	buildDir  string
	buildPath string
	buildErr  error
)

// TestMain runs the package's tests and removes the binary they built. It is
// the package's only TestMain: add to it rather than defining another.
func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// testBinary returns the path of the intelligencefs binary built from this
// package, building it on first use.
func testBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		if p := os.Getenv("INTELLIGENCEFS_TEST_BINARY"); p != "" {
			buildPath = p
			return
		}
		buildDir, buildErr = os.MkdirTemp("", "intelligencefs-test-bin-")
		if buildErr != nil {
			return
		}
		buildPath = filepath.Join(buildDir, "intelligencefs")
		cmd := exec.Command("go", "build", "-o", buildPath, ".")
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = errors.New("go build: " + err.Error() + "\n" + string(out))
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildPath
}

// cliResult is what one run of the binary gave.
type cliResult struct {
	stdout, stderr string
	code           int
}

// baseEnv is the environment every run starts from: nothing of the
// caller's TWILIO_* or INTELLIGENCEFS_* settings leaks in.
func baseEnv() []string {
	env := []string{"HOME=" + os.Getenv("HOME"), "PATH=" + os.Getenv("PATH"), "LANG=C.UTF-8"}
	if v := os.Getenv("TMPDIR"); v != "" {
		env = append(env, "TMPDIR="+v)
	}
	return env
}

// simEnv is the environment that points the binary at sim with its
// account credentials.
func simEnv(sim *twiliosim.Server) []string {
	return append(baseEnv(),
		"TWILIO_ACCOUNT_SID="+sim.AccountSID,
		"TWILIO_AUTH_TOKEN="+sim.AuthToken,
		"INTELLIGENCEFS_API_URL="+sim.URL,
	)
}

// runCLI runs the binary with args and env (stdin is /dev/null, so never a
// terminal) and returns its output and exit status.
func runCLI(t testing.TB, env []string, args ...string) cliResult {
	t.Helper()
	return runCLIUnder(t, nil, env, args...)
}

// runCLIUnder is runCLI with the binary started by a wrapper command
// (e.g. setpriv with some capabilities dropped); nil runs it directly.
func runCLIUnder(t testing.TB, wrapper []string, env []string, args ...string) cliResult {
	t.Helper()
	argv := append(append(append([]string(nil), wrapper...), testBinary(t)), args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return cliResult{stdout: stdout.String(), stderr: stderr.String(), code: exitStatus(t, err)}
}

// exitStatus is the exit status of a process that ended with err (from
// exec.Cmd's Run or Wait); the test fails if it could not run at all.
func exitStatus(t testing.TB, err error) int {
	t.Helper()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		t.Fatalf("running %v", err)
	}
	return 0
}

// mustRun runs the binary and fails the test unless it exits 0.
func mustRun(t testing.TB, env []string, args ...string) cliResult {
	t.Helper()
	res := runCLI(t, env, args...)
	if res.code != 0 {
		t.Fatalf("intelligencefs %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), res.code, res.stdout, res.stderr)
	}
	return res
}

// newSim starts a simulator for the test and closes it at cleanup.
func newSim(t testing.TB, opts twiliosim.Options) *twiliosim.Server {
	t.Helper()
	sim, err := twiliosim.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	return sim
}

// lines returns the lines of s that start with prefix.
func lines(s, prefix string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return out
}

// needTool skips (or fails under INTELLIGENCEFS_REQUIRE_TOOLS=1) without bin.
func needTool(t *testing.T, bin string) string {
	t.Helper()
	p, err := exec.LookPath(bin)
	if err == nil {
		return p
	}
	if os.Getenv("INTELLIGENCEFS_REQUIRE_TOOLS") == "1" {
		t.Fatalf("INTELLIGENCEFS_REQUIRE_TOOLS=1 but %s is missing", bin)
	}
	t.Skipf("%s is not installed", bin)
	return ""
}
