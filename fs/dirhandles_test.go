package fs

import (
	"fmt"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
)

// fakeBridge stands in for go-fuse's node bridge under handlelessDirs: it
// hands out directory handles that snapshot a folder's names at OPENDIR,
// serves READDIRPLUS from a handle's position (seeking when the offset
// differs, as the bridge does), refuses unknown handles (the bridge
// panics), and records what it served.
type fakeBridge struct {
	fuse.RawFileSystem
	t *testing.T

	mu       sync.Mutex
	names    map[uint64][]string // folder node ID -> names
	flags    uint32              // OpenOut flags of every OPENDIR
	openErr  fuse.Status
	nextFh   uint64
	handles  map[uint64]*fakeHandle
	opened   int
	released int
	forgot   []uint64
	served   []string
}

type fakeHandle struct {
	node  uint64
	names []string
	pos   int
}

func newFakeBridge(t *testing.T) *fakeBridge {
	return &fakeBridge{RawFileSystem: fuse.NewDefaultRawFileSystem(), t: t,
		names: map[uint64][]string{}, handles: map[uint64]*fakeHandle{}, nextFh: 1}
}

func (b *fakeBridge) OpenDir(cancel <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.openErr.Ok() {
		return b.openErr
	}
	fh := b.nextFh
	b.nextFh++
	b.handles[fh] = &fakeHandle{node: in.NodeId, names: slices.Clone(b.names[in.NodeId])}
	b.opened++
	out.Fh, out.OpenFlags = fh, b.flags
	return fuse.OK
}

func (b *fakeBridge) ReadDirPlus(cancel <-chan struct{}, in *fuse.ReadIn, out *fuse.DirEntryList) fuse.Status {
	b.mu.Lock()
	defer b.mu.Unlock()
	h := b.handles[in.Fh]
	if h == nil || h.node != in.NodeId {
		b.t.Errorf("READDIRPLUS on unknown handle %d of node %d", in.Fh, in.NodeId)
		return fuse.EBADF
	}
	h.pos = int(in.Offset)
	for h.pos < len(h.names) {
		if !out.AddDirEntry(fuse.DirEntry{Name: h.names[h.pos], Mode: syscall.S_IFREG, Off: uint64(h.pos + 1)}) {
			break
		}
		b.served = append(b.served, h.names[h.pos])
		h.pos++
	}
	return fuse.OK
}

func (b *fakeBridge) ReleaseDir(in *fuse.ReleaseIn) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if h := b.handles[in.Fh]; h == nil || h.node != in.NodeId {
		b.t.Errorf("RELEASEDIR of unknown handle %d of node %d", in.Fh, in.NodeId)
		return
	}
	delete(b.handles, in.Fh)
	b.released++
}

func (b *fakeBridge) Forget(nodeID, nlookup uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for fh, h := range b.handles {
		if h.node == nodeID {
			b.t.Errorf("node %d forgotten with handle %d still open", nodeID, fh)
		}
	}
	b.forgot = append(b.forgot, nodeID)
}

// state returns handles opened, released and still open, and what was
// served since the last call.
func (b *fakeBridge) state() (opened, released, open int, served []string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	served, b.served = b.served, nil
	return b.opened, b.released, len(b.handles), served
}

// readDirAt sends one READDIRPLUS without a handle, as the kernel does
// once OPENDIR answered ENOSYS, with room for about two entries; it
// returns the offset the next request starts at.
func readDirAt(t *testing.T, h *handlelessDirs, node, off uint64) uint64 {
	t.Helper()
	out := fuse.NewDirEntryList(make([]byte, 100), off)
	in := &fuse.ReadIn{InHeader: fuse.InHeader{NodeId: node}, Offset: off, Size: 100}
	if st := h.ReadDirPlus(nil, in, out); !st.Ok() {
		t.Fatalf("READDIRPLUS node %d at %d: %v", node, off, st)
	}
	return out.Offset
}

// readDirAll reads node's folder from offset 0 to the end.
func readDirAll(t *testing.T, h *handlelessDirs, node uint64) {
	t.Helper()
	for off := uint64(0); ; {
		next := readDirAt(t, h, node, off)
		if next == off {
			return
		}
		off = next
	}
}

func names(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%03d", prefix, i)
	}
	return out
}

