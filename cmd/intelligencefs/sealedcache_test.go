package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/intelligencefs/intelligencefs/fetch/twiliosim"
)

// TestSealedCacheCat: cat with --sealed-cache serves a second run (another
// process) from the cache, exact bytes, with no location request and no
// download; processes sharing the directory at once all print exact bytes;
// plain transcripts leave nothing there; du and purge report and remove.
func TestSealedCacheCat(t *testing.T) {
	sim, keyPath := catSim(t)
	env := simEnv(sim)
	dir := filepath.Join(t.TempDir(), "sealed")
	var enc, plain []twiliosim.TranscriptInfo
	for _, svc := range sim.Services() {
		for _, tr := range sim.Transcripts(svc.SID) {
			switch {
			case tr.Status != twiliosim.StatusCompleted:
			case tr.EncryptionCredentialSID != "":
				enc = append(enc, tr)
			default:
				plain = append(plain, tr)
			}
		}
	}
	if len(enc) < 4 || len(plain) == 0 {
		t.Fatalf("corpus: %d encrypted, %d plain completed transcripts", len(enc), len(plain))
	}
	opsWant := func(tr twiliosim.TranscriptInfo) string {
		var b bytes.Buffer
		for _, doc := range sim.OperatorResultPlaintexts(tr.SID, tr.Redaction) {
			json.Compact(&b, doc)
			b.WriteByte('\n')
		}
		return b.String()
	}
	tr := enc[0]
	for round := range 2 {
		sim.ResetCounts()
		res := mustRun(t, env, "cat", "--sealed-cache", dir, "--private-key", keyPath, tr.SID)
		if res.stdout != string(sim.SentencesPlaintext(tr.SID, tr.Redaction)) {
			t.Fatalf("round %d: cat printed other bytes", round)
		}
		res = mustRun(t, env, "cat", "--operator-results", "--sealed-cache", dir, "--private-key", keyPath, tr.SID)
		if res.stdout != opsWant(tr) {
			t.Fatalf("round %d: cat --operator-results printed other bytes", round)
		}
		c := sim.Counts()
		downloads := c[twiliosim.EndpointObjectGet] + c[twiliosim.EndpointEncryptedSentences] + c[twiliosim.EndpointEncryptedOperatorResults]
		if round == 0 && downloads == 0 {
			t.Fatal("first cat downloaded nothing")
		}
		if round == 1 && downloads != 0 {
			t.Errorf("second cat: %v, want no location request and no download", c)
		}
	}

	// search goes through the same client: a second search downloads nothing.
	searchDir := filepath.Join(t.TempDir(), "search")
	for round := range 2 {
		sim.ResetCounts()
		res := mustRun(t, env, "search", "-l", "--sealed-cache", searchDir, "--private-key", keyPath, ".")
		if !strings.Contains(res.stdout, tr.SID) {
			t.Fatalf("search -l . did not list %s:\n%s", tr.SID, res.stdout)
		}
		c := sim.Counts()
		n := c[twiliosim.EndpointObjectGet] + c[twiliosim.EndpointEncryptedSentences]
		if (round == 0) == (n == 0) {
			t.Errorf("search round %d: %v", round, c)
		}
	}

	// A plain transcript leaves nothing.
	mustRun(t, env, "cat", "--sealed-cache", dir, "--private-key", keyPath, plain[0].SID)
	if m, _ := filepath.Glob(filepath.Join(dir, "v1", "*", plain[0].SID+".*")); len(m) != 0 {
		t.Errorf("a plain transcript's content reached the sealed cache: %v", m)
	}

	// Processes sharing the directory at once.
	shared := filepath.Join(t.TempDir(), "shared")
	var wg sync.WaitGroup
	for p := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 3 {
				tr := enc[(p+i)%len(enc)]
				res := runCLI(t, env, "cat", "--operator-results", "--sealed-cache", shared, "--private-key", keyPath, tr.SID)
				if res.code != 0 || res.stdout != opsWant(tr) {
					t.Errorf("concurrent cat %s: exit %d, %d bytes: %s", tr.SID, res.code, len(res.stdout), res.stderr)
				}
			}
		}()
	}
	wg.Wait()

	res := mustRun(t, env, "sealed-cache", "du", "--sealed-cache", dir)
	if !strings.Contains(res.stdout, "(of 1 transcripts)") || !strings.Contains(res.stdout, "oldest use") {
		t.Errorf("du:\n%s", res.stdout)
	}
	// transcripts delete removes the entries of what it deletes.
	if m, _ := filepath.Glob(filepath.Join(shared, "v1", "*", enc[1].SID+".*")); len(m) == 0 {
		t.Fatal("no entries to delete")
	}
	mustRun(t, env, "transcripts", "delete", "--yes", "--sealed-cache", shared, enc[1].SID)
	if m, _ := filepath.Glob(filepath.Join(shared, "v1", "*", enc[1].SID+".*")); len(m) != 0 {
		t.Errorf("transcripts delete left %v", m)
	}

	mustRun(t, env, "sealed-cache", "purge", "--sealed-cache", dir, tr.SID)
	if m, _ := filepath.Glob(filepath.Join(dir, "v1", "*", "GT*")); len(m) != 0 {
		t.Errorf("purge left %v", m)
	}
	oneErrorLine(t, runCLI(t, env, "sealed-cache", "purge", "--sealed-cache", dir, "GTnope"), 2, "not a transcript SID")
	oneErrorLine(t, runCLI(t, env, "sealed-cache", "du", "--sealed-cache", filepath.Join(dir, "missing")), 1, "does not exist")

	// An unsafe directory is refused in one line, before any request.
	open := filepath.Join(t.TempDir(), "open")
	if err := os.Mkdir(open, 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chmod(open, 0o755)
	oneErrorLine(t, runCLI(t, env, "cat", "--sealed-cache", open, "--private-key", keyPath, tr.SID), 1, "mode 0755")
}

