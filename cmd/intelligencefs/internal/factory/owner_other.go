//go:build !unix

package factory

import "os"

// fileOwner is unknown where files have no Unix owner.
func fileOwner(fi os.FileInfo) (int, bool) { return 0, false }