func TestHandlelessDirs(t *testing.T) {
	const node = 7
	setup := func(t *testing.T) (*fakeBridge, *handlelessDirs) {
		b := newFakeBridge(t)
		b.names[node] = names("entry", 25)
		h := newHandlelessDirs(b, time.Hour, nil)
		h.handless = true
		t.Cleanup(h.OnUnmount)
		return b, h
	}

	t.Run("OPENDIR answered ENOSYS only where the kernel supports it", func(t *testing.T) {
		b, h := setup(t)
		var out fuse.OpenOut
		if st := h.OpenDir(nil, &fuse.OpenIn{InHeader: fuse.InHeader{NodeId: node}}, &out); st != fuse.ENOSYS {
			t.Errorf("OPENDIR: %v, want ENOSYS", st)
		}
		h.handless = false
		if st := h.OpenDir(nil, &fuse.OpenIn{InHeader: fuse.InHeader{NodeId: node}}, &out); !st.Ok() || out.Fh == 0 {
			t.Fatalf("OPENDIR on a kernel without NO_OPENDIR: %v, fh %d", st, out.Fh)
		}
		// The kernel then sends its handle with each READDIRPLUS.
		list := fuse.NewDirEntryList(make([]byte, 4096), 0)
		if st := h.ReadDirPlus(nil, &fuse.ReadIn{InHeader: fuse.InHeader{NodeId: node}, Fh: out.Fh, Size: 4096}, list); !st.Ok() {
			t.Fatal(st)
		}
		h.ReleaseDir(&fuse.ReleaseIn{InHeader: fuse.InHeader{NodeId: node}, Fh: out.Fh})
		if opened, released, open, served := b.state(); opened != 1 || released != 1 || open != 0 || len(served) != 25 {
			t.Errorf("opened %d released %d open %d served %d, want 1 1 0 25", opened, released, open, len(served))
		}
	})

	t.Run("a listing read in sequence stays on one handle", func(t *testing.T) {
		b, h := setup(t)
		readDirAll(t, h, node)
		opened, released, open, served := b.state()
		if !slices.Equal(served, names("entry", 25)) {
			t.Errorf("served %v", served)
		}
		if opened != 1 || released != 1 || open != 0 {
			t.Errorf("opened %d, released %d, open %d: want one handle, released at the end", opened, released, open)
		}
		if n := h.readdirs.Load(); n < 13 {
			t.Errorf("%d READDIRPLUS for 25 entries two at a time", n)
		}
	})

	t.Run("a listing keeps its snapshot; reading from the start again sees changes", func(t *testing.T) {
		b, h := setup(t)
		off := readDirAt(t, h, node, 0)
		off = readDirAt(t, h, node, off)
		b.mu.Lock()
		b.names[node] = append([]string{"new"}, b.names[node]...) // a refresh in between
		b.mu.Unlock()
		for next := readDirAt(t, h, node, off); next != off; next = readDirAt(t, h, node, off) {
			off = next
		}
		if _, _, _, served := b.state(); !slices.Equal(served, names("entry", 25)) {
			t.Errorf("first listing served %d entries %v, want the 25 of its snapshot once each", len(served), served)
		}
		readDirAll(t, h, node)
		if _, _, _, served := b.state(); len(served) != 26 || served[0] != "new" {
			t.Errorf("second listing served %v, want the new entry first", served)
		}
	})

	t.Run("an offset nobody parked at opens a handle and seeks", func(t *testing.T) {
		b, h := setup(t)
		readDirAt(t, h, node, 10)
		if opened, _, open, served := b.state(); opened != 1 || open != 1 || !slices.Equal(served, []string{"entry-010", "entry-011"}) {
			t.Errorf("opened %d open %d served %v", opened, open, served)
		}
	})

	t.Run("a reader that stopped early: FORGET releases its handle first", func(t *testing.T) {
		b, h := setup(t)
		readDirAt(t, h, node, 0) // like `ls | head`
		if _, _, open, _ := b.state(); open != 1 {
			t.Fatalf("%d handles parked, want 1", open)
		}
		h.Forget(node, 1)
		if _, released, open, _ := b.state(); released != 1 || open != 0 {
			t.Errorf("after FORGET: released %d, open %d", released, open)
		}
		if !slices.Equal(b.forgot, []uint64{node}) {
			t.Errorf("bridge forgot %v", b.forgot)
		}
	})

	t.Run("unmount releases every parked handle", func(t *testing.T) {
		b, h := setup(t)
		for n := uint64(100); n < 110; n++ {
			b.names[n] = names("x", 10)
			readDirAt(t, h, n, 0)
		}
		h.OnUnmount()
		if opened, released, open, _ := b.state(); opened != 10 || released != 10 || open != 0 {
			t.Errorf("opened %d released %d open %d", opened, released, open)
		}
	})

	t.Run("parked handles are bounded, the oldest goes first", func(t *testing.T) {
		b, h := setup(t)
		for n := uint64(1000); n < 1000+maxParked+10; n++ {
			b.names[n] = names("x", 10)
			readDirAt(t, h, n, 0)
		}
		if _, _, open, _ := b.state(); open != maxParked {
			t.Errorf("%d handles parked, want the bound %d", open, maxParked)
		}
		// The first reader's handle is gone: continuing opens a new one.
		readDirAt(t, h, 1000, 2)
		if opened, _, _, _ := b.state(); opened != maxParked+11 {
			t.Errorf("opened %d handles, want %d", opened, maxParked+11)
		}
	})

	t.Run("an error of the folder's open is the READDIR's error", func(t *testing.T) {
		b, h := setup(t)
		b.openErr = fuse.EIO
		out := fuse.NewDirEntryList(make([]byte, 100), 0)
		if st := h.ReadDirPlus(nil, &fuse.ReadIn{InHeader: fuse.InHeader{NodeId: node}, Size: 100}, out); st != fuse.EIO {
			t.Errorf("READDIRPLUS: %v, want EIO", st)
		}
	})

	t.Run("listings not marked cacheable expire from the kernel's cache", func(t *testing.T) {
		for _, tc := range []struct {
			flags  uint32
			expiry bool
		}{{0, true}, {fuse.FOPEN_CACHE_DIR | fuse.FOPEN_KEEP_CACHE, false}} {
			b, h := setup(t)
			b.flags = tc.flags
			readDirAll(t, h, node)
			readDirAll(t, h, node)
			h.mu.Lock()
			n := len(h.expires)
			h.mu.Unlock()
			if (n == 1) != tc.expiry || n > 1 {
				t.Errorf("open flags %#x: %d expiries pending, want expiry %v (once)", tc.flags, n, tc.expiry)
			}
			h.Forget(node, 1)
			h.mu.Lock()
			n = len(h.expires)
			h.mu.Unlock()
			if n != 0 {
				t.Errorf("open flags %#x: %d expiries left after FORGET", tc.flags, n)
			}
		}
	})
}
