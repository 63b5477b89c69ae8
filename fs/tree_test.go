package fs

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/intelligencefs/intelligencefs/fetch"
	"github.com/intelligencefs/intelligencefs/fetch/twiliosim"
	"github.com/intelligencefs/intelligencefs/fs/catalog"
)

// TestTreeBytes reads every file of generated corpora (encrypted, plain and
// mixed services, key rotation with two keys, each sentences-document
// variant) and compares it with what the simulator sealed.
func TestTreeBytes(t *testing.T) {
	variants := []twiliosim.SentencesVariant{
		{},
		{BareArray: true},
		{CamelCase: true},
		{NumericTimes: true},
		{BareArray: true, CamelCase: true, NumericTimes: true},
	}
	for i, v := range variants {
		// Every variant in the default kernel mode, the last in both:
		// the document's shape and the kernel's way of reading are
		// independent.
		modes := kernelModes[:1]
		if i == len(variants)-1 {
			modes = kernelModes
		}
		for _, m := range modes {
			t.Run(fmt.Sprintf("%+v/%s", v, m.name), func(t *testing.T) {
				e := newEnv(t, twiliosim.Options{Corpus: twiliosim.CorpusOptions{
					Seed: int64(i + 1), TranscriptsPerService: 6, Rotation: true, Variant: v,
				}}, fetch.Config{}, m.tweak(nil))
				svcs := e.sim.Services()
				if len(svcs) < 3 {
					t.Fatalf("want at least 3 services, got %d", len(svcs))
				}
				for _, s := range svcs {
					got, err := os.ReadFile(filepath.Join(e.svcDir(s.SID), "service.json"))
					if err != nil || !bytes.Equal(got, s.JSON) {
						t.Errorf("service.json of %s: err %v, got %q", s.SID, err, trunc(got))
					}
					if s.UniqueName != "" {
						if l, err := os.Readlink(filepath.Join(e.mnt, "services", s.UniqueName)); err != nil || l != s.SID {
							t.Errorf("symlink %s: %q %v", s.UniqueName, l, err)
						}
					}
					ents, err := os.ReadDir(filepath.Join(e.svcDir(s.SID), "transcripts"))
					if err != nil {
						t.Fatal(err)
					}
					tis := e.sim.Transcripts(s.SID)
					if len(ents) != len(tis) {
						t.Errorf("service %s: %d entries, want %d", s.SID, len(ents), len(tis))
					}
					for _, ti := range tis {
						compareFiles(t, ti.SID, e.expected(t, ti), readTree(t, e.tDir(s.SID, ti.SID)))
						l, err := os.Readlink(filepath.Join(e.mnt, "transcripts", ti.SID))
						if want := "../services/" + s.SID + "/transcripts/" + ti.SID; err != nil || l != want {
							t.Errorf("transcripts/%s -> %q (%v), want %q", ti.SID, l, err, want)
						}
					}
				}
			})
		}
	}
}

// TestFsName: the source label of Options reaches /proc/mounts (the CLI's
// fstab form passes its SOURCE there).
func TestFsName(t *testing.T) {
	const label = "intelligencefs-test-source"
	e := newEnv(t, twiliosim.Options{Corpus: twiliosim.CorpusOptions{Seed: 3, TranscriptsPerService: 1}}, fetch.Config{},
		func(o *Options) { o.FsName = label })
	mounts, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		t.Skip(err)
	}
	for _, l := range strings.Split(string(mounts), "\n") {
		if f := strings.Fields(l); len(f) > 1 && f[1] == e.mnt {
			if f[0] != label {
				t.Errorf("source %q, want %q", f[0], label)
			}
			return
		}
	}
	t.Errorf("%s not in /proc/self/mounts", e.mnt)
}

// TestMountFailureLeavesNoMount: when the mount comes up in the kernel but
// its readiness check fails (here an owner of 4294967295, (uid_t)-1, which
// default_permissions turns into EACCES for every access), Mount returns
// the error and leaves no dead mount behind ("transport endpoint is not
// connected"). Before the fix serve() never unmounted.
func TestMountFailureLeavesNoMount(t *testing.T) {
	requireFUSE(t)
	if os.Geteuid() != 0 {
		t.Skip("needs root: an unprivileged user cannot own files as another uid")
	}
	mnt := t.TempDir()
	t.Cleanup(func() {
		if mi, _ := os.ReadFile("/proc/self/mountinfo"); bytes.Contains(mi, []byte(" "+mnt+" ")) {
			_ = syscall.Unmount(mnt, syscall.MNT_DETACH)
		}
	})
	opts := DefaultOptions()
	opts.Source = struct{ catalog.Source }{} // never called: the mount fails first
	opts.CacheSize = 1 << 20
	opts.UID, opts.GID = math.MaxUint32, math.MaxUint32
	srv, err := Mount(mnt, opts)
	if err == nil {
		_ = unmountRetry(srv)
		t.Skip("this kernel accepted the mount; nothing to check")
	}
	if mi, _ := os.ReadFile("/proc/self/mountinfo"); bytes.Contains(mi, []byte(" "+mnt+" ")) {
		t.Fatalf("mount failed (%v) but left a mount at %s", err, mnt)
	}
}
