package fs

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/intelligencefs/intelligencefs/crypto"
	"github.com/intelligencefs/intelligencefs/fetch"
	"github.com/intelligencefs/intelligencefs/fetch/sealedcache"
	"github.com/intelligencefs/intelligencefs/fetch/twiliosim"
)

// sealedEnv mounts sim with a client whose sealed cache is dir, as a new
// process would (a fresh client, store and plaintext cache).
func sealedEnv(t *testing.T, sim *twiliosim.Server, dir string) *env {
	t.Helper()
	ring := crypto.NewKeyring()
	ring.Add(keys(t)[0], "")
	ring.Add(keys(t)[1], "")
	store, err := sealedcache.Open(sealedcache.Options{Dir: dir, SealKey: ring.DeriveSecret(sealedcache.SealKeyLabel)})
	if err != nil {
		t.Fatal(err)
	}
	return mountSim(t, sim, fetch.Config{SealedCache: store}, nil)
}

// sealedSim starts a simulator sealing to the package's test keys, with n
// transcripts per service, and names a sealed-cache directory to create.
func sealedSim(t *testing.T, seed int64, n int) (*twiliosim.Server, string) {
	t.Helper()
	requireFUSE(t)
	sim, err := twiliosim.NewServer(twiliosim.Options{
		Corpus: twiliosim.CorpusOptions{Seed: seed, TranscriptsPerService: n},
		Keys:   []twiliosim.Credential{{PublicKey: &keys(t)[0].PublicKey}, {PublicKey: &keys(t)[1].PublicKey}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	return sim, filepath.Join(t.TempDir(), "sealed")
}

// sealedFilled is sealedSim with the cache filled by a first mount that
// read every encrypted transcript (and ended); it returns those transcripts.
func sealedFilled(t *testing.T, seed int64, n int) (*twiliosim.Server, string, []twiliosim.TranscriptInfo) {
	t.Helper()
	sim, dir := sealedSim(t, seed, n)
	first := sealedEnv(t, sim, dir)
	tis := first.completed(true)
	first.walkAndCompare(t, tis)
	first.client.Close()
	return sim, dir, tis
}

// walk reads every completed transcript's folder under the mount with cat
// (as a user's grep -r would) and compares the bytes with what the
// simulator sealed.
func (e *env) walkAndCompare(t *testing.T, tis []twiliosim.TranscriptInfo) {
	t.Helper()
	run(t, e.mnt, "grep", "-r", "-c", "-e", "transcript", "services")
	for _, ti := range tis {
		compareFiles(t, ti.SID, e.expected(t, ti), readTree(t, e.tDir(ti.ServiceSID, ti.SID)))
	}
}

// encryptedContentRequests are the requests a transcript whose entries are
// all in the sealed cache must not make.
var encryptedContentRequests = []string{twiliosim.EndpointObjectGet, twiliosim.EndpointEncryptedSentences,
	twiliosim.EndpointEncryptedOperatorResults, twiliosim.EndpointFetchTranscript}

// TestSealedCacheRemount: a second mount (new process) on the same
// --sealed-cache reads every encrypted transcript without a location
// request or a download, exact bytes; the directory holds only the sealed
// objects of encrypted transcripts: no plaintext, no plain transcript, no URL.
func TestSealedCacheRemount(t *testing.T) {
	sim, dir := sealedSim(t, 41, 8)

	first := sealedEnv(t, sim, dir)
	all := first.completed(false)
	first.walkAndCompare(t, all)
	first.client.Close() // the process ends: queued writes land

	// What is on disk: one entry per encrypted object, one count per
	// encrypted transcript, nothing of plain ones, no plaintext, no URL.
	encrypted := map[string]bool{}
	wantFiles := 0
	for _, ti := range first.completed(true) {
		encrypted[ti.SID] = true
		wantFiles += 2 + len(sim.OperatorResultPlaintexts(ti.SID, ti.Redaction))
	}
	var files []string
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			files = append(files, p)
		}
		return err
	})
	if len(files) != wantFiles {
		t.Errorf("%d files in the sealed cache, want %d (sentences, operator results and a count per encrypted transcript)", len(files), wantFiles)
	}
	for _, p := range files {
		sid := strings.SplitN(filepath.Base(p), ".", 2)[0]
		if !encrypted[sid] {
			t.Errorf("%s: not an encrypted transcript's entry", p)
		}
		b, _ := os.ReadFile(p)
		for _, ti := range all {
			if plain := sim.SentencesPlaintext(ti.SID, ti.Redaction); bytes.Contains(b, plain[:min(len(plain), 24)]) {
				t.Errorf("%s holds plaintext of %s", p, ti.SID)
			}
			var meta struct {
				CustomerKey string `json:"customer_key"`
			}
			if json.Unmarshal(sim.TranscriptJSON(ti.SID), &meta) == nil && meta.CustomerKey != "" && bytes.Contains(b, []byte(meta.CustomerKey)) {
				t.Errorf("%s holds %s's customer_key", p, ti.SID)
			}
		}
		if bytes.Contains(b, []byte("X-Amz")) || bytes.Contains(b, []byte("http")) || bytes.Contains(b, []byte(sim.AuthToken)) {
			t.Errorf("%s holds a URL or a credential", p)
		}
	}

	second := sealedEnv(t, sim, dir)
	sim.ResetCounts()
	second.walkAndCompare(t, all)
	c := sim.Counts()
	for _, ep := range encryptedContentRequests {
		if c[ep] != 0 {
			t.Errorf("remount made %d %s requests, want 0 (%v)", c[ep], ep, nonZero(c))
		}
	}
	if c[twiliosim.EndpointListTranscripts] == 0 {
		t.Errorf("remount listed nothing: %v", nonZero(c))
	}
	t.Logf("remount: %v", nonZero(c))
}

