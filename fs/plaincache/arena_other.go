//go:build !linux

package plaincache

import "errors"

// lockSupported is false here: this fallback exists so that commands which
// need no FUSE (decrypt, cat, keygen, …) build on macOS and Windows. Buffers
// on these platforms are NOT locked in RAM, NOT excluded from core dumps and
// live on the Go heap, where the garbage collector may have copied them
// before they are zeroed. Mounting, the only user of a long-lived cache, is
// Linux-only.
const lockSupported = false

// mapRegion returns ordinary heap memory (see lockSupported for what that
// does not guarantee).
func mapRegion(size int) ([]byte, error) {
	return make([]byte, roundPages(size)), nil
}

// lockRegion always fails: see lockSupported.
func lockRegion(mem []byte) error {
	return errors.New("plaincache: mlock is not supported on this platform")
}

// unmapRegion leaves the (already zeroed) memory to the garbage collector.
func unmapRegion(mem []byte) error { return nil }

// systemLockBudget reports that nothing can be locked on this platform.
func systemLockBudget() (int64, string) { return 0, "mlock not supported on this platform" }
