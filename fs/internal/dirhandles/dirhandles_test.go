package dirhandles

import (
	"fmt"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
)

// fakeBridge stands in for go-fuse's node bridge under FS: it
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
func readDirAt(t *testing.T, h *FS, node, off uint64) uint64 {
	t.Helper()
	out := fuse.NewDirEntryList(make([]byte, 100), off)
	in := &fuse.ReadIn{InHeader: fuse.InHeader{NodeId: node}, Offset: off, Size: 100}
	if st := h.ReadDirPlus(nil, in, out); !st.Ok() {
		t.Fatalf("READDIRPLUS node %d at %d: %v", node, off, st)
	}
	return out.Offset
}

// readDirAll reads node's folder from offset 0 to the end.
func readDirAll(t *testing.T, h *FS, node uint64) {
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
	setup := func(t *testing.T) (*fakeBridge, *FS) {
		b := newFakeBridge(t)
		b.names[node] = names("entry", 25)
		h := New(b, Options{CacheTime: time.Hour})
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

// TestParking runs request sequences against a fake bridge and checks the
// handles FS opened, released and kept open on the bridge.
func TestParking(t *testing.T) {
	const a, b = 7, 8 // two folders of 25 entries; READDIRs of two entries each
	for _, tc := range []struct {
		name                   string
		run                    func(t *testing.T, h *FS, br *fakeBridge)
		opened, released, open int
		readdirs               int64
	}{
		{name: "one page, then nothing: the handle waits for the next page",
			run:    func(t *testing.T, h *FS, br *fakeBridge) { readDirAt(t, h, a, 0) },
			opened: 1, open: 1, readdirs: 1},
		{name: "a listing to its end: released after the empty page",
			run:    func(t *testing.T, h *FS, br *fakeBridge) { readDirAll(t, h, a) },
			opened: 1, released: 1, readdirs: 10},
		{name: "two folders read in turn keep a handle each",
			run: func(t *testing.T, h *FS, br *fakeBridge) {
				offA, offB := uint64(0), uint64(0)
				for range 3 {
					offA = readDirAt(t, h, a, offA)
					offB = readDirAt(t, h, b, offB)
				}
			},
			opened: 2, open: 2, readdirs: 6},
		{name: "two readers at the same point: the newer handle stays, the older is released",
			run: func(t *testing.T, h *FS, br *fakeBridge) {
				readDirAt(t, h, a, 0)
				readDirAt(t, h, a, 0)
			},
			opened: 2, released: 1, open: 1, readdirs: 2},
		{name: "a handle idle beyond parkIdle is released when the next one parks",
			run: func(t *testing.T, h *FS, br *fakeBridge) {
				readDirAt(t, h, a, 0)
				h.mu.Lock()
				for _, p := range h.parked {
					p.since = p.since.Add(-parkIdle - time.Second)
				}
				h.mu.Unlock()
				readDirAt(t, h, b, 0)
			},
			opened: 2, released: 1, open: 1, readdirs: 2},
		{name: "READDIR with the kernel's handle passes through, uncounted",
			run: func(t *testing.T, h *FS, br *fakeBridge) {
				var open fuse.OpenOut
				if st := br.OpenDir(nil, &fuse.OpenIn{InHeader: fuse.InHeader{NodeId: a}}, &open); !st.Ok() {
					t.Fatal(st)
				}
				out := fuse.NewDirEntryList(make([]byte, 100), 0)
				if st := h.ReadDirPlus(nil, &fuse.ReadIn{InHeader: fuse.InHeader{NodeId: a}, Fh: open.Fh, Size: 100}, out); !st.Ok() {
					t.Fatal(st)
				}
				h.ReleaseDir(&fuse.ReleaseIn{InHeader: fuse.InHeader{NodeId: a}, Fh: open.Fh}) // the kernel's
			},
			opened: 1, released: 1},
		{name: "FORGET of one folder releases only its handles",
			run: func(t *testing.T, h *FS, br *fakeBridge) {
				readDirAt(t, h, a, 0)
				readDirAt(t, h, b, 0)
				h.Forget(a, 1)
			},
			opened: 2, released: 1, open: 1, readdirs: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			br := newFakeBridge(t)
			br.names[a], br.names[b] = names("a", 25), names("b", 25)
			h := New(br, Options{CacheTime: time.Hour})
			h.handless = true
			tc.run(t, h, br)
			opened, released, open, _ := br.state()
			if opened != tc.opened || released != tc.released || open != tc.open {
				t.Errorf("opened %d, released %d, open %d; want %d, %d, %d", opened, released, open, tc.opened, tc.released, tc.open)
			}
			if n := h.Readdirs(); n != tc.readdirs {
				t.Errorf("%d READDIRs counted, want %d", n, tc.readdirs)
			}
			h.OnUnmount()
			if _, released, open, _ := br.state(); open != 0 || released != tc.opened {
				t.Errorf("after unmount: %d open, %d released of %d", open, released, tc.opened)
			}
		})
	}
}

// TestInitWithoutCapabilities: a kernel that offers nothing (before 5.1)
// gets its OPENDIR answered by the bridge, and OnInit sees what it offered.
func TestInitWithoutCapabilities(t *testing.T) {
	br := newFakeBridge(t)
	seen := uint64(1)
	h := New(br, Options{CacheTime: time.Hour, OnInit: func(f uint64) { seen = f }})
	h.Init(&fuse.Server{})
	if seen != 0 {
		t.Errorf("OnInit saw %#x, want 0", seen)
	}
	var out fuse.OpenOut
	if st := h.OpenDir(nil, &fuse.OpenIn{InHeader: fuse.InHeader{NodeId: 7}}, &out); !st.Ok() || out.Fh == 0 {
		t.Errorf("OPENDIR: %v, fh %d; want the bridge's handle", st, out.Fh)
	}
}
