package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/intelligencefs/intelligencefs/fetch/twiliosim"
	"github.com/intelligencefs/intelligencefs/fs/sentencetext"
)

// searchSim is a simulator with an encrypted, a plain and a mixed service,
// sealing to a key written to a file, and the marker below in every
// sentences document and operator result.
func searchSim(t *testing.T) (*twiliosim.Server, string) {
	t.Helper()
	key, keyPath := genKeyFile(t, t.TempDir(), "key.pem", nil, 0o600)
	sim := newSim(t, twiliosim.Options{
		Keys:   []twiliosim.Credential{{PublicKey: &key.PublicKey}},
		Corpus: twiliosim.CorpusOptions{Seed: 15, TranscriptsPerService: 8, Markers: []string{searchMarker}},
	})
	if err := sim.SetTranscriptStatus(sim.Transcripts(sim.Services()[0].SID)[1].SID, twiliosim.StatusInProgress); err != nil {
		t.Fatal(err)
	}
	return sim, keyPath
}

const searchMarker = "REF-SEARCH-7731"

// wantDoc is the sentences document the search sees for tr: the sealed
// plaintext, or the plain list assembled as fetch assembles it.
func wantDoc(sim *twiliosim.Server, tr twiliosim.TranscriptInfo, unredacted bool) []byte {
	red := tr.Redaction && !unredacted
	if tr.EncryptionCredentialSID != "" {
		return sim.SentencesPlaintext(tr.SID, red)
	}
	return []byte(`{"sentences":[` + string(bytes.Join(sim.SentenceResources(tr.SID, red, true), []byte(","))) + `]}`)
}

// wantSearch is the oracle: the default output lines of a search of re over
// the completed transcripts of services (all when nil), sorted.
func wantSearch(t *testing.T, sim *twiliosim.Server, re *regexp.Regexp, services []string, unredacted bool, keep func(twiliosim.TranscriptInfo) bool) []string {
	t.Helper()
	var out []string
	for _, svc := range sim.Services() {
		if services != nil && !contains(services, svc.SID) {
			continue
		}
		for _, tr := range sim.Transcripts(svc.SID) {
			if tr.Status != twiliosim.StatusCompleted || (keep != nil && !keep(tr)) {
				continue
			}
			ss, err := sentencetext.Parse(wantDoc(sim, tr, unredacted))
			if err != nil {
				t.Fatal(err)
			}
			speakers(t, sim, tr.SID).Apply(ss)
			for _, s := range ss {
				if re.Match(s.AppendText(nil)) {
					out = append(out, tr.SID+"\t"+strings.TrimSuffix(string(sentencetext.AppendLine(nil, s)), "\n"))
				}
			}
		}
	}
	sort.Strings(out)
	return out
}