// TestSealedCacheDoctor: doctor shows the cache; with other keys than
// those the entries were sealed with, their MAC does not hold, so it
// counts them as not sealed with the given keys and names nothing their
// headers say (a planted header could name any credential). Before, it
// read headers without their MAC and reported what they named.
func TestSealedCacheDoctor(t *testing.T) {
	sim, keyPath := catSim(t)
	env := simEnv(sim)
	dir := filepath.Join(t.TempDir(), "sealed")
	var tr twiliosim.TranscriptInfo
	for _, svc := range sim.Services() {
		for _, x := range sim.Transcripts(svc.SID) {
			if x.Status == twiliosim.StatusCompleted && x.EncryptionCredentialSID != "" {
				tr = x
			}
		}
	}
	mustRun(t, env, "cat", "--sealed-cache", dir, "--private-key", keyPath, tr.SID)
	res := runCLI(t, env, "doctor", "--sealed-cache", dir, "--private-key", keyPath)
	if !strings.Contains(res.stdout, "sealed cache "+dir+": 1 entries of 1 transcripts") || strings.Contains(res.stdout, "none of the given keys") {
		t.Errorf("doctor with the right key:\n%s", res.stdout)
	}
	_, other := genKeyFile(t, t.TempDir(), "other.pem", nil, 0o600)
	res = runCLI(t, env, "doctor", "--sealed-cache", dir, "--private-key", other)
	if !strings.Contains(res.stdout, "sealed cache: 1 entries are not sealed with the given keys") {
		t.Errorf("doctor with another key does not warn:\n%s", res.stdout)
	}
	if strings.Contains(res.stdout, "sealed to credential") {
		t.Errorf("doctor names a credential from headers whose MAC does not hold:\n%s", res.stdout)
	}
}

// TestSwappedOperatorResultsNeverServed is the reproduction, the
// simulator playing the attacker: with transcript A's operator results
// swapped for another transcript's and --sealed-cache on, cat
// --operator-results and search --export fail for A with one line naming
// both SIDs and write none of the other transcript's results; once the
// swap stops, a fresh process reads A's own results (nothing wrong was
// kept on disk).
func TestSwappedOperatorResultsNeverServed(t *testing.T) {
	sim, keyPath := catSim(t)
	env := simEnv(sim)
	dir := filepath.Join(t.TempDir(), "sealed")
	var a twiliosim.TranscriptInfo
	for _, svc := range sim.Services() {
		for _, x := range sim.Transcripts(svc.SID) {
			if a.SID == "" && x.Status == twiliosim.StatusCompleted && x.EncryptionCredentialSID != "" && len(sim.OperatorResultPlaintexts(x.SID, x.Redaction)) > 0 {
				a = x
			}
		}
	}
	if a.SID == "" {
		t.Fatal("no encrypted transcript with operator results")
	}
	sim.SetFaults(twiliosim.Faults{SwapOperatorResults: twiliosim.Rule{Fraction: 1, TranscriptSID: a.SID}})
	res := runCLI(t, env, "cat", "--operator-results", "--sealed-cache", dir, "--private-key", keyPath, a.SID)
	if res.code != 1 || !strings.Contains(res.stderr, a.SID) || strings.Count(res.stderr, "GT") < 2 || res.stdout != "" {
		t.Errorf("cat of swapped results: exit %d, stdout %d bytes, stderr %q; want exit 1 naming both SIDs, nothing printed", res.code, len(res.stdout), res.stderr)
	}
	export := filepath.Join(t.TempDir(), "request")
	res = runCLI(t, env, "search", "--private-key", keyPath, "--sealed-cache", dir, "--operator-results", "-l", "--export", export, ".")
	if res.code != 2 || !strings.Contains(res.stderr, a.SID) {
		t.Errorf("search --export over swapped results: exit %d, %q; want 2 naming %s", res.code, res.stderr, a.SID)
	}
	files, _ := filepath.Glob(filepath.Join(export, a.SID, "operator-results", "*.json"))
	want := sim.OperatorResultPlaintexts(a.SID, a.Redaction)
	for _, f := range files {
		b, _ := os.ReadFile(f)
		ok := false
		for _, w := range want {
			ok = ok || bytes.Equal(b, w)
		}
		if !ok {
			t.Errorf("search --export wrote another transcript's result as %s", f)
		}
	}
	sim.SetFaults(twiliosim.Faults{})
	sim.ResetCounts()
	res = runCLI(t, env, "cat", "--operator-results", "--sealed-cache", dir, "--private-key", keyPath, a.SID)
	if res.code != 0 {
		t.Fatalf("cat after the swap stopped: exit %d %q", res.code, res.stderr)
	}
	for i, w := range want {
		var doc any
		if json.Unmarshal(w, &doc) != nil {
			t.Fatalf("result %d is not JSON", i)
		}
		compact, _ := json.Marshal(doc)
		var line any
		lines := strings.Split(strings.TrimSpace(res.stdout), "\n")
		if i >= len(lines) || json.Unmarshal([]byte(lines[i]), &line) != nil {
			t.Fatalf("cat printed %d lines, want %d", len(lines), len(want))
		}
		got, _ := json.Marshal(line)
		if !bytes.Equal(got, compact) {
			t.Errorf("operator result %d after the swap stopped is not A's own", i)
		}
	}
	if sim.Count(twiliosim.EndpointObjectGet) == 0 {
		t.Error("no download after the swap stopped: something of the swap was kept")
	}
}
