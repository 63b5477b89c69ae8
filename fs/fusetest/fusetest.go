//go:build linux

// Package fusetest keeps tests that read a FUSE mount from hanging the
// whole `go test` run. A thread whose FUSE request the server has already
// taken waits for the answer uninterruptibly: if that server never answers
// (a deadlock, or a server process that died mid-request), neither the
// test's timeout panic nor SIGKILL ends the process, and `go test` never
// returns. Aborting the connection through fusectl
// (/sys/fs/fuse/connections/N/abort) fails every pending and future
// request with ENOTCONN, which frees those threads.
package fusetest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/intelligencefs/intelligencefs/fs/mountinfo"
)

// connectionsDir is where fusectl shows one directory per FUSE connection.
const connectionsDir = "/sys/fs/fuse/connections"

// Abort aborts the FUSE connection mounted at mountpoint. It finds the
// connection in /proc/self/mountinfo (never touching the mount itself,
// which may not answer) and mounts fusectl for the moment if it is not
// mounted.
func Abort(mountpoint string) error {
	m, ok := mountinfo.At(mountpoint)
	if !ok {
		return fmt.Errorf("fusetest: %s is not a mount point", mountpoint)
	}
	if _, ok := mountinfo.At(connectionsDir); !ok {
		if err := unix.Mount("fusectl", connectionsDir, "fusectl", 0, ""); err != nil {
			return fmt.Errorf("fusetest: mount fusectl on %s: %w", connectionsDir, err)
		}
		defer unix.Unmount(connectionsDir, 0)
	}
	abort := filepath.Join(connectionsDir, strconv.FormatUint(m.Dev(), 10), "abort")
	if err := os.WriteFile(abort, []byte("1"), 0); err != nil {
		return fmt.Errorf("fusetest: abort the connection of %s: %w", mountpoint, err)
	}
	return nil
}

// Watchdog fails t and aborts the FUSE connection at mountpoint unless
// Stop is called within the bound given to Watch.
type Watchdog struct {
	timer *time.Timer
	done  chan struct{} // closed when the timer's function returned
	once  sync.Once
}

// Watch starts a watchdog: if Stop is not called within after, it aborts
// the connection of mountpoint (the stuck reads then fail, so the test
// ends) and fails t with every goroutine's stack and the kernel stacks of
// this process's threads, which show what the reads were waiting for.
func Watch(t testing.TB, mountpoint string, after time.Duration) *Watchdog {
	w := &Watchdog{done: make(chan struct{})}
	w.timer = time.AfterFunc(after, func() {
		defer close(w.done)
		dump := goroutines()
		kernel := KernelStacks(os.Getpid())
		err := Abort(mountpoint)
		t.Errorf("mount %s still in use after %v: a read is stuck; aborted its FUSE connection (err: %v)\n"+
			"kernel stacks:\n%s\ngoroutines:\n%s", mountpoint, after, err, kernel, dump)
	})
	return w
}

// Stop ends the watchdog; if it fired, Stop waits until it has failed the
// test, so it never reports after the test ended.
func (w *Watchdog) Stop() {
	w.once.Do(func() {
		if !w.timer.Stop() {
			<-w.done
		}
	})
}

func goroutines() []byte {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) || len(buf) >= 64<<20 {
			return buf[:n]
		}
		buf = make([]byte, 2*len(buf))
	}
}

// KernelStacks returns where each thread of process pid waits in the
// kernel (readable as root; otherwise it says why not): a thread stuck on
// a FUSE request shows request_wait_answer.
func KernelStacks(pid int) string {
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*", pid))
	if err != nil || len(tasks) == 0 {
		return fmt.Sprintf("(no tasks: %v)", err)
	}
	var b strings.Builder
	for _, task := range tasks {
		st, err := os.ReadFile(filepath.Join(task, "stack"))
		if errors.Is(err, os.ErrPermission) {
			return "(kernel stacks need root)"
		}
		fmt.Fprintf(&b, "thread %s:\n%s", filepath.Base(task), st)
	}
	return b.String()
}
