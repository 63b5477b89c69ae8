package transcripts

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/cmdtest"
	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/cmdutil"
	"github.com/intelligencefs/intelligencefs/crypto"
	"github.com/intelligencefs/intelligencefs/fetch/sealedcache"
	"github.com/intelligencefs/intelligencefs/fetch/twiliosim"
)

// TestDelete: one receipt per SID (duplicates once), naming the account
// and the API; a dry run deletes nothing; a deleted transcript is gone
// from the account; one already gone is not-found with exit 1 (nothing
// proven); a malformed SID stops everything before any request. (The
// confirmation on a terminal is the end-to-end tests' job.)
func TestDelete(t *testing.T) {
	acct := cmdtest.NewAccount(t, twiliosim.CorpusOptions{TranscriptsPerService: 2})
	ctx := context.Background()
	trs := acct.Completed(true)
	a, b := trs[0].SID, trs[1].SID
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
		{"already deleted", []string{a}, true, false, 1, []string{a + "\tnot-found"}, nil, nil},
		{"dry run of a deleted one", []string{a}, false, true, 1, []string{a + "\tnot-found"}, nil, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := cmdtest.New(acct.Env)
			err := runDelete(ctx, r.Factory, &deleteOptions{conn: r.Conn(false), args: tt.args, yes: tt.yes, dryRun: tt.dry})
			if cmdutil.ExitCode(err) != tt.code && !(err == nil && tt.code == 0) {
				t.Fatalf("err = %v (exit %d), want exit %d", err, cmdutil.ExitCode(err), tt.code)
			}
			checkReceipts(t, acct, r.Stdout.String(), tt.receipts)
			for _, sid := range tt.gone {
				if acct.Sim.TranscriptJSON(sid) != nil {
					t.Errorf("%s still exists", sid)
				}
			}
			for _, sid := range tt.kept {
				if acct.Sim.TranscriptJSON(sid) == nil {
					t.Errorf("%s was deleted", sid)
				}
			}
		})
	}
}

// checkReceipts checks the receipt lines: their SID and result prefixes,
// and that each names the account and the API origin.
func checkReceipts(t *testing.T, acct *cmdtest.Account, out string, want []string) {
	t.Helper()
	if len(want) == 0 {
		if out != "" {
			t.Errorf("receipts printed: %q", out)
		}
		return
	}
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) != len(want) {
		t.Fatalf("receipts %q, want %q", lines, want)
	}
	for i, w := range want {
		f := strings.Split(lines[i], "\t")
		if !strings.HasPrefix(lines[i], w+"\t") || len(f) < 5 || f[3] != acct.Sim.AccountSID || f[4] != acct.Sim.URL {
			t.Errorf("receipt %d = %q, want %q…, account %s, API %s", i, lines[i], w, acct.Sim.AccountSID, acct.Sim.URL)
		}
	}
}

