package cat

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/cmdtest"
	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/cmdutil"
	"github.com/intelligencefs/intelligencefs/fetch/twiliosim"
)

// TestRun: run prints an encrypted and a plain transcript's sentences and
// operator results exactly as the simulator sealed or lists them, and
// refuses a malformed SID (usage, exit 2) and a transcript still in
// progress (exit 1) with one line naming it.
func TestRun(t *testing.T) {
	acct := cmdtest.NewAccount(t, twiliosim.CorpusOptions{Seed: 7, TranscriptsPerService: 4})
	sim := acct.Sim
	enc, plain := acct.Completed(true)[0], acct.Completed(false)[0]
	sentences := func(tr twiliosim.TranscriptInfo) string {
		if tr.EncryptionCredentialSID != "" {
			return string(sim.SentencesPlaintext(tr.SID, tr.Redaction))
		}
		return `{"sentences":[` + string(bytes.Join(sim.SentenceResources(tr.SID, tr.Redaction, true), []byte(","))) + `]}`
	}
	operatorResults := func(tr twiliosim.TranscriptInfo) string {
		docs := sim.OperatorResultPlaintexts(tr.SID, tr.Redaction)
		if tr.EncryptionCredentialSID == "" {
			docs = sim.OperatorResultResources(tr.SID, tr.Redaction)
		}
		var b bytes.Buffer
		for _, d := range docs {
			json.Compact(&b, d)
			b.WriteByte('\n')
		}
		return b.String()
	}
	inProgress := acct.Completed(true)[1]
	if err := sim.SetTranscriptStatus(inProgress.SID, twiliosim.StatusInProgress); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name            string
		sid             string
		operatorResults bool
		want            string // stdout, or the error's text when code != 0
		code            int
	}{
		{"encrypted sentences", enc.SID, false, sentences(enc), 0},
		{"plain sentences", plain.SID, false, sentences(plain), 0},
		{"encrypted operator results", enc.SID, true, operatorResults(enc), 0},
		{"plain operator results", plain.SID, true, operatorResults(plain), 0},
		{"not a SID", "GT123", false, "not a transcript SID", 2},
		{"in progress", inProgress.SID, false, inProgress.SID, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := cmdtest.New(acct.Env)
			err := run(context.Background(), r.Factory, &Options{Conn: r.Conn(true, acct.KeyPath), SID: tt.sid, OperatorResults: tt.operatorResults})
			if tt.code == 0 {
				if err != nil {
					t.Fatal(err)
				}
				if r.Stdout.String() != tt.want {
					t.Errorf("stdout: %d bytes, want the %d expected", r.Stdout.Len(), len(tt.want))
				}
				return
			}
			if err == nil || cmdutil.ExitCode(err) != tt.code || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v (exit %d), want %q and exit %d", err, cmdutil.ExitCode(err), tt.want, tt.code)
			}
			if r.Stdout.Len() != 0 {
				t.Errorf("stdout not empty on failure: %q", r.Stdout.String())
			}
		})
	}
}
