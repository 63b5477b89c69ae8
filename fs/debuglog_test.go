package fs

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"

	"github.com/intelligencefs/intelligencefs/fetch"
	"github.com/intelligencefs/intelligencefs/fetch/twiliosim"
)

func TestScrubDebugLine(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`tx 12:     OK,  4096b data "{\"senten"...`, `tx 12:     OK,  4096b data (content not logged)`},
		{`tx 12:     OK,  5b data "hello"`, `tx 12:     OK,  5b data (content not logged)`},
		{`tx 12:     OK,  4096b data (2 slices)`, `tx 12:     OK,  4096b data (2 slices)`},
		{`tx 12:     OK,  4096b data`, `tx 12:     OK,  4096b data`},
		{`rx 7: WRITE n3 {Fh 1 off 0 sz 12} "secret\"x"... 12b p42`, `rx 7: WRITE n3 {Fh 1 off 0 sz 12} (payload not logged) 12b p42`},
		{`rx 8: LOOKUP n1 ["sentences.json"] 15b p42`, `rx 8: LOOKUP n1 ["sentences.json"] 15b p42`},
		{`rx 9: CREATE n1 {0100644} "a.txt"  p42`, `rx 9: CREATE n1 {0100644} "a.txt"  p42`},
		{`rx 10: SETXATTR n2 "user.x" "value"... 9b p1`, `rx 10: SETXATTR n2 "user.x" (payload not logged) 9b p1`},
	} {
		if got := scrubDebugLine(tc.in); got != tc.want {
			t.Errorf("scrub(%q)\n got %q\nwant %q", tc.in, got, tc.want)
		}
	}
}

// TestDebugFUSEScrubbed mounts with go-fuse's debug output on and splicing
// off, the setting in which go-fuse quotes the first bytes of every read
// reply, reads content and checks that the log holds the read replies
// (so the test sees what it must) but none of their bytes.
func TestDebugFUSEScrubbed(t *testing.T) {
	marker := "MARKER-debug-8c1e"
	e := newEnv(t, twiliosim.Options{Corpus: twiliosim.CorpusOptions{Seed: 31, TranscriptsPerService: 3, Markers: []string{marker}}}, fetch.Config{}, nil)
	logs := &logBuffer{}
	opts := e.opts
	// At info: DebugFUSE logs requests by itself, without debug level.
	opts.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	opts.DebugFUSE = true
	root, err := NewRoot(opts)
	if err != nil {
		t.Fatal(err)
	}
	fo := root.fuseOptions()
	fo.DisableSplice = true
	mnt := t.TempDir()
	srv, err := gofs.Mount(mnt, root, fo)
	if err != nil {
		root.Close()
		t.Fatalf("mount: %v", err)
	}
	t.Cleanup(func() {
		for i := 0; i < 50 && srv.Unmount() != nil; i++ {
			time.Sleep(100 * time.Millisecond)
		}
		srv.Wait()
		root.Close()
	})
	var read int
	for _, s := range e.sim.Services() {
		for _, ti := range e.sim.Transcripts(s.SID) {
			if ti.Status != "completed" {
				continue
			}
			want := e.expected(t, ti)
			for _, f := range []string{"sentences.json", "sentences.txt", "operator-results/1.json"} {
				got, err := os.ReadFile(filepath.Join(mnt, "services", ti.ServiceSID, "transcripts", ti.SID, f))
				if err != nil || !bytes.Equal(got, want[f]) {
					t.Fatalf("%s %s: %v", ti.SID, f, err)
				}
				read++
			}
		}
	}
	log := logs.String()
	if !strings.Contains(log, "b data (content not logged)") {
		t.Fatalf("no read reply with a scrubbed preview in the debug log: the test proves nothing (%d bytes of log)", len(log))
	}
	for _, leak := range []string{marker, `{\"senten`, `{\\\"senten`, "[00:0"} {
		if strings.Contains(log, leak) {
			i := strings.Index(log, leak)
			t.Errorf("debug log holds content %q: …%s…", leak, log[max(0, i-120):min(len(log), i+60)])
		}
	}
	t.Logf("%d files read, %d bytes of debug log", read, len(log))
}
