package fs

import (
	"github.com/intelligencefs/intelligencefs/fetch/record"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
)

// Forget drops what the mount remembers of Twilio's listings, like rclone's
// vfs/forget (the CLI calls it on SIGHUP), so the next walk sees Twilio's
// state now: the services list, every transcripts listing (the next `ls`
// loads it again from the first page, finding deletions too), the by-date
// probes, the transcripts no key opened a moment ago, and the kernel's
// cached listings of those folders. Decrypted content stays cached: a
// completed transcript's content never changes.
func (r *Root) Forget() {
	r.svcMu.Lock()
	r.svcAt = time.Time{} // the list is kept only as the fallback of a failed refresh
	r.svcExtra = map[string]record.Service{}
	r.svcMu.Unlock()

	r.listMu.Lock()
	ls := make([]*listing, 0, len(r.listings))
	for _, l := range r.listings {
		ls = append(ls, l)
	}
	r.probes = map[string]probeResult{}
	r.listMu.Unlock()
	for _, l := range ls {
		l.forget()
	}
	r.denied.forget()
	r.notifier.queue(func() { dropKernelListings(r.EmbeddedInode()) })
	r.log.Info("cached listings dropped; the next walk asks Twilio again")
}

// forget drops a complete listing: the next open starts a new full load.
// A load still running is left to finish (it is as fresh as can be).
func (l *listing) forget() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cur == nil || !l.cur.complete {
		return
	}
	l.cur = nil
	l.extra = map[string]record.Transcript{}
	l.broadcastLocked()
}

// dropKernelListings asks the kernel to drop its cached listing of every
// folder under n that is not a transcript's own (those never change), so
// the next readdir reaches the mount.
func dropKernelListings(n *gofs.Inode) {
	for _, ch := range n.Children() {
		if !ch.IsDir() {
			continue
		}
		if _, ok := ch.Operations().(*transcriptDir); ok {
			continue
		}
		ch.NotifyContent(0, 0)
		dropKernelListings(ch)
	}
}
