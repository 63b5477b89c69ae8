package fs

import (
	"sync"

	gofs "github.com/hanwen/go-fuse/v2/fs"

	"github.com/intelligencefs/intelligencefs/fs/catalog"
)

// nodeRegistry keeps, per transcript SID, the kernel inodes showing it, so
// the model's events (a deletion upstream, a cache drop, sentences.txt
// found underivable) reach the kernel. The model knows nothing of inodes.
type nodeRegistry struct {
	mu sync.Mutex
	m  map[string]*transcriptNodes
}

// transcriptNodes are the inodes showing one transcript: its folders (one
// per path reaching it) and its content files by content key.
type transcriptNodes struct {
	dirs  map[*gofs.Inode]struct{}
	files map[string]map[*gofs.Inode]struct{}
}

func (g *nodeRegistry) of(sid string) *transcriptNodes {
	n := g.m[sid]
	if n == nil {
		n = &transcriptNodes{dirs: map[*gofs.Inode]struct{}{}, files: map[string]map[*gofs.Inode]struct{}{}}
		g.m[sid] = n
	}
	return n
}

// tidy drops the record of sid once no inode shows it.
func (g *nodeRegistry) tidy(sid string) {
	if n := g.m[sid]; n != nil && len(n.dirs) == 0 && len(n.files) == 0 {
		delete(g.m, sid)
	}
}

// addDir and removeDir track the folder inodes showing transcript sid.
func (g *nodeRegistry) addDir(sid string, n *gofs.Inode) {
	g.mu.Lock()
	g.of(sid).dirs[n] = struct{}{}
	g.mu.Unlock()
}

func (g *nodeRegistry) removeDir(sid string, n *gofs.Inode) {
	g.mu.Lock()
	delete(g.of(sid).dirs, n)
	g.tidy(sid)
	g.mu.Unlock()
}

// addFile and removeFile track the content-file inodes showing key.
func (g *nodeRegistry) addFile(sid, key string, n *gofs.Inode) {
	g.mu.Lock()
	t := g.of(sid)
	m := t.files[key]
	if m == nil {
		m = map[*gofs.Inode]struct{}{}
		t.files[key] = m
	}
	m[n] = struct{}{}
	g.mu.Unlock()
}

func (g *nodeRegistry) removeFile(sid, key string, n *gofs.Inode) {
	g.mu.Lock()
	t := g.of(sid)
	delete(t.files[key], n)
	if len(t.files[key]) == 0 {
		delete(t.files, key)
	}
	g.tidy(sid)
	g.mu.Unlock()
}

// dirNodes returns the folder inodes showing transcript sid.
func (g *nodeRegistry) dirNodes(sid string) []*gofs.Inode {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := g.m[sid]
	if n == nil {
		return nil
	}
	out := make([]*gofs.Inode, 0, len(n.dirs))
	for d := range n.dirs {
		out = append(out, d)
	}
	return out
}

// fileNodes returns the content-file inodes showing key of sid.
func (g *nodeRegistry) fileNodes(sid, key string) []*gofs.Inode {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := g.m[sid]
	if n == nil {
		return nil
	}
	out := make([]*gofs.Inode, 0, len(n.files[key]))
	for f := range n.files[key] {
		out = append(out, f)
	}
	return out
}

// notify turns one event of the model into kernel notifications. It runs
// on the catalog's event goroutine, never inside a FUSE handler: a
// notification about an inode must not run in a handler for that inode
// (the kernel would wait on itself).
func (r *Root) notify(ev catalog.Event) {
	switch ev.Kind {
	case catalog.Gone:
		for _, d := range r.nodes.dirNodes(ev.SID) {
			name, parent := d.Parent()
			if parent == nil {
				continue
			}
			parent.RmChild(name)
			parent.NotifyDelete(name, d)
		}
	case catalog.Dropped:
		// Keep the memory bound real: the kernel's pages of the files
		// showing the dropped plaintext go too.
		for _, n := range r.nodes.fileNodes(ev.SID, ev.Key) {
			n.NotifyContent(0, 0)
		}
	case catalog.TxtAbsent:
		for _, d := range r.nodes.dirNodes(ev.SID) {
			if ch := d.GetChild("sentences.txt"); ch != nil {
				d.RmChild("sentences.txt")
				d.NotifyDelete("sentences.txt", ch)
			} else {
				d.NotifyEntry("sentences.txt")
			}
			d.NotifyContent(0, 0) // the cached listing (FOPEN_CACHE_DIR)
		}
	case catalog.Forgotten:
		dropKernelListings(r.EmbeddedInode())
	}
}

// CacheDropped is the plaintext cache's OnDrop hook: the model forgets the
// entry's prefetch accounting and publishes a Dropped event, which notify
// turns into dropping the kernel's pages of the files showing it.
func (r *Root) CacheDropped(key string) { r.cat.CacheDropped(key) }
