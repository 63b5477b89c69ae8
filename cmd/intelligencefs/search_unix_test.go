//go:build unix

package main

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/intelligencefs/intelligencefs/fetch/twiliosim"
)

// runOnTerminal runs the binary with stdin, stdout and stderr on a new
// pseudo-terminal (its controlling terminal), writes input, and returns
// what the terminal showed and the exit status.
func runOnTerminal(t *testing.T, env []string, input string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(testBinary(t), args...)
	cmd.Env = env
	ptmx, err := pty.Start(cmd)
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	defer ptmx.Close()
	if input != "" {
		ptmx.Write([]byte(input))
	}
	var out bytes.Buffer
	done := make(chan struct{})
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := ptmx.Read(buf)
			out.Write(buf[:n])
			if err != nil {
				close(done)
				return
			}
		}
	}()
	err = cmd.Wait()
	code := exitStatus(t, err)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
	}
	return out.String(), code
}

// TestSearchProgressOnlyOnTerminal: the progress line is drawn when stderr
// is a terminal and never otherwise.
func TestSearchProgressOnlyOnTerminal(t *testing.T) {
	sim, keyPath := searchSim(t)
	env := simEnv(sim)
	sim.SetFaults(twiliosim.Faults{APILatency: 30 * time.Millisecond}) // long enough for a redraw
	defer sim.SetFaults(twiliosim.Faults{})
	shown, code := runOnTerminal(t, env, "", "search", "--private-key", keyPath, "--max-concurrency", "1", "-F", searchMarker)
	if code != 0 || !strings.Contains(shown, "searched ") || !strings.Contains(shown, " transcripts, ") {
		t.Errorf("on a terminal: exit %d, no progress line in %q", code, shown)
	}
	res := runCLI(t, env, "search", "--private-key", keyPath, "--max-concurrency", "1", "-F", searchMarker)
	if res.code != 0 || res.stderr != "" {
		t.Errorf("not a terminal: exit %d, stderr %q", res.code, res.stderr)
	}
}

