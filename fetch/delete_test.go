package fetch

import (
	"context"
	"errors"
	"github.com/intelligencefs/intelligencefs/fetch/record"
	"testing"

	"github.com/intelligencefs/intelligencefs/fetch/twiliosim"
)

// TestSimDeleteTranscript: DELETE on the Transcript resource, through
// twilio-go, removes the transcript from listings, lookups and the object
// store; a second delete is ErrNotFound; a 5xx is retried (DELETE is
// idempotent); rejected credentials delete nothing.
func TestSimDeleteTranscript(t *testing.T) {
	ctx := context.Background()
	s, _ := newSim(t, twiliosim.Options{Corpus: twiliosim.CorpusOptions{TranscriptsPerService: 4}})
	c, _ := simClient(t, s, nil)
	tr := pick(t, s, "call-centre-encrypted", true)
	loc, err := c.sentencesLocation(ctx, tr.SID)
	if err != nil {
		t.Fatal(err)
	}

	s.SetFaults(twiliosim.Faults{WrongCredentials: true})
	if err := c.DeleteTranscript(ctx, tr.SID); !errors.Is(err, record.ErrAuth) {
		t.Fatalf("wrong credentials: %v", err)
	}
	s.SetFaults(twiliosim.Faults{ServerError: twiliosim.Rule{Times: 2, Target: twiliosim.TargetAPI}})
	s.ResetCounts()
	if err := c.DeleteTranscript(ctx, tr.SID); err != nil {
		t.Fatalf("delete: %v", err)
	}
	s.SetFaults(twiliosim.Faults{})
	// The two 503s hit the GET that proves the account owns it.
	if n, m := s.Count(twiliosim.EndpointFetchTranscript), s.Count(twiliosim.EndpointDeleteTranscript); n != 3 || m != 1 {
		t.Errorf("%d GET and %d DELETE requests, want 3 (two 503s retried) and 1", n, m)
	}
	if _, err := c.FetchTranscript(ctx, tr.SID); !errors.Is(err, record.ErrNotFound) {
		t.Errorf("lookup after delete: %v", err)
	}
	if _, err := c.download(ctx, "download sentences", tr.SID, loc, true); !errors.Is(err, record.ErrNotFound) {
		t.Errorf("object after delete: %v", err)
	}
	err = c.ListTranscripts(ctx, record.TranscriptQuery{}, func(page []record.Transcript) error {
		for _, x := range page {
			if x.SID == tr.SID {
				t.Errorf("listed after delete")
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteTranscript(ctx, tr.SID); !errors.Is(err, record.ErrNotFound) {
		t.Errorf("second delete: %v, want ErrNotFound", err)
	}
	if err := c.DeleteTranscript(ctx, "GT/../Services"); !errors.Is(err, record.ErrNotFound) {
		t.Errorf("malformed SID: %v", err)
	}
}
