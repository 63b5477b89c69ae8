package search

import (
	"bytes"
	"context"
	"sync"
	"testing"

	"github.com/intelligencefs/intelligencefs/fetch/twiliosim"
)

// TestEncryptionFromService: the engine (and so the search command and the
// web viewer) decides which transcripts are encrypted as the mount does
// (record.PlanContent): every completed transcript is searched in the bytes
// the simulator sealed, even when the transcripts do not name their
// credential, and each service is fetched once.
func TestEncryptionFromService(t *testing.T) {
	cases := []struct {
		name        string
		faults      twiliosim.Faults
		bumpService bool // the service is updated now: every transcript predates it
	}{
		{name: "created-after-credential", faults: twiliosim.Faults{HideTranscriptCredential: true}},
		{name: "older-plain-empty", faults: twiliosim.Faults{HideTranscriptCredential: true}, bumpService: true},
		{name: "older-plain-error", faults: twiliosim.Faults{HideTranscriptCredential: true, PlainErrorOnEncrypted: true}, bumpService: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sim, c, ring := newTestSource(t, twiliosim.CorpusOptions{Seed: 11, TranscriptsPerService: 4, Markers: []string{marker}})
			sim.SetFaults(tc.faults)
			truth := map[string]twiliosim.TranscriptInfo{}
			completed, encrypted := 0, 0
			for _, svc := range sim.Services() {
				if tc.bumpService && svc.EncryptionCredentialSID != "" {
					if err := sim.SetServiceEncryption(svc.SID, svc.EncryptionCredentialSID, false); err != nil {
						t.Fatal(err)
					}
				}
				for _, tr := range sim.Transcripts(svc.SID) {
					truth[tr.SID] = tr
					if tr.Status == twiliosim.StatusCompleted {
						completed++
						if tr.EncryptionCredentialSID != "" {
							encrypted++
						}
					}
				}
			}
			if encrypted == 0 {
				t.Fatal("the corpus has no completed encrypted transcript")
			}
			sim.ResetCounts()
			var mu sync.Mutex
			matched := 0
			sum, err := New(Options{Source: c, Decrypter: ring, Workers: 4}).Run(context.Background(),
				Query{Pattern: marker, Fixed: true, OperatorResults: true}, Handler{Match: func(r *Result) error {
					tr := truth[r.Transcript.SID]
					want := sim.SentencesPlaintext(tr.SID, tr.Redaction)
					wantOps := sim.OperatorResultPlaintexts(tr.SID, tr.Redaction)
					if tr.EncryptionCredentialSID == "" {
						want = []byte(`{"sentences":[` + string(bytes.Join(sim.SentenceResources(tr.SID, tr.Redaction, true), []byte(","))) + `]}`)
						wantOps = sim.OperatorResultResources(tr.SID, tr.Redaction)
					}
					if !bytes.Equal(r.Sentences, want) {
						t.Errorf("%s (encrypted %v): sentences %d bytes differ from the %d sealed", tr.SID, tr.EncryptionCredentialSID != "", len(r.Sentences), len(want))
					}
					ops, err := r.OperatorResults(context.Background())
					if err != nil || len(ops) != len(wantOps) {
						t.Errorf("%s: operator results: %d, %v; want %d", tr.SID, len(ops), err, len(wantOps))
					}
					for i := range min(len(ops), len(wantOps)) {
						if !bytes.Equal(ops[i], wantOps[i]) {
							t.Errorf("%s: operator result %d differs from the one sealed", tr.SID, i+1)
						}
					}
					mu.Lock()
					matched++
					mu.Unlock()
					return nil
				}})
			if err != nil || sum.Failed != 0 {
				t.Fatalf("run: %v %+v", err, sum)
			}
			if matched != completed {
				t.Errorf("matched %d of %d completed transcripts (%+v)", matched, completed, sum)
			}
			if n, svcs := sim.Count(twiliosim.EndpointFetchService), int64(len(sim.Services())); n > svcs {
				t.Errorf("%d service fetches for %d services: want each once", n, svcs)
			}
		})
	}
}