// TestSealedCacheDamage: a damaged or planted entry costs one download and
// yields exact bytes, never an error; the entry is then whole again.
func TestSealedCacheDamage(t *testing.T) {
	sim, dir, tis := sealedFilled(t, 43, 10)

	entry := func(sid, part string) string {
		return filepath.Join(dir, "v1", strings.ToLower(sid[len(sid)-2:]), sid+".r."+part)
	}
	cases := []struct {
		name   string
		part   string // s or o0
		damage func(t *testing.T, p string)
	}{
		{"byte flipped in the ciphertext", "s", func(t *testing.T, p string) { flipAt(t, p, -20) }},
		{"byte flipped in the GCM tag", "o0", func(t *testing.T, p string) { flipAt(t, p, -1) }},
		{"truncated file", "s", func(t *testing.T, p string) {
			fi, _ := os.Stat(p)
			if err := os.Truncate(p, fi.Size()-7); err != nil {
				t.Fatal(err)
			}
		}},
		{"foreign file", "s", func(t *testing.T, p string) {
			if err := os.WriteFile(p, []byte("<html>not an entry</html>"), 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{"another transcript's entry planted", "s", nil}, // cases[4], filled below
		{"envelope sealed to the same public key planted", "o0", func(t *testing.T, p string) {
			// Anyone with the public key can seal: keep the header, put in
			// another envelope. The entry's MAC (a secret of the private
			// keys) tells it from a real one.
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			forged, err := crypto.Seal(&keys(t)[0].PublicKey, []byte(`{"forged":true}`))
			if err != nil {
				t.Fatal(err)
			}
			var h map[string]any
			lines := bytes.SplitN(b, []byte("\n"), 3)
			if err := json.Unmarshal(lines[1], &h); err != nil {
				t.Fatal(err)
			}
			h["key"], h["iv"], h["len"] = forged.EncodedKey(), forged.EncodedIV(), len(forged.Body)
			hj, _ := json.Marshal(h)
			out := append(append(append(lines[0], '\n'), hj...), '\n')
			if err := os.WriteFile(p, append(out, forged.Body...), 0o600); err != nil {
				t.Fatal(err)
			}
		}},
	}
	if len(tis) < len(cases)+1 {
		t.Fatalf("corpus has %d encrypted transcripts, want %d", len(tis), len(cases)+1)
	}
	cases[4].damage = func(t *testing.T, p string) {
		b, err := os.ReadFile(entry(tis[len(tis)-1].SID, "s"))
		if err != nil {
			t.Fatal(err)
		}
		// It would open (same public key): the header's SID catches it.
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for i, tc := range cases {
		tc.damage(t, entry(tis[i].SID, tc.part))
	}

	second := sealedEnv(t, sim, dir)
	sim.ResetCounts()
	for i := range cases {
		ti := tis[i]
		compareFiles(t, cases[i].name, second.expected(t, ti), readTree(t, second.tDir(ti.ServiceSID, ti.SID)))
	}
	if got := sim.Count(twiliosim.EndpointObjectGet); got != int64(len(cases)) {
		t.Errorf("%d downloads for %d damaged entries, want one each", got, len(cases))
	}
	if strings.Contains(second.logs.String(), "level=ERROR") || strings.Contains(second.logs.String(), "level=WARN") {
		t.Errorf("a worked-around damaged entry was logged as a failure:\n%s", second.logs)
	}
	second.client.Close()

	third := sealedEnv(t, sim, dir)
	sim.ResetCounts()
	for i := range cases {
		ti := tis[i]
		compareFiles(t, cases[i].name, third.expected(t, ti), readTree(t, third.tDir(ti.ServiceSID, ti.SID)))
	}
	if got := sim.Count(twiliosim.EndpointObjectGet); got != 0 {
		t.Errorf("the repaired entries were downloaded again: %d downloads", got)
	}
}

// flipAt flips one byte of the file at p, at off (from the end if < 0).
func flipAt(t *testing.T, p string, off int) {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if off < 0 {
		off += len(b)
	}
	b[off] ^= 0x01
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestSealedCacheStaleAndDeleted: entries of a transcript re-encrypted for
// another credential, or whose date_updated moved, are not served; a
// transcript deleted upstream loses its entries.
func TestSealedCacheStaleAndDeleted(t *testing.T) {
	sim, dir, tis := sealedFilled(t, 47, 6)

	// date_updated moves: the status is set again.
	moved := tis[0]
	if err := sim.SetTranscriptStatus(moved.SID, twiliosim.StatusCompleted); err != nil {
		t.Fatal(err)
	}
	for _, ti := range sim.Transcripts(moved.ServiceSID) {
		if ti.SID == moved.SID && ti.DateUpdated.Equal(moved.DateUpdated) {
			t.Fatal("the simulator did not move date_updated")
		}
	}
	deleted := tis[1]
	sim.DeleteTranscript(deleted.SID)

	second := sealedEnv(t, sim, dir)
	sim.ResetCounts()
	compareFiles(t, moved.SID, second.expected(t, moved), readTree(t, second.tDir(moved.ServiceSID, moved.SID)))
	if got, want := sim.Count(twiliosim.EndpointObjectGet), int64(1+len(sim.OperatorResultPlaintexts(moved.SID, moved.Redaction))); got != want {
		t.Errorf("transcript updated since it was cached: %d downloads, want %d (its stale entries must not be served)", got, want)
	}
	// The deleted transcript: a lookup is 404, its entries go.
	if _, err := os.Stat(filepath.Join(second.mnt, "transcripts", deleted.SID)); !os.IsNotExist(err) {
		t.Fatalf("deleted transcript: %v", err)
	}
	waitFor(t, "entries of the deleted transcript removed", func() bool {
		m, _ := filepath.Glob(filepath.Join(dir, "v1", "*", deleted.SID+".*"))
		return len(m) == 0
	})
}
