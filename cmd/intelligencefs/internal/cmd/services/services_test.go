package services

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/cmdtest"
	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/cmdutil"
	"github.com/intelligencefs/intelligencefs/fetch/record"
	"github.com/intelligencefs/intelligencefs/fetch/twiliosim"
)

// TestList: the table names every service once, the JSON is the API's
// Service resources, and data logging gets its warning on stderr.
func TestList(t *testing.T) {
	acct := cmdtest.NewAccount(t, twiliosim.CorpusOptions{TranscriptsPerService: 1})
	ctx := context.Background()
	r := cmdtest.New(acct.Env)
	if err := runList(ctx, r.Factory, &listOptions{conn: r.Conn(false)}); err != nil {
		t.Fatal(err)
	}
	for _, s := range acct.Sim.Services() {
		if n := strings.Count(r.Stdout.String(), s.SID); n != 1 {
			t.Errorf("table shows %s %d times:\n%s", s.SID, n, r.Stdout.String())
		}
		if got := strings.Contains(r.Stderr.String(), s.SID+"): data logging is on"); got != s.DataLogging {
			t.Errorf("%s: data logging %v, warning shown %v", s.SID, s.DataLogging, got)
		}
	}
	r = cmdtest.New(acct.Env)
	if err := runList(ctx, r.Factory, &listOptions{conn: r.Conn(false), asJSON: true}); err != nil {
		t.Fatal(err)
	}
	var docs []json.RawMessage
	if err := json.Unmarshal(r.Stdout.Bytes(), &docs); err != nil || len(docs) != len(acct.Sim.Services()) {
		t.Fatalf("--json: %d documents, %v", len(docs), err)
	}
}

// TestEncrypt: run sets the credential (and says so), does nothing when it
// is already set, and refuses a malformed credential or an unknown service
// with one line.
func TestEncrypt(t *testing.T) {
	acct := cmdtest.NewAccount(t, twiliosim.CorpusOptions{TranscriptsPerService: 1})
	ctx := context.Background()
	cr := acct.Sim.CredentialSIDs()[0]
	plain := acct.Sim.ServiceSID("call-centre-plain")
	for _, tt := range []struct {
		name, service, credential string
		code                      int
		want                      string // in stdout on success, in the error otherwise
	}{
		{"bad credential", plain, "CR123", 2, "CR followed by 32 hex digits"},
		{"no credential", plain, "", 2, "--credential is required"},
		{"unknown service", "no-such-service", cr, 1, "no Intelligence Service"},
		{"turn on", "call-centre-plain", cr, 0, "encryption after:  on, credential " + cr},
		{"already on", plain, cr, 0, "already on with " + cr},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := cmdtest.New(acct.Env)
			err := runEncrypt(ctx, r.Factory, &encryptOptions{conn: r.Conn(false), service: tt.service, credential: tt.credential})
			if tt.code != 0 {
				if err == nil || cmdutil.ExitCode(err) != tt.code || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("err = %v, want exit %d and %q", err, tt.code, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(r.Stdout.String(), tt.want) {
				t.Errorf("stdout lacks %q:\n%s", tt.want, r.Stdout.String())
			}
		})
	}
	for _, s := range acct.Sim.Services() {
		if s.SID == plain && s.EncryptionCredentialSID != cr {
			t.Errorf("the service's credential is %q after encrypt", s.EncryptionCredentialSID)
		}
	}
}

// TestListEscapesServerNames: a server whose service names are the
// holdout's escape sequences (a window title, a screen clear, a hyperlink,
// a line break, a bidi override) cannot reach the terminal with them:
// services list prints them escaped, one row per service. Before, the
// names were printed as they came.
func TestListEscapesServerNames(t *testing.T) {
	acct := cmdtest.NewAccount(t, twiliosim.CorpusOptions{TranscriptsPerService: 1})
	for _, name := range twiliosim.HostileNames {
		if name == "" {
			continue
		}
		acct.Sim.SetFaults(twiliosim.Faults{ForgedServiceNames: name})
		r := cmdtest.New(acct.Env)
		if err := runList(context.Background(), r.Factory, &listOptions{conn: r.Conn(false)}); err != nil {
			t.Fatalf("%q: %v", name, err)
		}
		out := r.Stdout.String()
		if body := strings.ReplaceAll(out, "\n", ""); body != record.SafeText(body) || !utf8.ValidString(out) {
			t.Errorf("%q reached the terminal raw: %q", name, out)
		}
		if lines := strings.Count(out, "\n"); lines != len(acct.Sim.Services())+1 {
			t.Errorf("%q: %d lines for %d services", name, lines, len(acct.Sim.Services()))
		}
	}
	acct.Sim.SetFaults(twiliosim.Faults{})
}
