// Package vtreetest builds a vtree.Tree over the Twilio simulator for the
// servers' tests, and finds the outside programs they drive.
package vtreetest

import (
	"bytes"
	"os"
	"os/exec"
	"strconv"
	"testing"

	"github.com/intelligencefs/intelligencefs/crypto"
	"github.com/intelligencefs/intelligencefs/fetch"
	"github.com/intelligencefs/intelligencefs/fetch/twiliosim"
	"github.com/intelligencefs/intelligencefs/fs/catalog"
	"github.com/intelligencefs/intelligencefs/fs/plaincache"
	"github.com/intelligencefs/intelligencefs/fs/vtree"
)

// Account is a simulated account and the tree over it.
type Account struct {
	Sim     *twiliosim.Server
	Client  *fetch.Client
	Catalog *catalog.Catalog
	Cache   *plaincache.Cache
	Tree    *vtree.Tree
}

// New starts a simulator with corpus and builds the model and tree over
// it, with the key that opens its envelopes; everything stops at cleanup.
func New(t testing.TB, corpus twiliosim.CorpusOptions) *Account {
	t.Helper()
	k, err := crypto.GenerateKey(2048)
	if err != nil {
		t.Fatal(err)
	}
	sim, err := twiliosim.NewServer(twiliosim.Options{Keys: []twiliosim.Credential{{PublicKey: &k.PublicKey}}, Corpus: corpus})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	c, err := fetch.New(fetch.Config{AccountSID: sim.AccountSID, AuthToken: sim.AuthToken, APIURL: sim.URL, WordTimestamps: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	ring := crypto.NewKeyring()
	ring.Add(k, sim.CredentialSIDs()[0])
	cache, err := plaincache.New(plaincache.Options{MaxBytes: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	cat, err := catalog.New(catalog.Options{Source: c, Decrypter: ring, Cache: cache, CacheSize: 64 << 20, Concurrency: 4, Prefetch: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cat.Close(); cache.Close() })
	return &Account{Sim: sim, Client: c, Catalog: cat, Cache: cache, Tree: vtree.New(cat)}
}

// RequireProgram returns the path of program, or skips the test naming
// the Debian package that has it; under INTELLIGENCEFS_REQUIRE_TOOLS=1 or
// INTELLIGENCEFS_REQUIRE_FUSE=1 (CI) a missing program fails instead.
func RequireProgram(t testing.TB, program, debianPackage string) string {
	t.Helper()
	p, err := exec.LookPath(program)
	if err == nil {
		return p
	}
	msg := program + " not found (Debian package " + debianPackage + ")"
	if os.Getenv("INTELLIGENCEFS_REQUIRE_TOOLS") == "1" || os.Getenv("INTELLIGENCEFS_REQUIRE_FUSE") == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// Expected returns a transcript folder's files as the simulator sealed
// them, by path inside the folder: transcript.json always; for a
// completed transcript sentences.json and operator-results/<n>.json.
func (a *Account) Expected(ti twiliosim.TranscriptInfo) map[string][]byte {
	want := map[string][]byte{"transcript.json": a.Sim.TranscriptJSON(ti.SID)}
	if ti.Status != "completed" {
		return want
	}
	doc := a.Sim.SentencesPlaintext(ti.SID, ti.Redaction)
	results := a.Sim.OperatorResultPlaintexts(ti.SID, ti.Redaction)
	if ti.EncryptionCredentialSID == "" {
		// Plain transcripts come from the list endpoints, joined by fetch.
		doc = append([]byte(`{"sentences":[`), bytes.Join(a.Sim.SentenceResources(ti.SID, ti.Redaction, true), []byte(","))...)
		doc = append(doc, "]}"...)
		results = a.Sim.OperatorResultResources(ti.SID, ti.Redaction)
	}
	want["sentences.json"] = doc
	for i, r := range results {
		want["operator-results/"+strconv.Itoa(i+1)+".json"] = r
	}
	return want
}
