package fetch

import (
	"context"
	"github.com/intelligencefs/intelligencefs/fetch/record"
	"log/slog"
	"strings"
	"testing"

	"github.com/intelligencefs/intelligencefs/fetch/twiliosim"
)

// TestResourceCaps: a listed transcript padded with a field far larger
// than any real resource is skipped with one warning while the others are
// listed (it was kept: 400 MiB in the listing); looking it up is an error;
// a transcript listing 1,500 operator-result locations is refused.
func TestResourceCaps(t *testing.T) {
	s, _ := newSim(t, twiliosim.Options{Corpus: twiliosim.CorpusOptions{TranscriptsPerService: 8}})
	svc := s.ServiceSID("call-centre-encrypted")
	all := s.Transcripts(svc)
	fat := all[2]
	logs := &syncBuffer{}
	c, _ := simClient(t, s, func(cfg *Config) {
		cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	})
	s.SetFaults(twiliosim.Faults{OversizedTranscript: twiliosim.Rule{Fraction: 1, TranscriptSID: fat.SID}, OversizeBytes: 1 << 20})
	var listed []string
	err := c.ListTranscripts(context.Background(), record.TranscriptQuery{ServiceSID: svc, PageSize: 3}, func(p []record.Transcript) error {
		for _, tr := range p {
			listed = append(listed, tr.SID)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(listed) != len(all)-1 || strings.Contains(strings.Join(listed, ","), fat.SID) {
		t.Errorf("listed %d of %d, the padded one included: %v", len(listed), len(all), strings.Contains(strings.Join(listed, ","), fat.SID))
	}
	if n := strings.Count(logs.String(), "level=WARN"); n != 1 || !strings.Contains(logs.String(), "larger than any real one") {
		t.Errorf("want one warning, got:\n%s", logs.String())
	}
	if _, err := c.FetchTranscript(context.Background(), fat.SID); err == nil || !strings.Contains(err.Error(), "more than the 65536") {
		t.Errorf("fetch of the padded transcript: %v", err)
	}
	s.SetFaults(twiliosim.Faults{ManyLocations: 1500})
	defer s.SetFaults(twiliosim.Faults{})
	tr := pick(t, s, "call-centre-encrypted", true)
	if _, err := c.operatorResultLocations(context.Background(), tr.SID); err == nil || !strings.Contains(err.Error(), "1500 operator result locations") {
		t.Errorf("1,500 locations: %v", err)
	}
}
