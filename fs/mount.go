package fs

import (
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"sync"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/intelligencefs/intelligencefs/fs/internal/dirhandles"
)

// Server is a mounted intelligencefs. It owns what the mount holds: the
// node tree, its background work and the plaintext cache.
type Server struct {
	srv       *fuse.Server
	root      *Root
	dirs      *dirhandles.FS
	closeOnce sync.Once
}

// Mount mounts the filesystem read-only on mountpoint and serves it until
// Unmount. As root it mounts directly (mount(2)), otherwise through
// fusermount3.
//
// Timeouts: go-fuse's global EntryTimeout/AttrTimeout are left nil on
// purpose. go-fuse replaces a zero per-entry timeout with them, but a
// content file whose size is not known yet must reach the kernel with a zero
// attribute timeout (so read/mmap ask GETATTR and see the real size). Every
// node therefore sets its own: DirCacheTime for folders, links and
// metadata files; an hour for content files once their size is known
// (immutable); zero before. No negative entry caching: a transcript created
// upstream must be findable at once.
func Mount(mountpoint string, opts Options) (*Server, error) {
	root, err := NewRoot(opts)
	if err != nil {
		return nil, err
	}
	var ignore uint64
	if opts.kernelOpens {
		ignore = fuse.CAP_NO_OPEN_SUPPORT | fuse.CAP_NO_OPENDIR_SUPPORT
	}
	srv, dirs, err := serve(mountpoint, root, root.fuseOptions(), root.opts.DirCacheTime, root.kernelOffers, ignore)
	if err != nil {
		root.Close()
		return nil, fmt.Errorf("fs: mount %s: %w", mountpoint, err)
	}
	return &Server{srv: srv, root: root, dirs: dirs}, nil
}

// serve mounts the node tree under root with folders read without OPENDIR
// (dirhandles) and serves it on its own goroutine.
func serve(mountpoint string, root gofs.InodeEmbedder, o *gofs.Options, dirCacheTime time.Duration, onInit func(uint64), ignore uint64) (*fuse.Server, *dirhandles.FS, error) {
	dirs := dirhandles.New(gofs.NewNodeFS(root, o), dirhandles.Options{CacheTime: dirCacheTime, OnInit: onInit, Ignore: ignore})
	var raw fuse.RawFileSystem = dirs
	if sf, ok := root.(interface{ statfs(*fuse.StatfsOut) }); ok {
		raw = statfsFS{FS: dirs, statfs: sf.statfs}
	}
	srv, err := fuse.NewServer(raw, mountpoint, &o.MountOptions)
	if err != nil {
		return nil, nil, err
	}
	go srv.Serve()
	if err := srv.WaitMount(); err != nil {
		// The kernel mount may exist already (the readiness check runs
		// after it): take it down, or a dead mount ("transport endpoint
		// is not connected") stays stacked on the mount point. When the
		// mount never came up this fails harmlessly (EINVAL: not mounted)
		// and the serve loop ends by itself.
		if uerr := srv.Unmount(); uerr != nil && !errors.Is(uerr, syscall.EINVAL) {
			return nil, nil, fmt.Errorf("%w (unmounting what was mounted failed too: %v; run fusermount3 -uz %s)", err, uerr, mountpoint)
		}
		return nil, nil, err
	}
	return srv, dirs, nil
}

// statfsFS answers STATFS from statfs for every node of the mount: the
// node bridge would ask only the node the path ends at, and leave the
// figures zero for any node that does not implement it.
type statfsFS struct {
	*dirhandles.FS
	statfs func(out *fuse.StatfsOut)
}

// StatFs answers from statfs, whatever node the path ends at.
func (f statfsFS) StatFs(cancel <-chan struct{}, in *fuse.InHeader, out *fuse.StatfsOut) fuse.Status {
	f.statfs(out)
	return fuse.OK
}

// fuseOptions are the go-fuse settings for this root.
func (r *Root) fuseOptions() *gofs.Options {
	o := r.opts
	fsName := o.FsName
	if fsName == "" {
		fsName = "intelligencefs"
	}
	mo := fuse.MountOptions{
		FsName: fsName,
		Name:   "intelligencefs",
		// ro: writes fail with EROFS at the VFS. default_permissions: the
		// kernel enforces the 0600/0700 modes (needed once allow_other
		// lets other users in).
		Options:              []string{"ro", "default_permissions"},
		AllowOther:           o.AllowOther,
		DirectMount:          os.Geteuid() == 0,
		DirectMountStrict:    o.DirectMountStrict && os.Geteuid() == 0,
		MaxWrite:             1 << 20,
		Debug:                o.DebugFUSE,
		DisableXAttrs:        true,
		IgnoreSecurityLabels: true,
		PanicHandler: func(v any) fuse.Status {
			// A bug must not take the mount down or hang the caller.
			r.log.Error("panic in FUSE handler; returning EIO", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			return fuse.EIO
		},
	}
	if o.DebugFUSE {
		// Through the scrubber: go-fuse quotes payload bytes (content).
		mo.Logger = newDebugFUSELogger(r.log.Handler())
	}
	return &gofs.Options{
		MountOptions:    mo,
		NullPermissions: true, // modes are set explicitly everywhere
		UID:             r.uid,
		GID:             r.gid,
	}
}

// Root returns the root node (Forget, tests).
func (s *Server) Root() *Root { return s.root }

// Stats returns the mount's counters: its own and its plaintext cache's.
// They stay readable after Close (the cache then holds nothing).
func (s *Server) Stats() Stats { return s.root.Stats() }

// Unmount unmounts the filesystem and, once the serve loop has ended,
// closes it (Close). It fails (and keeps serving) while the mount is busy.
func (s *Server) Unmount() error {
	if err := s.srv.Unmount(); err != nil {
		return err
	}
	s.Close()
	return nil
}

// Wait blocks until the filesystem is unmounted (by Unmount or from
// outside, e.g. fusermount3 -u), then closes it (Close).
func (s *Server) Wait() {
	s.srv.Wait()
	s.Close()
}

// Close waits for the serve loop to end (the mount was unmounted: Unmount,
// fusermount3 -u, a lazy detach whose last file was closed), then stops
// background work and zeroes and unmaps the plaintext cache, so no handler
// can still read what is freed. Unmount and Wait call it; calling it again
// does nothing. A process that gives up on a busy mount exits without it,
// which releases the memory as well.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		s.srv.Wait()
		s.root.Close()
	})
}
