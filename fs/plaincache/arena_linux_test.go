//go:build linux

package plaincache

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// vmFlags returns the VmFlags of the mapping in /proc/self/smaps that
// contains the first byte of mem.
func vmFlags(t testing.TB, mem []byte) []string {
	t.Helper()
	addr := uint64(uintptr(unsafe.Pointer(&mem[0])))
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Skipf("no /proc/self/smaps: %v", err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	in := false
	for s.Scan() {
		line := s.Text()
		if fields := strings.Fields(line); len(fields) > 0 && strings.Contains(fields[0], "-") && !strings.HasSuffix(fields[0], ":") {
			lo, hi, ok := strings.Cut(fields[0], "-")
			if ok {
				start, err1 := strconv.ParseUint(lo, 16, 64)
				end, err2 := strconv.ParseUint(hi, 16, 64)
				in = err1 == nil && err2 == nil && start <= addr && addr < end
				continue
			}
		}
		if in {
			if rest, ok := strings.CutPrefix(line, "VmFlags:"); ok {
				return strings.Fields(rest)
			}
		}
	}
	t.Fatalf("mapping at %#x not found in smaps", addr)
	return nil
}

func hasFlag(flags []string, f string) bool {
	for _, x := range flags {
		if x == f {
			return true
		}
	}
	return false
}

func TestDontDump(t *testing.T) {
	c := newCache(t, Options{Mlock: MlockOff})
	b := fill(t, c, 3*pageSize, 'd')
	defer b.Release()
	flags := vmFlags(t, b.Bytes())
	if !hasFlag(flags, "dd") {
		t.Errorf("VmFlags %v lack dd (MADV_DONTDUMP)", flags)
	}
	if hasFlag(flags, "lo") {
		t.Errorf("VmFlags %v have lo with mlock off", flags)
	}
	if s := c.Stats(); s.Locked || s.LockedBytes != 0 || s.LockShort {
		t.Errorf("mlock off: Stats %+v", s)
	}
}

func TestMlockRequiredLocks(t *testing.T) {
	if budget, desc := systemLockBudget(); budget >= 0 && budget < page(8) {
		t.Skipf("cannot lock 8 pages here (%s); the child-process test covers the refusal", desc)
	}
	c, err := New(Options{Mlock: MlockRequired, MaxBytes: page(8)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	b := fill(t, c, 2*pageSize, 'l')
	flags := vmFlags(t, b.Bytes())
	if !hasFlag(flags, "lo") || !hasFlag(flags, "dd") {
		t.Errorf("VmFlags %v, want lo and dd", flags)
	}
	if s := c.Stats(); !s.Locked || s.LockShort || s.LockedBytes != page(2) {
		t.Errorf("Stats %+v", s)
	}
	b.Release()
	if s := c.Stats(); s.LockedBytes != 0 {
		t.Errorf("LockedBytes after free %d", s.LockedBytes)
	}
}

// TestMlockAutoShort exercises the warn path with an injected budget of two
// pages for a cache of eight.
func TestMlockAutoShort(t *testing.T) {
	var h recordHandler
	c, err := New(Options{
		Mlock:      MlockAuto,
		MaxBytes:   page(8),
		Logger:     slog.New(&h),
		lockBudget: func() (int64, string) { return page(2), "test limit" },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var bufs []*Buffer
	for range 6 {
		bufs = append(bufs, fill(t, c, pageSize, 'a'))
	}
	w := h.warnings()
	if len(w) != 1 {
		t.Fatalf("%d warnings, want 1: %v", len(w), w)
	}
	if v, ok := attr(w[0], "needed_bytes"); !ok || v.Int64() != page(8) {
		t.Errorf("needed_bytes = %v, want %d", v, page(8))
	}
	if v, ok := attr(w[0], "fix"); !ok || !strings.Contains(v.String(), "ulimit -l") || !strings.Contains(v.String(), "LimitMEMLOCK=") || !strings.Contains(v.String(), "CAP_IPC_LOCK") {
		t.Errorf("fix = %v", v)
	}
	s := c.Stats()
	if !s.LockShort || s.Locked || s.LockedBytes != page(2) {
		t.Errorf("Stats %+v", s)
	}
	for i, b := range bufs {
		if got, want := hasFlag(vmFlags(t, b.Bytes()), "lo"), i < 2; got != want {
			t.Errorf("buffer %d locked = %v, want %v", i, got, want)
		}
	}
	for _, b := range bufs {
		b.Release()
	}
	if s := c.Stats(); s.LockedBytes != 0 {
		t.Errorf("LockedBytes after free %d", s.LockedBytes)
	}
}

func TestMlockRequiredRefused(t *testing.T) {
	_, err := New(Options{
		Mlock:      MlockRequired,
		MaxBytes:   page(8),
		lockBudget: func() (int64, string) { return page(1), "test limit" },
	})
	if err == nil {
		t.Fatal("New succeeded with too small a lock budget")
	}
	msg := err.Error()
	if strings.Contains(msg, "\n") || !strings.Contains(msg, strconv.FormatInt(page(8), 10)) || !strings.Contains(msg, "CAP_IPC_LOCK") {
		t.Errorf("error %q: want one line naming %d bytes and the fix", msg, page(8))
	}
}

const childEnv = "PLAINCACHE_TEST_CHILD"

// TestRealMemlockLimit runs the test binary again without CAP_IPC_LOCK and
// with RLIMIT_MEMLOCK lowered, so the real limits (not injected ones) drive
// auto and required.
func TestRealMemlockLimit(t *testing.T) {
	for _, mode := range []string{"auto", "required"} {
		t.Run(mode, func(t *testing.T) {
			argv := []string{os.Args[0], "-test.run=^$"}
			if hasCapIPCLock() {
				setpriv, err := exec.LookPath("setpriv")
				if err != nil {
					t.Skip("CAP_IPC_LOCK held and no setpriv to drop it")
				}
				argv = append([]string{setpriv, "--inh-caps=-ipc_lock", "--ambient-caps=-ipc_lock", "--bounding-set=-ipc_lock", "--"}, argv...)
			}
			cmd := exec.Command(argv[0], argv[1:]...)
			cmd.Env = append(os.Environ(), childEnv+"="+mode)
			out, err := cmd.CombinedOutput()
			if err != nil {
				if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() == 3 {
					t.Skipf("child could not drop CAP_IPC_LOCK: %s", out)
				}
				t.Fatalf("child: %v\n%s", err, out)
			}
			t.Logf("child output:\n%s", out)
		})
	}
}

// childMain is the body of TestRealMemlockLimit's child process; it returns
// the exit code (0 ok, 1 failure, 3 cannot run).
func childMain(mode string) int {
	fail := func(format string, args ...any) int {
		fmt.Printf("FAIL: "+format+"\n", args...)
		return 1
	}
	if hasCapIPCLock() {
		fmt.Println("CAP_IPC_LOCK still effective")
		return 3
	}
	limit := uint64(16 * pageSize)
	if err := unix.Setrlimit(unix.RLIMIT_MEMLOCK, &unix.Rlimit{Cur: limit, Max: limit}); err != nil {
		return fail("setrlimit: %v", err)
	}
	budget, _ := systemLockBudget()
	if budget < 0 || budget > int64(limit) {
		return fail("budget %d with limit %d", budget, limit)
	}
	switch mode {
	case "auto":
		var logs bytes.Buffer
		c, err := New(Options{Mlock: MlockAuto, MaxBytes: page(64), Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
		if err != nil {
			return fail("New: %v", err)
		}
		defer c.Close()
		var bufs []*Buffer
		for range 32 {
			b, err := c.Alloc(pageSize)
			if err != nil {
				return fail("Alloc: %v", err)
			}
			bufs = append(bufs, b)
		}
		s := c.Stats()
		if s.LockedBytes <= 0 || s.LockedBytes > budget || !s.LockShort {
			return fail("Stats %+v with budget %d", s, budget)
		}
		if !hasFlag(vmFlags(nopTB{}, bufs[0].Bytes()), "lo") || hasFlag(vmFlags(nopTB{}, bufs[31].Bytes()), "lo") {
			return fail("first buffer should be locked, last not")
		}
		lines := bytes.Split(bytes.TrimSpace(logs.Bytes()), []byte("\n"))
		if len(lines) != 1 {
			return fail("%d log lines, want 1:\n%s", len(lines), logs.Bytes())
		}
		var rec map[string]any
		if err := json.Unmarshal(lines[0], &rec); err != nil || rec["level"] != "WARN" || rec["needed_bytes"] != float64(page(64)) {
			return fail("warning %s", lines[0])
		}
		fmt.Printf("ok: locked %d of %d bytes; warning: %s\n", s.LockedBytes, s.LiveBytes, lines[0])
		for _, b := range bufs {
			b.Release()
		}
	case "required":
		_, err := New(Options{Mlock: MlockRequired, MaxBytes: page(64)})
		if err == nil {
			return fail("New(required) succeeded under a %d-byte limit", limit)
		}
		fmt.Printf("ok: refused: %v\n", err)
		// A cache that fits locks; an allocation past the real limit fails.
		c, err := New(Options{Mlock: MlockRequired, MaxBytes: page(8)})
		if err != nil {
			return fail("New(required, 8 pages): %v", err)
		}
		defer c.Close()
		b, err := c.Alloc(4 * pageSize)
		if err != nil {
			return fail("Alloc within limit: %v", err)
		}
		defer b.Release()
		big, err := c.Alloc(32 * pageSize)
		if err == nil {
			big.Release()
			return fail("Alloc past RLIMIT_MEMLOCK succeeded in required mode")
		}
		fmt.Printf("ok: allocation past the limit: %v\n", err)
	default:
		return fail("unknown mode %q", mode)
	}
	return 0
}

// nopTB lets vmFlags run in the child, outside a test.
type nopTB struct{ testing.TB }

func (nopTB) Helper()                   {}
func (nopTB) Skipf(f string, a ...any)  { panic(fmt.Sprintf(f, a...)) }
func (nopTB) Fatalf(f string, a ...any) { panic(fmt.Sprintf(f, a...)) }