// speakers are the speaker labels of a transcript, from its channel, as
// the mount's sentences.txt and search name them.
func speakers(t *testing.T, sim *twiliosim.Server, sid string) sentencetext.Labels {
	t.Helper()
	var resource struct{ Channel json.RawMessage }
	if err := json.Unmarshal(sim.TranscriptJSON(sid), &resource); err != nil {
		t.Fatal(err)
	}
	return sentencetext.LabelsFromChannel(resource.Channel)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// sortedLines splits output into sorted lines.
func sortedLines(s string) []string {
	if s == "" {
		return nil
	}
	l := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	sort.Strings(l)
	return l
}

// TestSearchExactMatches: the lines search prints are exactly the matching
// sentences of the sealed (and plain) transcripts in the sentences.txt form,
// for regular expressions, -F, -i, --service (SID or unique name) and
// --unredacted; -l, -c and --json agree; exit 0/1/2 as grep.
func TestSearchExactMatches(t *testing.T) {
	sim, keyPath := searchSim(t)
	env := simEnv(sim)
	svcs := sim.Services()
	enc, mixed := svcs[0], svcs[len(svcs)-1]
	for _, s := range svcs {
		if s.UniqueName == "call-centre-mixed" {
			mixed = s
		}
	}
	for _, tc := range []struct {
		name     string
		args     []string
		re       string
		services []string
		unred    bool
	}{
		{"regexp", []string{`card number|bye\.$`}, `card number|bye\.$`, nil, false},
		{"fixed string with metacharacters", []string{"-F", "[PHONE_NUMBER]."}, regexp.QuoteMeta("[PHONE_NUMBER]."), nil, false},
		{"ignore case", []string{"-i", "THANK YOU"}, `(?i)THANK YOU`, nil, false},
		{"service by SID", []string{"--service", enc.SID, "help"}, `help`, []string{enc.SID}, false},
		{"service by unique name, twice", []string{"--service", mixed.UniqueName, "--service", mixed.SID, "-i", "calling"}, `(?i)calling`, []string{mixed.SID}, false},
		{"unredacted", []string{"--unredacted", `\d{3}`}, `\d{3}`, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := wantSearch(t, sim, regexp.MustCompile(tc.re), tc.services, tc.unred, nil)
			if len(want) == 0 {
				t.Fatal("the oracle found nothing: a test that cannot fail")
			}
			res := runCLI(t, env, append([]string{"search", "--private-key", keyPath}, tc.args...)...)
			if res.code != 0 || res.stderr != "" {
				t.Fatalf("exit %d, stderr %q", res.code, res.stderr)
			}
			if got := sortedLines(res.stdout); strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Fatalf("got %d lines, want %d:\n%s\nwant\n%s", len(got), len(want), strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			// -l: each matching SID once; -c: its count.
			counts := map[string]int{}
			for _, l := range want {
				counts[l[:34]]++
			}
			var wantL, wantC []string
			for sid, n := range counts {
				wantL = append(wantL, sid)
				wantC = append(wantC, sid+"\t"+strconv.Itoa(n))
			}
			sort.Strings(wantL)
			sort.Strings(wantC)
			res = mustRun(t, env, append([]string{"search", "--private-key", keyPath, "-l"}, tc.args...)...)
			if got := sortedLines(res.stdout); strings.Join(got, "\n") != strings.Join(wantL, "\n") {
				t.Errorf("-l: %q, want %q", got, wantL)
			}
			res = mustRun(t, env, append([]string{"search", "--private-key", keyPath, "-c"}, tc.args...)...)
			if got := sortedLines(res.stdout); strings.Join(got, "\n") != strings.Join(wantC, "\n") {
				t.Errorf("-c: %q, want %q", got, wantC)
			}
			// --json: the same matches, each with its transcript's fields.
			res = mustRun(t, env, append([]string{"search", "--private-key", keyPath, "--json"}, tc.args...)...)
			var fromJSON []string
			for _, l := range strings.Split(strings.TrimSpace(res.stdout), "\n") {
				var m struct {
					TranscriptSID string   `json:"transcript_sid"`
					ServiceSID    string   `json:"service_sid"`
					DateCreated   string   `json:"date_created"`
					SentenceIndex *int64   `json:"sentence_index"`
					StartTime     *float64 `json:"start_time"`
					Channel       *int64   `json:"channel"`
					Text          string   `json:"text"`
				}
				if err := json.Unmarshal([]byte(l), &m); err != nil || m.SentenceIndex == nil || m.StartTime == nil || m.Channel == nil {
					t.Fatalf("--json line %q: %v", l, err)
				}
				tr := transcriptInfo(t, sim, m.TranscriptSID)
				if m.ServiceSID != tr.ServiceSID || m.DateCreated != tr.DateCreated.UTC().Format(time.RFC3339) {
					t.Errorf("--json line %q: service or date wrong (want %s %s)", l, tr.ServiceSID, tr.DateCreated)
				}
				doc := []byte(`[{"sentence_index":` + strconv.FormatInt(*m.SentenceIndex, 10) + `,"start_time":` + strconv.FormatFloat(*m.StartTime, 'f', -1, 64) +
					`,"media_channel":` + strconv.FormatInt(*m.Channel, 10) + `,"transcript":` + mustJSON(t, m.Text) + `}]`)
				ss, _ := sentencetext.Parse(doc)
				speakers(t, sim, m.TranscriptSID).Apply(ss)
				txt := sentencetext.Append(nil, ss)
				fromJSON = append(fromJSON, m.TranscriptSID+"\t"+strings.TrimSuffix(string(txt), "\n"))
			}
			sort.Strings(fromJSON)
			if strings.Join(fromJSON, "\n") != strings.Join(want, "\n") {
				t.Errorf("--json gives other matches:\n%s", strings.Join(fromJSON, "\n"))
			}
		})
	}
	// Nothing matched: exit 1, no output. A bad pattern: exit 2, one line.
	res := runCLI(t, env, "search", "--private-key", keyPath, "-F", "no such words anywhere 1f9e")
	if res.code != 1 || res.stdout != "" || res.stderr != "" {
		t.Errorf("no match: exit %d, %q %q", res.code, res.stdout, res.stderr)
	}
	oneErrorLine(t, runCLI(t, env, "search", "--private-key", keyPath, "a(b"), 2, "pattern")
	oneErrorLine(t, runCLI(t, env, "search", "--private-key", keyPath, "--service", "nope", "x"), 2, `service "nope"`)
	oneErrorLine(t, runCLI(t, env, "search", "--since", "yesterday", "x"), 2, "--since")
	oneErrorLine(t, runCLI(t, env, "search", "-l", "-c", "x"), 2, "at most one")
}

func mustJSON(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// transcriptInfo finds a transcript of sim by SID.
func transcriptInfo(t *testing.T, sim *twiliosim.Server, sid string) twiliosim.TranscriptInfo {
	t.Helper()
	for _, svc := range sim.Services() {
		for _, tr := range sim.Transcripts(svc.SID) {
			if tr.SID == sid {
				return tr
			}
		}
	}
	t.Fatalf("no transcript %s", sid)
	return twiliosim.TranscriptInfo{}
}

// TestSearchScope: --since/--until bound date_created; --metadata matches
// customer_key; --operator-results searches operator results, and a plain
// sentence search asks for none at all.
func TestSearchScope(t *testing.T) {
	sim, keyPath := searchSim(t)
	env := simEnv(sim)
	var dates []time.Time
	for _, svc := range sim.Services() {
		for _, tr := range sim.Transcripts(svc.SID) {
			dates = append(dates, tr.DateCreated)
		}
	}
	sort.Slice(dates, func(i, j int) bool { return dates[i].Before(dates[j]) })
	since, until := dates[len(dates)/4], dates[3*len(dates)/4]
	in := func(tr twiliosim.TranscriptInfo) bool {
		return !tr.DateCreated.Before(since) && tr.DateCreated.Before(until)
	}
	want := wantSearch(t, sim, regexp.MustCompile(regexp.QuoteMeta(searchMarker)), nil, false, in)
	all := wantSearch(t, sim, regexp.MustCompile(regexp.QuoteMeta(searchMarker)), nil, false, nil)
	if len(want) == 0 || len(want) == len(all) {
		t.Fatalf("the date window selects %d of %d: cannot tell", len(want), len(all))
	}
	sim.ResetCounts()
	res := mustRun(t, env, "search", "--private-key", keyPath, "-F", searchMarker, "--since", since.Format(time.RFC3339), "--until", until.Format(time.RFC3339))
	if got := sortedLines(res.stdout); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("--since/--until: %d lines, want %d", len(got), len(want))
	}
	if n := sim.Count(twiliosim.EndpointEncryptedOperatorResults) + sim.Count(twiliosim.EndpointListOperatorResults) + sim.Count(twiliosim.EndpointFetchOperatorResult); n != 0 {
		t.Errorf("a sentence search made %d operator-result requests", n)
	}

	// --metadata: a customer_key.
	keys := map[string][]string{} // customer_key -> its transcripts' lines
	for _, svc := range sim.Services() {
		for _, tr := range sim.Transcripts(svc.SID) {
			var m struct {
				CustomerKey *string `json:"customer_key"`
			}
			json.Unmarshal(sim.TranscriptJSON(tr.SID), &m)
			if m.CustomerKey != nil {
				keys[*m.CustomerKey] = append(keys[*m.CustomerKey], tr.SID+"\ttranscript.json customer_key: "+*m.CustomerKey)
			}
		}
	}
	var key string
	for k := range keys {
		key = k
		break
	}
	if key == "" {
		t.Fatal("no customer_key in the corpus")
	}
	sort.Strings(keys[key])
	res = mustRun(t, env, "search", "--private-key", keyPath, "--metadata", "-F", "--", key)
	if got := sortedLines(res.stdout); strings.Join(got, "\n") != strings.Join(keys[key], "\n") {
		t.Errorf("--metadata: %q, want %q", got, keys[key])
	}
	if r := runCLI(t, env, "search", "--private-key", keyPath, "-F", "--", key); r.code != 1 {
		t.Errorf("customer_key found without --metadata: %d %q", r.code, r.stdout)
	}

	// --operator-results: each completed transcript's summary (operator
	// result 1) holds the marker.
	res = mustRun(t, env, "search", "--private-key", keyPath, "--operator-results", "--json", "-F", searchMarker)
	opHits := map[string]bool{}
	for _, l := range strings.Split(strings.TrimSpace(res.stdout), "\n") {
		var m struct {
			TranscriptSID  string `json:"transcript_sid"`
			OperatorResult int    `json:"operator_result"`
			Field          string `json:"field"`
			Text           string `json:"text"`
		}
		json.Unmarshal([]byte(l), &m)
		if m.OperatorResult > 0 {
			if !strings.Contains(m.Text, searchMarker) || m.Field == "" {
				t.Errorf("operator result match %q", l)
			}
			opHits[m.TranscriptSID+"/"+strconv.Itoa(m.OperatorResult)] = true
		}
	}
	wantOps := 0
	for _, svc := range sim.Services() {
		for _, tr := range sim.Transcripts(svc.SID) {
			if tr.Status == twiliosim.StatusCompleted {
				wantOps++
				if !opHits[tr.SID+"/1"] {
					t.Errorf("%s: the marker in its summary was not found", tr.SID)
				}
			}
		}
	}
	if len(opHits) != wantOps || wantOps == 0 {
		t.Errorf("--operator-results found the marker in %d operator results, want %d", len(opHits), wantOps)
	}
}

// TestSearchFailuresAndRedaction: without the private key every encrypted
// transcript is one warning naming it, the plain ones are still searched
// and the exit status is 2; no line of stdout or stderr carries a
// presigned URL's query, a secret, or (in warnings) content.
func TestSearchFailuresAndRedaction(t *testing.T) {
	sim, keyPath := searchSim(t)
	env := simEnv(sim)
	re := regexp.MustCompile(regexp.QuoteMeta(searchMarker))
	plainOnly := wantSearch(t, sim, re, nil, false, func(tr twiliosim.TranscriptInfo) bool { return tr.EncryptionCredentialSID == "" })
	res := runCLI(t, env, "search", "-F", searchMarker)
	if res.code != 2 {
		t.Errorf("exit %d, want 2", res.code)
	}
	if got := sortedLines(res.stdout); strings.Join(got, "\n") != strings.Join(plainOnly, "\n") || len(got) == 0 {
		t.Errorf("plain matches: %d lines, want %d", len(got), len(plainOnly))
	}
	nEnc := 0
	for _, svc := range sim.Services() {
		for _, tr := range sim.Transcripts(svc.SID) {
			if tr.Status == twiliosim.StatusCompleted && tr.EncryptionCredentialSID != "" {
				nEnc++
				if n := strings.Count(res.stderr, tr.SID); n != 1 {
					t.Errorf("%s named %d times on stderr, want one warning", tr.SID, n)
				}
			}
		}
	}
	if warns := len(lines(res.stderr, "intelligencefs: warning: ")); warns != nEnc {
		t.Errorf("%d warnings for %d undecryptable transcripts:\n%s", warns, nEnc, res.stderr)
	}
	// Objects that keep expiring: the failure names the transcript, never
	// the presigned URL's query.
	sim.SetFaults(twiliosim.Faults{ExpiredURLs: twiliosim.Rule{Fraction: 1}})
	res2 := runCLI(t, env, "search", "--private-key", keyPath, "-F", searchMarker)
	sim.SetFaults(twiliosim.Faults{})
	if res2.code != 2 || !strings.Contains(res2.stderr, "expired") {
		t.Errorf("expired URLs: exit %d, %q", res2.code, res2.stderr)
	}
	for _, r := range []cliResult{res, res2} {
		for _, bad := range []string{"X-Amz-Signature", "Signature=", "?X-", sim.AuthToken, searchMarker} {
			if strings.Contains(r.stderr, bad) {
				t.Errorf("stderr carries %q:\n%s", bad, r.stderr)
			}
		}
		if strings.Contains(r.stdout, "X-Amz") || strings.Contains(r.stdout, sim.AuthToken) {
			t.Errorf("stdout carries a URL query or secret")
		}
	}
}

// TestSearchExport: --export writes each matching transcript's files, byte
// for byte, files 0600 in folders 0700, says so, leaves no temporary file,
// replaces an earlier export whole, and stops with exit 2 when a file
// cannot be put in place.
func TestSearchExport(t *testing.T) {
	sim, keyPath := searchSim(t)
	env := simEnv(sim)
	dir := filepath.Join(t.TempDir(), "request-42")
	res := mustRun(t, env, "search", "--private-key", keyPath, "-l", "--export", dir, "Yes, it is")
	if !strings.Contains(res.stderr, "plaintext") || !strings.Contains(res.stderr, dir) {
		t.Errorf("export does not say it writes plaintext: %q", res.stderr)
	}
	sids := sortedLines(res.stdout)
	if len(sids) < 3 {
		t.Fatalf("only %d transcripts matched", len(sids))
	}
	check := func() {
		t.Helper()
		for _, sid := range sids {
			tr := transcriptInfo(t, sim, sid)
			base := filepath.Join(dir, sid)
			doc := wantDoc(sim, tr, false)
			txt, _ := sentencetext.RenderLabeled(doc, speakers(t, sim, sid)) // as the mount names the speakers
			want := map[string][]byte{"sentences.json": doc, "sentences.txt": txt}
			ops := sim.OperatorResultPlaintexts(sid, tr.Redaction)
			if tr.EncryptionCredentialSID == "" {
				ops = sim.OperatorResultResources(sid, tr.Redaction)
			}
			for i, d := range ops {
				want[filepath.Join("operator-results", strconv.Itoa(i+1)+".json")] = d
			}
			for name, w := range want {
				got, err := os.ReadFile(filepath.Join(base, name))
				if err != nil || !bytes.Equal(got, w) {
					t.Errorf("%s/%s: %v (%d bytes, want %d)", sid, name, err, len(got), len(w))
				}
			}
			var tj struct{ SID string }
			if b, err := os.ReadFile(filepath.Join(base, "transcript.json")); err != nil || json.Unmarshal(b, &tj) != nil || tj.SID != sid {
				t.Errorf("%s/transcript.json: %v", sid, err)
			}
		}
		filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err != nil {
				t.Fatal(err)
			}
			fi, _ := d.Info()
			switch {
			case strings.Contains(d.Name(), ".tmp-"):
				t.Errorf("temporary file left: %s", p)
			case d.IsDir() && p != dir && fi.Mode().Perm() != 0o700:
				t.Errorf("%s: mode %o, want 0700", p, fi.Mode().Perm())
			case !d.IsDir() && fi.Mode().Perm() != 0o600:
				t.Errorf("%s: mode %o, want 0600", p, fi.Mode().Perm())
			}
			return nil
		})
	}
	check()
	// An earlier export's file is replaced whole.
	stale := filepath.Join(dir, sids[0], "sentences.json")
	os.WriteFile(stale, []byte("stale and longer than nothing"), 0o644)
	mustRun(t, env, "search", "--private-key", keyPath, "-l", "--export", dir, "Yes, it is")
	check()
	// A file that cannot be put in place (a folder in its way): exit 2, and
	// no temporary file left behind.
	os.Remove(stale)
	os.Mkdir(stale, 0o700)
	os.WriteFile(filepath.Join(stale, "x"), nil, 0o600)
	res = runCLI(t, env, "search", "--private-key", keyPath, "-l", "--export", dir, "Yes, it is")
	if res.code != 2 || !strings.Contains(res.stderr, "sentences.json") {
		t.Errorf("blocked export: exit %d, %q", res.code, res.stderr)
	}
	leftovers, _ := filepath.Glob(filepath.Join(dir, "*", ".*tmp-*"))
	if len(leftovers) != 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}
}
