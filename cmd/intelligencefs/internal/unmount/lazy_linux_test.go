package unmount

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/intelligencefs/intelligencefs/fs/mountinfo"
)

// TestLazyBusyMount detaches a mount that a clean unmount refuses (a file
// is open in it): it leaves the namespace at once, and the open file still
// reads. A tmpfs stands in for the FUSE mount (same umount2 path).
func TestLazyBusyMount(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	mp := t.TempDir()
	if err := unix.Mount("tmpfs", mp, "tmpfs", 0, "size=1m"); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v", err)
	}
	t.Cleanup(func() { _ = unix.Unmount(mp, unix.MNT_DETACH) })
	p := filepath.Join(mp, "open")
	if err := os.WriteFile(p, []byte("still here"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := unix.Unmount(mp, 0); err == nil {
		t.Fatal("a clean unmount of a busy mount succeeded: the test proves nothing")
	}
	if err := Lazy(mp); err != nil {
		t.Fatalf("Lazy: %v", err)
	}
	if fstype, mounted := mountinfo.TypeAt(mp); mounted {
		t.Errorf("still mounted (%s) after Lazy", fstype)
	}
	buf := make([]byte, 32)
	if n, err := f.Read(buf); string(buf[:n]) != "still here" {
		t.Errorf("the open file reads %q, %v after the detach", buf[:n], err)
	}
	// Nothing mounted there any more: not an error.
	if err := Lazy(mp); err != nil {
		t.Errorf("Lazy on an unmounted folder: %v", err)
	}
}