// TestDeleteProvesWhatItSays plays the attacker with the simulator: a
// transcript hidden behind 404s (another account's view, a wrong region,
// a proxy), one naming another account, and a DELETE answered 200 or with
// a redirect are never receipted deleted and exit 1; --dry-run changes
// nothing anywhere, sealed caches included, even on a 404; a real deletion
// removes the transcript's entries from every --sealed-cache given and the
// default cache, leaves other transcripts' entries, and says on stderr
// what it could not reach. Before, a 404 was already-deleted with exit 0,
// --dry-run removed sealed files on a 404, a 200 or 302 was deleted, and
// receipts named neither account nor API.
func TestDeleteProvesWhatItSays(t *testing.T) {
	acct := cmdtest.NewAccount(t, twiliosim.CorpusOptions{TranscriptsPerService: 6})
	ctx := context.Background()
	trs := acct.Completed(true)
	named, dflt := filepath.Join(t.TempDir(), "named"), filepath.Join(t.TempDir(), "default")
	fill := func(dir string, sids ...string) {
		st, err := sealedcache.Open(sealedcache.Options{Dir: dir, SealKey: []byte("a test seal key of 32 bytes ....")})
		if err != nil {
			t.Fatal(err)
		}
		env, err := crypto.Seal(acct.Sim.PublicKey(trs[0].EncryptionCredentialSID), []byte("sealed"))
		if err != nil {
			t.Fatal(err)
		}
		for _, sid := range sids {
			st.Put(sid, sealedcache.Sentences, sealedcache.Version{Credential: trs[0].EncryptionCredentialSID, Updated: time.Unix(1, 0)}, env, "")
		}
		st.Close()
	}
	entries := func(dir, sid string) int {
		m, _ := filepath.Glob(filepath.Join(dir, "v1", "*", sid+".*"))
		return len(m)
	}
	all := []string{trs[0].SID, trs[1].SID, trs[2].SID, trs[3].SID, trs[4].SID}
	fill(named, all...)
	fill(dflt, all...)
	run := func(dry bool, f twiliosim.Faults, sids ...string) (*cmdtest.Run, error) {
		acct.Sim.SetFaults(f)
		defer acct.Sim.SetFaults(twiliosim.Faults{})
		r := cmdtest.New(acct.Env)
		err := runDelete(ctx, r.Factory, &deleteOptions{conn: r.Conn(false), args: sids, yes: true, dryRun: dry,
			sealedDirs: []string{named}, defaultSealed: dflt})
		return r, err
	}
	rule := func(sid string) twiliosim.Rule { return twiliosim.Rule{Fraction: 1, TranscriptSID: sid} }
	for _, tc := range []struct {
		name   string
		dry    bool
		faults twiliosim.Faults
		sid    string
		result string
	}{
		{"hidden behind 404", false, twiliosim.Faults{HideTranscripts: rule(trs[0].SID)}, trs[0].SID, "not-found"},
		{"dry run, hidden behind 404", true, twiliosim.Faults{HideTranscripts: rule(trs[0].SID)}, trs[0].SID, "not-found"},
		{"another account's", false, twiliosim.Faults{ForeignAccount: rule(trs[1].SID)}, trs[1].SID, "not-found"},
		{"DELETE answered 200", false, twiliosim.Faults{DeleteStatus: 200}, trs[2].SID, "failed"},
		{"DELETE answered 302", false, twiliosim.Faults{DeleteStatus: 302}, trs[2].SID, "failed"},
		{"dry run", true, twiliosim.Faults{}, trs[2].SID, "would-delete"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := run(tc.dry, tc.faults, tc.sid)
			if want := 1; tc.result == "would-delete" {
				want = 0
				if err != nil {
					t.Fatalf("exit %d: %v", cmdutil.ExitCode(err), err)
				}
			} else if cmdutil.ExitCode(err) != want {
				t.Fatalf("exit %d (%v), want %d", cmdutil.ExitCode(err), err, want)
			}
			checkReceipts(t, acct, r.Stdout.String(), []string{tc.sid + "\t" + tc.result})
			if acct.Sim.TranscriptJSON(tc.sid) == nil {
				t.Error("the transcript was deleted")
			}
			if entries(named, tc.sid) == 0 || entries(dflt, tc.sid) == 0 {
				t.Error("sealed entries removed without a deletion")
			}
			if strings.Contains(r.Stderr.String(), "deleted through the API") {
				t.Errorf("stderr claims a deletion: %q", r.Stderr.String())
			}
		})
	}
	r, err := run(false, twiliosim.Faults{}, trs[3].SID, trs[4].SID)
	if err != nil {
		t.Fatal(err)
	}
	checkReceipts(t, acct, r.Stdout.String(), []string{trs[3].SID + "\tdeleted", trs[4].SID + "\tdeleted"})
	for _, sid := range []string{trs[3].SID, trs[4].SID} {
		if entries(named, sid) != 0 || entries(dflt, sid) != 0 {
			t.Errorf("%s: sealed entries left after its deletion", sid)
		}
	}
	if entries(named, trs[0].SID) == 0 {
		t.Error("another transcript's entries went too")
	}
	msg := r.Stderr.String()
	for _, s := range []string{"2 transcript(s) deleted", named, dflt, "--export", "running mounts"} {
		if !strings.Contains(msg, s) {
			t.Errorf("stderr lacks %q: %q", s, msg)
		}
	}
}
