//go:build linux

package plaincache

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// lockSupported reports whether this platform can keep buffers out of swap.
const lockSupported = true

// mapRegion returns size bytes (rounded up to whole pages) of private
// anonymous memory that the Go heap and garbage collector never see, so the
// plaintext in it is never copied by the runtime and can be zeroed for sure.
// MADV_DONTDUMP keeps it out of core dumps even if the process is made
// dumpable again. size must be > 0.
func mapRegion(size int) ([]byte, error) {
	mem, err := unix.Mmap(-1, 0, roundPages(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return nil, fmt.Errorf("plaincache: mmap %d bytes: %w", roundPages(size), err)
	}
	if err := unix.Madvise(mem, unix.MADV_DONTDUMP); err != nil {
		_ = unix.Munmap(mem)
		return nil, fmt.Errorf("plaincache: madvise(MADV_DONTDUMP): %w", err)
	}
	return mem, nil
}

// lockRegion pins a mapping in RAM so its pages are never written to swap.
func lockRegion(mem []byte) error {
	if err := unix.Mlock(mem); err != nil {
		return fmt.Errorf("plaincache: mlock %d bytes: %w", len(mem), err)
	}
	return nil
}

// unmapRegion returns a mapping to the kernel; munmap also unlocks it. The
// caller has already zeroed it: the kernel does not promise to clear freed
// pages before reusing them elsewhere.
func unmapRegion(mem []byte) error {
	return unix.Munmap(mem)
}

// systemLockBudget returns how many more bytes this process may mlock, or -1
// for no limit (CAP_IPC_LOCK in the effective set, or RLIMIT_MEMLOCK
// unlimited), and a description of the limit for messages.
func systemLockBudget() (int64, string) {
	if hasCapIPCLock() {
		return -1, "CAP_IPC_LOCK"
	}
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_MEMLOCK, &rl); err != nil {
		return 0, "RLIMIT_MEMLOCK unreadable"
	}
	if rl.Cur == unix.RLIM_INFINITY {
		return -1, "RLIMIT_MEMLOCK unlimited"
	}
	// The limit covers everything the process has locked already.
	budget := int64(rl.Cur) - lockedAlready()
	if budget < 0 {
		budget = 0
	}
	return budget, fmt.Sprintf("RLIMIT_MEMLOCK %d bytes, no CAP_IPC_LOCK", rl.Cur)
}

// hasCapIPCLock reports whether CAP_IPC_LOCK is effective, which lifts
// RLIMIT_MEMLOCK for mlock. Capabilities are per thread in Linux, but Go
// programs do not change them per thread, so the calling thread speaks for
// the process.
func hasCapIPCLock() bool {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return false
	}
	return data[unix.CAP_IPC_LOCK/32].Effective&(1<<(unix.CAP_IPC_LOCK%32)) != 0
}

// lockedAlready returns VmLck of this process in bytes (0 if unknown).
func lockedAlready() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		rest, ok := bytes.CutPrefix(s.Bytes(), []byte("VmLck:"))
		if !ok {
			continue
		}
		fields := bytes.Fields(rest) // "1234 kB"
		if len(fields) == 0 {
			return 0
		}
		kb, err := strconv.ParseInt(string(fields[0]), 10, 64)
		if err != nil {
			return 0
		}
		return kb * 1024
	}
	return 0
}
