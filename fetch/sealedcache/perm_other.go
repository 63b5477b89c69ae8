//go:build !unix

package sealedcache

import "os"

// checkPrivate has nothing to check where files have no Unix modes: the
// folder's access control list is the user's to set.
func checkPrivate(string, os.FileInfo) error { return nil }

// openNoFollow opens p for reading.
func openNoFollow(p string) (*os.File, error) { return os.Open(p) }

// isSymlinkRefused is false: openNoFollow does not refuse links here.
func isSymlinkRefused(error) bool { return false }
