//go:build linux

package fusetest

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// stuckFile is a file whose READ never answers until release is closed:
// the shape of a server deadlock, as the reading thread sees it.
type stuckFile struct {
	gofs.Inode
	release chan struct{}
	entered func() // called when a READ reaches the handler
}

func (f *stuckFile) Open(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	return nil, fuse.FOPEN_DIRECT_IO, 0
}

func (f *stuckFile) Getattr(ctx context.Context, fh gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	out.Mode, out.Size = 0o444, 4096
	return 0
}

func (f *stuckFile) Read(ctx context.Context, fh gofs.FileHandle, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	if f.entered != nil {
		f.entered()
	}
	<-f.release // deliberately ignores ctx: the server is stuck
	return fuse.ReadResultData(nil), 0
}

// recorder is a testing.TB that keeps what Errorf reports.
type recorder struct {
	testing.TB
	mu   sync.Mutex
	errs []string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

// TestWatchAbortsStuckRead: a read of an in-process mount whose server
// never answers returns (with an error) once the watchdog fires, and the
// test is failed with the goroutine dump that shows the stuck handler.
func TestWatchAbortsStuckRead(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("aborting a FUSE connection through fusectl needs root")
	}
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Skip("no /dev/fuse")
	}
	release := make(chan struct{})
	mnt := t.TempDir()
	srv, err := mountStuck(mnt, &stuckFile{release: release})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		close(release)
		srv.Wait()
		if err := syscall.Unmount(mnt, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", mnt, err)
		}
	})

	rec := &recorder{TB: t}
	wd := Watch(rec, mnt, 2*time.Second)
	_, readErr := os.ReadFile(filepath.Join(mnt, "stuck")) // returns only through the abort
	wd.Stop()
	if readErr == nil {
		t.Fatal("the read of a server that never answers succeeded")
	}
	if len(rec.errs) != 1 {
		t.Fatalf("watchdog reported %d failures, want 1: %q", len(rec.errs), rec.errs)
	}
	if msg := rec.errs[0]; !strings.Contains(msg, "aborted its FUSE connection (err: <nil>)") ||
		!strings.Contains(msg, "(*stuckFile).Read") {
		t.Errorf("watchdog report lacks the abort or the stuck handler's stack:\n%.2000s", msg)
	}
	t.Logf("read after abort: %v", readErr)
}

// TestWatchStoppedInTime: a watchdog stopped before its bound reports
// nothing.
func TestWatchStoppedInTime(t *testing.T) {
	rec := &recorder{TB: t}
	wd := Watch(rec, "/nonexistent", time.Hour)
	wd.Stop()
	wd.Stop()
	if len(rec.errs) != 0 {
		t.Errorf("stopped watchdog reported %q", rec.errs)
	}
}

// TestAbortNotMounted: a plain directory is not taken for a mount point.
func TestAbortNotMounted(t *testing.T) {
	if err := Abort(t.TempDir()); err == nil || !strings.Contains(err.Error(), "not a mount point") {
		t.Errorf("Abort of a plain directory = %v, want a not-a-mount-point error", err)
	}
}

// mountStuck mounts a folder holding file as "stuck" at mnt.
func mountStuck(mnt string, file *stuckFile) (*fuse.Server, error) {
	root := &gofs.Inode{}
	return gofs.Mount(mnt, root, &gofs.Options{
		OnAdd: func(ctx context.Context) {
			root.AddChild("stuck", root.NewPersistentInode(ctx, file, gofs.StableAttr{}), false)
		},
	})
}

// selfReadChild is set in the environment of the child process of
// TestAbortFreesKilledSelfReader to the mount point it serves.
const selfReadChild = "FUSETEST_SELF_READ_CHILD"

func TestMain(m *testing.M) {
	if mnt := os.Getenv(selfReadChild); mnt != "" {
		// Serve mnt and read its stuck file from this very process;
		// say "entered" once the server has taken the READ.
		file := &stuckFile{release: make(chan struct{}), entered: func() { fmt.Println("entered") }}
		if _, err := mountStuck(mnt, file); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.ReadFile(filepath.Join(mnt, "stuck"))
		os.Exit(1) // not reached: the read never returns
	}
	os.Exit(m.Run())
}

// TestAbortFreesKilledSelfReader shows the hazard behind a mount process
// that stays a zombie (cmd/intelligencefs's reap): a process killed while
// one of its threads waits on a request its own server has already taken
// cannot exit, since the kernel waits for that answer uninterruptibly and
// the connection lives as long as the process's /dev/fuse descriptor.
// Abort frees it.
func TestAbortFreesKilledSelfReader(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("aborting a FUSE connection through fusectl needs root")
	}
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Skip("no /dev/fuse")
	}
	mnt := t.TempDir()
	t.Cleanup(func() {
		if err := syscall.Unmount(mnt, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", mnt, err)
		}
	})
	cmd := exec.Command(os.Args[0], "-test.run", "^$")
	cmd.Env = append(os.Environ(), selfReadChild+"="+mnt)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if line, err := bufio.NewReader(out).ReadString('\n'); line != "entered\n" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("child: %q, %v", line, err)
	}
	cmd.Process.Kill()
	reaped := make(chan error, 1)
	go func() { reaped <- cmd.Wait() }()
	select {
	case err := <-reaped:
		t.Fatalf("the killed child was reaped without an abort (%v): the hazard this guards against did not occur", err)
	case <-time.After(2 * time.Second):
	}
	stacks := KernelStacks(cmd.Process.Pid)
	if !strings.Contains(stacks, "request_wait_answer") {
		t.Errorf("the stuck child's threads do not wait on a FUSE request:\n%s", stacks)
	}
	if err := Abort(mnt); err != nil {
		t.Fatal(err)
	}
	select {
	case <-reaped:
	case <-time.After(time.Minute):
		t.Fatalf("the killed child is still not reaped a minute after the abort:\n%s", KernelStacks(cmd.Process.Pid))
	}
}
