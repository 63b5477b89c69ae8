package main

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/intelligencefs/intelligencefs/fetch/twiliosim"
)

// TestCatEncryptionFromService: cat and cat --operator-results decide which
// transcripts are encrypted as the mount does (record.PlanContent): the
// service's credential for a transcript that does not name its own, and
// plain-then-encrypted for one older than the service's last update; the
// bytes are the ones the simulator sealed, never an empty document.
func TestCatEncryptionFromService(t *testing.T) {
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
			sim, keyPath := catSim(t)
			env := simEnv(sim)
			sim.SetFaults(tc.faults)
			var picked []twiliosim.TranscriptInfo
			for _, svc := range sim.Services() {
				if svc.EncryptionCredentialSID == "" {
					continue
				}
				if tc.bumpService {
					if err := sim.SetServiceEncryption(svc.SID, svc.EncryptionCredentialSID, false); err != nil {
						t.Fatal(err)
					}
				}
				var enc, plain bool
				for _, tr := range sim.Transcripts(svc.SID) {
					e := tr.EncryptionCredentialSID != ""
					if tr.Status != twiliosim.StatusCompleted || (e && enc) || (!e && plain) || len(sim.OperatorResultPlaintexts(tr.SID, tr.Redaction)) == 0 {
						continue
					}
					enc, plain = enc || e, plain || !e
					picked = append(picked, tr)
				}
			}
			var sawEnc bool
			for _, tr := range picked {
				enc := tr.EncryptionCredentialSID != ""
				sawEnc = sawEnc || enc
				want := sim.SentencesPlaintext(tr.SID, tr.Redaction)
				docs := sim.OperatorResultPlaintexts(tr.SID, tr.Redaction)
				if !enc {
					want = []byte(`{"sentences":[` + string(bytes.Join(sim.SentenceResources(tr.SID, tr.Redaction, true), []byte(","))) + `]}`)
					docs = sim.OperatorResultResources(tr.SID, tr.Redaction)
				}
				if res := mustRun(t, env, "cat", "--private-key", keyPath, tr.SID); res.stdout != string(want) {
					t.Errorf("cat %s (encrypted %v): %d bytes differ from the %d sealed", tr.SID, enc, len(res.stdout), len(want))
				}
				var wantOps bytes.Buffer
				for _, doc := range docs {
					if err := json.Compact(&wantOps, doc); err != nil {
						t.Fatal(err)
					}
					wantOps.WriteByte('\n')
				}
				if res := mustRun(t, env, "cat", "--operator-results", "--private-key", keyPath, tr.SID); res.stdout != wantOps.String() {
					t.Errorf("cat --operator-results %s (encrypted %v): %d bytes differ from the %d sealed", tr.SID, enc, len(res.stdout), wantOps.Len())
				}
			}
			if !sawEnc {
				t.Fatal("the corpus has no completed encrypted transcript with operator results")
			}
		})
	}
}
