package transcripts

import (
	"context"
	"strings"
	"testing"

	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/cmdtest"
	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/cmdutil"
	"github.com/intelligencefs/intelligencefs/fetch/twiliosim"
)

// TestDelete: one receipt per SID (duplicates once), a dry run deletes
// nothing, a deleted transcript is gone from the account, one already gone
// counts as done, and a malformed SID stops everything before any request.
// (The confirmation on a terminal is the end-to-end tests' job.)
func TestDelete(t *testing.T) {
	acct := cmdtest.NewAccount(t, twiliosim.CorpusOptions{TranscriptsPerService: 2})
	ctx := context.Background()
	trs := acct.Completed(true)
	a, b := trs[0].SID, trs[1].SID
	exists := func(sid string) bool {
		for _, tr := range acct.Completed(true) {
			if tr.SID == sid {
				return true
			}
		}
		return false
	}
	for _, tt := range []struct {
		name       string
		args       []string
		yes, dry   bool
		code       int
		receipts   []string // "SID\tresult" prefixes, in order
		gone, kept []string
	}{
		{"malformed", []string{a, "GT1"}, true, false, 2, nil, nil, []string{a}},
		{"dry run", []string{a, a}, false, true, 0, []string{a + "\twould-delete"}, nil, []string{a}},
		{"delete", []string{a, b}, true, false, 0, []string{a + "\tdeleted", b + "\tdeleted"}, []string{a, b}, nil},
		{"already deleted", []string{a}, true, false, 0, []string{a + "\talready-deleted"}, nil, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := cmdtest.New(acct.Env)
			err := runDelete(ctx, r.Factory, &deleteOptions{conn: r.Conn(false), args: tt.args, yes: tt.yes, dryRun: tt.dry})
			if cmdutil.ExitCode(err) != tt.code && !(err == nil && tt.code == 0) {
				t.Fatalf("err = %v (exit %d), want exit %d", err, cmdutil.ExitCode(err), tt.code)
			}
			lines := strings.Split(strings.TrimRight(r.Stdout.String(), "\n"), "\n")
			if len(tt.receipts) == 0 {
				if r.Stdout.Len() != 0 {
					t.Errorf("receipts printed: %q", r.Stdout.String())
				}
			} else if len(lines) != len(tt.receipts) {
				t.Fatalf("receipts %q, want %q", lines, tt.receipts)
			}
			for i, want := range tt.receipts {
				if !strings.HasPrefix(lines[i], want+"\t") {
					t.Errorf("receipt %d = %q, want %q…", i, lines[i], want)
				}
			}
			for _, sid := range tt.gone {
				if exists(sid) {
					t.Errorf("%s still exists", sid)
				}
			}
			for _, sid := range tt.kept {
				if !exists(sid) {
					t.Errorf("%s was deleted", sid)
				}
			}
		})
	}
}
