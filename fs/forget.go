package fs

import (
	gofs "github.com/hanwen/go-fuse/v2/fs"
)

// Forget drops what the mount remembers of Twilio's listings, like rclone's
// vfs/forget (the CLI calls it on SIGHUP), so the next walk sees Twilio's
// state now (catalog.Catalog.Forget); the kernel's cached listings of those
// folders follow (the Forgotten event). Decrypted content stays cached: a
// completed transcript's content never changes.
func (r *Root) Forget() { r.cat.Forget() }

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
