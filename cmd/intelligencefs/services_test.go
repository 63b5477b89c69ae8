package main

import (
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/intelligencefs/intelligencefs/fetch/twiliosim"
)

// TestServicesEncrypt covers services encrypt beyond the happy path of
// TestSetupPath: validation before any request, an unknown service, a no-op,
// and a key rotation.
func TestServicesEncrypt(t *testing.T) {
	keyA, keyB := newKey(t), newKey(t)
	sim := newSim(t, twiliosim.Options{
		Keys:   []twiliosim.Credential{{PublicKey: &keyA.PublicKey}, {PublicKey: &keyB.PublicKey}},
		Corpus: twiliosim.CorpusOptions{TranscriptsPerService: -1, NoMixedService: true},
	})
	crs := sim.CredentialSIDs()
	crA, crB := crs[0], crs[1]
	encSID := sim.ServiceSID("call-centre-encrypted")
	cases := []struct {
		name     string
		args     []string
		code     int
		requests bool   // any request expected
		stdout   string // substring of stdout
		stderr   string // substring of stderr
		after    string // the service's credential afterwards
	}{
		{name: "malformed credential", args: []string{encSID, "--credential", "CR123"}, code: 2, stderr: "CR followed by 32 hex digits", after: crA},
		{name: "credential not hex", args: []string{encSID, "--credential", "CR" + strings.Repeat("z", 32)}, code: 2, stderr: "CR followed by 32 hex digits", after: crA},
		{name: "no credential", args: []string{encSID}, code: 2, stderr: "--credential is required", after: crA},
		{name: "unknown service", args: []string{"no-such-service", "--credential", crB}, code: 1, requests: true, stderr: "no Intelligence Service", after: crA},
		{name: "already set", args: []string{"call-centre-encrypted", "--credential", crA}, requests: true, stdout: "already on with " + crA, after: crA},
		{name: "rotation", args: []string{encSID, "--credential", crB}, requests: true, stdout: "still need the private key of " + crA, after: crB},
		{name: "data logging warns", args: []string{"call-centre-plain", "--credential", crB}, requests: true, stderr: "⚠ service call-centre-plain", after: crB},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sim.ResetCounts()
			res := runCLI(t, simEnv(sim), append([]string{"services", "encrypt"}, tc.args...)...)
			if res.code != tc.code || !strings.Contains(res.stdout, tc.stdout) || !strings.Contains(res.stderr, tc.stderr) {
				t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s\nwant exit %d, stdout with %q, stderr with %q", res.code, res.stdout, res.stderr, tc.code, tc.stdout, tc.stderr)
			}
			n := int64(0)
			for _, c := range sim.Counts() {
				n += c
			}
			if (n > 0) != tc.requests {
				t.Errorf("%d request(s) sent; want any: %v", n, tc.requests)
			}
			if !hasServiceCredential(sim.Services(), encSID, tc.after) {
				t.Errorf("the encrypted service's credential is not %s afterwards", tc.after)
			}
		})
	}
}

// TestServicesList checks the columns and the data logging warning.
func TestServicesList(t *testing.T) {
	key := newKey(t)
	sim := newSim(t, twiliosim.Options{Keys: []twiliosim.Credential{{PublicKey: &key.PublicKey}}, Corpus: twiliosim.CorpusOptions{TranscriptsPerService: -1}})
	res := mustRun(t, simEnv(sim), "services", "list")
	cr := sim.CredentialSIDs()[0]
	rows := strings.Split(strings.TrimSpace(res.stdout), "\n")
	want := map[string][]string{
		"call-centre-encrypted": {"en-US", "on", cr, "on", "off"},
		"call-centre-plain":     {"en-US", "off", "off", "ON", "⚠"},
		"call-centre-mixed":     {"en-GB", "on", cr, "on", "off"},
	}
	if len(rows) != 1+len(want) {
		t.Fatalf("services list:\n%s", res.stdout)
	}
	for _, row := range rows[1:] {
		f := strings.Fields(row)
		w, ok := want[f[1]]
		if !ok || f[0] != sim.ServiceSID(f[1]) || strings.Join(f[2:], " ") != strings.Join(w, " ") {
			t.Errorf("row %q; want %s %s %v", row, sim.ServiceSID(f[1]), f[1], w)
		}
	}
	warns := lines(res.stderr, "⚠ ")
	if len(warns) != 1 || !strings.Contains(warns[0], "call-centre-plain") || !strings.Contains(warns[0], "not encrypted with your key") {
		t.Errorf("want one data logging warning for call-centre-plain on stderr, got:\n%s", res.stderr)
	}
}

// TestServicesEncryptConflict: when the service changes between the
// command's fetch and its update (another admin, the Console), the
// If-Match update is refused and the command says so, changing nothing.
func TestServicesEncryptConflict(t *testing.T) {
	keyA, keyB := newKey(t), newKey(t)
	var simRef atomic.Pointer[twiliosim.Server] // the hook runs on the simulator's goroutines
	var once sync.Once
	sim := newSim(t, twiliosim.Options{
		Keys:   []twiliosim.Credential{{PublicKey: &keyA.PublicKey}, {PublicKey: &keyB.PublicKey}},
		Corpus: twiliosim.CorpusOptions{TranscriptsPerService: -1, NoMixedService: true},
		OnRequest: func(ri twiliosim.RequestInfo) {
			if ri.Endpoint != twiliosim.EndpointUpdateService {
				return
			}
			// Someone else updates the service just before ours lands.
			once.Do(func() {
				sim := simRef.Load()
				plain := sim.ServiceSID("call-centre-plain")
				if err := sim.SetServiceEncryption(plain, sim.CredentialSIDs()[0], false); err != nil {
					t.Error(err)
				}
			})
		},
	})
	simRef.Store(sim)
	crB := sim.CredentialSIDs()[1]
	plain := sim.ServiceSID("call-centre-plain")
	res := runCLI(t, simEnv(sim), "services", "encrypt", plain, "--credential", crB)
	if res.code != 1 || !strings.Contains(res.stderr, "changed while it was being updated") {
		t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s\nwant exit 1 and the ETag conflict line", res.code, res.stdout, res.stderr)
	}
	if n := len(strings.Split(strings.TrimSpace(res.stderr), "\n")); n != 1 {
		t.Errorf("%d stderr lines, want one", n)
	}
	if hasServiceCredential(sim.Services(), plain, crB) {
		t.Error("the update went through despite the ETag mismatch")
	}
	if sim.Count(twiliosim.EndpointUpdateService) != 1 {
		t.Errorf("%d update requests, want 1 (a 412 is not retried)", sim.Count(twiliosim.EndpointUpdateService))
	}
}
