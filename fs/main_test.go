package fs

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

// TestMain runs the package's tests, or a mount process of a benchmark, and
// fails a passing run that leaked goroutines or FUSE and socket descriptors.
func TestMain(m *testing.M) {
	if cfg := os.Getenv(mountChildEnv); cfg != "" {
		os.Exit(runMountChild(cfg)) // a mount process for BenchmarkColdScanRSS
	}
	fdsBefore := countFDs()
	code := m.Run()
	if code == 0 {
		// setRequestCancel: net/http's per-request timer goroutine, which
		// twilio-go's client (inside fetch) can leave until its timeout
		// after a response was read; not ours to stop.
		if err := goleak.Find(goleak.IgnoreTopFunction("net/http.setRequestCancel.func4")); err != nil {
			fmt.Fprintln(os.Stderr, "goroutine leak:", err)
			code = 1
		}
		// Descriptors: the mounts' /dev/fuse fds must all be closed.
		if after := countFDs(); after > fdsBefore {
			fmt.Fprintf(os.Stderr, "descriptor leak: %d open before the tests, %d after: %v\n", fdsBefore, after, fdTargets())
			code = 1
		}
	}
	os.Exit(code)
}

func fdTargets() []string {
	ents, _ := os.ReadDir("/proc/self/fd")
	var out []string
	for _, e := range ents {
		l, _ := os.Readlink("/proc/self/fd/" + e.Name())
		out = append(out, l)
	}
	return out
}

// countFDs counts the descriptors a mount or a client could leak: the
// /dev/fuse channel and sockets (the runtime's own epoll, eventfd and
// cgroup files appear lazily and are not leaks).
func countFDs() int {
	n := 0
	for _, l := range fdTargets() {
		if l == "/dev/fuse" || strings.HasPrefix(l, "socket:") {
			n++
		}
	}
	return n
}