// TestTranscriptsDelete: receipts, --dry-run, --yes, stdin, idempotence,
// refusal without a terminal, confirmation on one, and a failure's exit
// status; the deleted transcripts are gone from the simulator.
func TestTranscriptsDelete(t *testing.T) {
	sim, keyPath := searchSim(t)
	env := simEnv(sim)
	trs := sim.Transcripts(sim.Services()[0].SID)
	a, b, c := trs[2].SID, trs[3].SID, trs[4].SID
	d := "" // encrypted and completed: it has sealed objects to cache
	for _, s := range sim.Services() {
		for _, tr := range sim.Transcripts(s.SID) {
			if d == "" && tr.EncryptionCredentialSID != "" && tr.Status == twiliosim.StatusCompleted && tr.SID != a && tr.SID != b && tr.SID != c {
				d = tr.SID
			}
		}
	}
	exists := func(sid string) bool { return sim.TranscriptJSON(sid) != nil }
	receipt := regexp.MustCompile(`^(GT[0-9a-f]{32})\t(deleted|not-found|would-delete|failed)\t(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)\t(AC[0-9a-f]{32})\t(\S+)(\t.*)?$`)
	results := func(out string) map[string]string {
		t.Helper()
		m := map[string]string{}
		for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
			p := receipt.FindStringSubmatch(l)
			if p == nil {
				t.Fatalf("not a receipt: %q", l)
			}
			if p[4] != sim.AccountSID || p[5] != sim.URL {
				t.Errorf("the receipt names account %s at %s, want %s at %s", p[4], p[5], sim.AccountSID, sim.URL)
			}
			m[p[1]] = p[2]
		}
		return m
	}

	// No --yes and no terminal (a new session has no controlling one).
	cmd := exec.Command(testBinary(t), "transcripts", "delete", a)
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if code := exitStatus(t, cmd.Run()); code != 2 || !strings.Contains(stderr.String(), "no terminal") || !exists(a) {
		t.Errorf("without --yes or a terminal: exit %d, %q, still there %v", code, stderr.String(), exists(a))
	}
	res := mustRun(t, env, "transcripts", "delete", "--dry-run", a, b)
	if r := results(res.stdout); r[a] != "would-delete" || r[b] != "would-delete" || !exists(a) || !exists(b) {
		t.Errorf("--dry-run: %v", r)
	}
	res = mustRun(t, env, "transcripts", "delete", "--yes", a)
	if r := results(res.stdout); r[a] != "deleted" || exists(a) {
		t.Errorf("--yes: %v", r)
	}
	// From stdin, one already gone: not proven, so not-found and exit 1;
	// the other deleted.
	in := strings.NewReader(a + "\n\n" + b + "\n")
	cmd = exec.Command(testBinary(t), "transcripts", "delete", "--yes", "-")
	cmd.Env, cmd.Stdin = env, in
	out, err := cmd.Output()
	if exitStatus(t, err) != 1 {
		t.Fatalf("stdin: %v, want exit 1", err)
	}
	if r := results(string(out)); r[a] != "not-found" || r[b] != "deleted" || exists(b) {
		t.Errorf("stdin: %v", r)
	}
	// --dry-run changes nothing anywhere: not even a sealed cache's files
	// of a transcript the API answers 404 for (another region, a proxy).
	cache := filepath.Join(t.TempDir(), "sealed")
	mustRun(t, env, "cat", "--private-key", keyPath, "--sealed-cache", cache, d)
	cached, _ := filepath.Glob(filepath.Join(cache, "v1", "*", d+".*"))
	sim.SetFaults(twiliosim.Faults{HideTranscripts: twiliosim.Rule{Fraction: 1, TranscriptSID: d}})
	res = runCLI(t, env, "transcripts", "delete", "--dry-run", "--sealed-cache", cache, d)
	sim.SetFaults(twiliosim.Faults{})
	left, _ := filepath.Glob(filepath.Join(cache, "v1", "*", d+".*"))
	if r := results(res.stdout); res.code != 1 || r[d] != "not-found" || len(cached) == 0 || len(left) != len(cached) {
		t.Errorf("--dry-run on a 404: exit %d, %v, %d sealed files before, %d after", res.code, r, len(cached), len(left))
	}
	oneErrorLine(t, runCLI(t, env, "transcripts", "delete", "--yes", c, "GTnot-a-sid"), 2, "not a transcript SID")
	if !exists(c) {
		t.Error("a bad SID in the list still deleted the others")
	}
	// Confirmation on a terminal: "no" keeps, "yes" deletes.
	shown, code := runOnTerminal(t, env, "no\n", "transcripts", "delete", c)
	if code == 0 || !exists(c) || !strings.Contains(shown, "About to delete 1 transcript") || !strings.Contains(shown, c) {
		t.Errorf("answered no: exit %d, exists %v, %q", code, exists(c), shown)
	}
	shown, code = runOnTerminal(t, env, "yes\n", "transcripts", "delete", c)
	if code != 0 || exists(c) || !strings.Contains(shown, c+"\tdeleted\t") {
		t.Errorf("answered yes: exit %d, exists %v, %q", code, exists(c), shown)
	}
	// Rejected credentials: a failed receipt, exit 1, nothing deleted, no
	// secret printed.
	sim.SetFaults(twiliosim.Faults{WrongCredentials: true})
	res = runCLI(t, env, "transcripts", "delete", "--yes", d)
	sim.SetFaults(twiliosim.Faults{})
	if r := results(res.stdout); res.code != 1 || r[d] != "failed" || !exists(d) || strings.Contains(res.stdout+res.stderr, sim.AuthToken) {
		t.Errorf("failure: exit %d, %v, %q", res.code, r, res.stderr)
	}
}
