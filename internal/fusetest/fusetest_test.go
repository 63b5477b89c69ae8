//go:build linux

package fusetest

import (
	"context"
	"fmt"
	"os"
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
}

func (f *stuckFile) Open(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	return nil, fuse.FOPEN_DIRECT_IO, 0
}

func (f *stuckFile) Getattr(ctx context.Context, fh gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	out.Mode, out.Size = 0o444, 4096
	return 0
}

func (f *stuckFile) Read(ctx context.Context, fh gofs.FileHandle, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
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
	root := &gofs.Inode{}
	file := &stuckFile{release: release}
	mnt := t.TempDir()
	srv, err := gofs.Mount(mnt, root, &gofs.Options{
		OnAdd: func(ctx context.Context) {
			root.AddChild("stuck", root.NewPersistentInode(ctx, file, gofs.StableAttr{}), false)
		},
	})
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

func TestMountDeviceNotMounted(t *testing.T) {
	if _, err := mountDevice(t.TempDir()); err == nil {
		t.Error("a plain directory was taken for a mount point")
	}
}
