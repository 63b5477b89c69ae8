package fs

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/intelligencefs/intelligencefs/fetch"
	"github.com/intelligencefs/intelligencefs/fetch/record"
	"github.com/intelligencefs/intelligencefs/fetch/twiliosim"
	"github.com/intelligencefs/intelligencefs/fs/catalog"
)

// panickySource is a Source with a bug: FetchTranscript panics for one SID.
type panickySource struct {
	catalog.Source
	sid string
}

func (p panickySource) FetchTranscript(ctx context.Context, sid string) (record.Transcript, error) {
	if sid == p.sid {
		panic("injected bug in FetchTranscript")
	}
	return p.Source.FetchTranscript(ctx, sid)
}

// TestPanicInHandlerIsEIO: a bug that panics inside one FUSE request costs
// that request (EIO and one error line with the stack), not the mount.
func TestPanicInHandlerIsEIO(t *testing.T) {
	bad := "GT" + strings.Repeat("0", 32)
	e := newEnv(t, twiliosim.Options{Corpus: twiliosim.CorpusOptions{TranscriptsPerService: 3}}, fetch.Config{},
		func(o *Options) { o.Source = panickySource{Source: o.Source, sid: bad} })

	_, err := os.Stat(filepath.Join(e.mnt, "transcripts", bad))
	if !errors.Is(err, syscall.EIO) {
		t.Fatalf("stat of the panicking lookup: %v, want EIO", err)
	}
	logs := e.logs.String()
	if n := strings.Count(logs, "panic in FUSE handler"); n != 1 {
		t.Errorf("%d panic log lines, want 1:\n%s", n, logs)
	}
	if !strings.Contains(logs, "injected bug in FetchTranscript") || !strings.Contains(logs, "goroutine") {
		t.Errorf("the panic line lacks the value or the stack:\n%s", logs)
	}

	// The mount still serves: the same kind of lookup for a real transcript.
	ti := e.sim.Transcripts("")[0]
	got, err := os.ReadFile(filepath.Join(e.mnt, "transcripts", ti.SID, "transcript.json"))
	if err != nil {
		t.Fatalf("read after the panic: %v", err)
	}
	if want := e.sim.TranscriptJSON(ti.SID); !jsonEqual(got, want) {
		t.Errorf("transcript.json after the panic is not the API's resource:\n%s\n%s", got, want)
	}
}
