//go:build !linux

package doctor

// checkFUSE notes that mounting is not available on this platform; the
// account and key checks above still apply to decrypt and cat.
func checkFUSE(r *doctorReport, allowOther bool) {
	r.warn("FUSE: mounting needs Linux (or WSL2); the account and key checks above apply to decrypt and cat here")
}

// checkMemlock has nothing to check where there is no mount.
func checkMemlock(r *doctorReport, cacheSize int64) {}
