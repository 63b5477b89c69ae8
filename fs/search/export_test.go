package search

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/intelligencefs/intelligencefs/fetch/record"
	"github.com/intelligencefs/intelligencefs/fetch/twiliosim"
)

// tree lists every path below top with its mode, to compare before and
// after an export.
func tree(t *testing.T, top string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(top, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		out = append(out, p+" "+fi.Mode().String())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// TestExportOfForgedListing: a search whose listing carries the holdout of
// hostile strings as transcript SIDs (queued transcripts whose metadata
// matches), exported with the engine on the simulator, writes only below
// its folder and only folders named by real SIDs. Before SIDs were checked
// where decoded and the export went through os.Root, "../../escaped" made
// it write transcript.json two levels above the folder and chmod that one
// 0700.
func TestExportOfForgedListing(t *testing.T) {
	sim, c, ring := newTestSource(t, twiliosim.CorpusOptions{Seed: 4, TranscriptsPerService: 3})
	sim.SetFaults(twiliosim.Faults{ForgedTranscriptSIDs: twiliosim.HostileNames})
	top := t.TempDir()
	dir := filepath.Join(top, "a", "b", "request-7")
	if err := os.MkdirAll(filepath.Join(top, "a", "b"), 0o755); err != nil {
		t.Fatal(err)
	}
	before := tree(t, top)
	exported := 0
	_, err := New(Options{Source: c, Decrypter: ring}).Run(context.Background(),
		Query{Pattern: twiliosim.ForgedCustomerKey, Fixed: true, Metadata: true},
		Handler{Match: func(r *Result) error {
			exported++
			_, err := Export(context.Background(), dir, r)
			return err
		}})
	if err != nil {
		t.Fatal(err)
	}
	if exported != 0 {
		t.Errorf("%d forged transcripts matched and were exported", exported)
	}
	after := tree(t, top)
	for _, p := range after {
		if !strings.HasPrefix(p, dir) && !contains(before, p) {
			t.Errorf("written outside the export folder: %s", p)
		}
	}
	for _, p := range before {
		if !contains(after, p) {
			t.Errorf("changed outside the export folder: %s", p)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestExportStaysInItsFolder: Export itself refuses a transcript whose SID
// is not one (each of the holdout), a symbolic link where its folder or
// operator-results go, and an existing folder group or others may enter,
// whose mode it leaves as it was; it writes into an existing folder of its
// own and never chmods the export folder it was given.
func TestExportStaysInItsFolder(t *testing.T) {
	ctx := context.Background()
	const sid = "GT0123456789abcdef0123456789abcdef"
	result := func(sid string, ops ...string) *Result {
		r := &Result{Transcript: record.Transcript{SID: sid, Status: "completed"}, Sentences: []byte(`{"sentences":[]}`), opFetch: true}
		for _, o := range ops {
			r.opDocs = append(r.opDocs, []byte(o))
		}
		return r
	}
	top := t.TempDir()
	outside := filepath.Join(top, "outside")
	dir := filepath.Join(top, "export")
	for _, d := range []string{outside, dir} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	check := func(name string, r *Result, say string) {
		t.Helper()
		before := tree(t, top)
		_, err := Export(ctx, dir, r)
		if err == nil || !strings.Contains(err.Error(), say) {
			t.Errorf("%s: err %v, want one saying %q", name, err, say)
		}
		if err != nil && err.Error() != record.SafeText(err.Error()) {
			t.Errorf("%s: the error carries control characters: %q", name, err)
		}
		if after := tree(t, top); strings.Join(after, "\n") != strings.Join(before, "\n") {
			t.Errorf("%s: the tree changed:\n%s\nwas\n%s", name, strings.Join(after, "\n"), strings.Join(before, "\n"))
		}
	}
	for _, bad := range twiliosim.HostileNames {
		check("SID "+bad, result(bad), "not GT followed by 32 hex digits")
	}
	// A symbolic link where the transcript's folder goes.
	link := filepath.Join(dir, sid)
	if err := os.Symlink(outside, link); err != nil {
		t.Fatal(err)
	}
	check("folder is a symlink", result(sid), "not a folder")
	os.Remove(link)
	// A folder group and others may enter: refused, left 0755.
	if err := os.Mkdir(link, 0o755); err != nil {
		t.Fatal(err)
	}
	check("folder 0755", result(sid), "mode 0755")
	if fi, _ := os.Stat(link); fi.Mode().Perm() != 0o755 {
		t.Errorf("the folder it did not create was chmodded to %o", fi.Mode().Perm())
	}
	// Its own folder (0700) is written into; operator-results as a link
	// out of it is refused, and nothing lands outside.
	if err := os.Chmod(link, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(link, "operator-results")); err != nil {
		t.Fatal(err)
	}
	if _, err := Export(ctx, dir, result(sid, `{"a":1}`)); err == nil || !strings.Contains(err.Error(), "not a folder") {
		t.Errorf("operator-results as a link: %v", err)
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Errorf("written outside through a link: %v", ents)
	}
	os.Remove(filepath.Join(link, "operator-results"))
	paths, err := Export(ctx, dir, result(sid, `{"a":1}`))
	if err != nil || len(paths) != 4 {
		t.Fatalf("export: %v %v", paths, err)
	}
	for _, p := range paths {
		if !strings.HasPrefix(p, link+string(filepath.Separator)) {
			t.Errorf("%s is not below %s", p, link)
		}
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v", p, err, fi)
		}
	}
	if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o755 {
		t.Errorf("the export folder given was chmodded to %o", fi.Mode().Perm())
	}
	// A missing export folder is created private.
	fresh := filepath.Join(top, "new", "req")
	if _, err := Export(ctx, fresh, result(sid)); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{fresh, filepath.Join(fresh, sid)} {
		if fi, _ := os.Stat(d); fi.Mode().Perm() != 0o700 {
			t.Errorf("%s: mode %o, want 0700", d, fi.Mode().Perm())
		}
	}
}
