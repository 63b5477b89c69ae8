package fs

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/intelligencefs/intelligencefs/fetch"
	"github.com/intelligencefs/intelligencefs/fetch/twiliosim"
)

var gtSID = regexp.MustCompile(`GT[0-9a-f]{32}`)

// TestWalkMeetsEachTranscriptOnce: every usual recursive walk from the
// mount root or services/ meets each completed transcript's sentences.json
// exactly once (by-date/ is not listed, unique-name links are not
// followed), while by-date stays reachable by path.
func TestWalkMeetsEachTranscriptOnce(t *testing.T) {
	inKernelModes(t, func(t *testing.T, m kernelMode) {
		e := newEnv(t, twiliosim.Options{Corpus: twiliosim.CorpusOptions{Seed: 17, TranscriptsPerService: 6, Days: 3}}, fetch.Config{}, m.tweak(nil))
		want := map[string]bool{}
		for _, ti := range e.completed(false) {
			want[ti.SID] = true
		}
		for _, from := range []string{".", "services"} {
			for _, tc := range []struct {
				name string
				cmd  []string
			}{
				{"find", []string{"find", from, "-name", "sentences.json"}},
				{"grep -r", []string{"grep", "-r", "-l", "--include=sentences.json", "", from}},
				{"rg", []string{"rg", "-l", "--no-ignore", "--hidden", "-g", "sentences.json", "", from}},
				{"du -a", []string{"du", "-a", from}},
				{"tar", []string{"sh", "-c", `tar -cf - "$0" | tar -tf -`, from}},
			} {
				t.Run(tc.name+" "+from, func(t *testing.T) {
					out := run(t, e.mnt, tc.cmd[0], tc.cmd[1:]...)
					seen := map[string]int{}
					for _, line := range strings.Split(string(out), "\n") {
						if !strings.HasSuffix(line, "sentences.json") {
							continue
						}
						sids := gtSID.FindAllString(line, -1)
						if len(sids) == 0 {
							t.Fatalf("no SID in %q", line)
						}
						seen[sids[len(sids)-1]]++
					}
					for sid := range want {
						if seen[sid] != 1 {
							t.Errorf("%s met %s %d times, want once", tc.name, sid, seen[sid])
						}
					}
					if len(seen) != len(want) {
						t.Errorf("%s met %d transcripts, want %d", tc.name, len(seen), len(want))
					}
				})
			}
		}

		// by-date is reachable by path though no listing shows it.
		svc := e.completed(true)[0].ServiceSID
		ents, err := os.ReadDir(e.svcDir(svc))
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, d := range ents {
			names = append(names, d.Name())
		}
		if got := strings.Join(names, " "); got != "service.json transcripts transcripts.jsonl" {
			t.Errorf("services/<GA> lists %q", got)
		}
		ti := e.sim.Transcripts(svc)[0]
		day := filepath.Join(e.svcDir(svc), "by-date", ti.DateCreated.UTC().Format("2006/01/02"))
		if _, err := os.Stat(filepath.Join(day, ti.SID, "transcript.json")); err != nil {
			t.Errorf("by-date by path: %v", err)
		}
	})
}

// TestOwnerWritableModes: files report 0600 and folders 0700 (group and
// others per --umask), so a copy is its owner's to delete; the mount stays
// read-only.
func TestOwnerWritableModes(t *testing.T) {
	for _, tc := range []struct {
		name        string
		umask       *uint32
		file, dir   os.FileMode
		deleteAsUID bool
	}{
		{"private", nil, 0600, 0700, true},
		{"umask 0027", func() *uint32 { m := uint32(0o027); return &m }(), 0640, 0750, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, twiliosim.Options{Corpus: twiliosim.CorpusOptions{Seed: 18, TranscriptsPerService: 2}}, fetch.Config{}, func(o *Options) { o.Umask = tc.umask })
			ti := e.completed(true)[0]
			dir := e.tDir(ti.ServiceSID, ti.SID)
			for _, p := range []string{filepath.Join(dir, "sentences.json"), filepath.Join(dir, "transcript.json"), filepath.Join(e.svcDir(ti.ServiceSID), "transcripts.jsonl")} {
				if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != tc.file {
					t.Errorf("%s: %v %v, want %v", p, fi.Mode(), err, tc.file)
				}
			}
			// Every kind of folder (they share one Getattr: folder).
			svc := e.svcDir(ti.ServiceSID)
			for _, p := range []string{e.mnt, filepath.Join(e.mnt, "services"), filepath.Join(e.mnt, "transcripts"), svc,
				filepath.Join(svc, "transcripts"), filepath.Join(svc, "by-date"), dir, filepath.Join(dir, "operator-results")} {
				if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != tc.dir {
					t.Errorf("%s: %v %v, want %v", p, fi.Mode(), err, tc.dir)
				}
			}
			if err := os.WriteFile(filepath.Join(dir, "sentences.json"), nil, 0600); !errors.Is(err, syscall.EROFS) {
				t.Errorf("write: %v, want EROFS", err)
			}
			if !tc.deleteAsUID {
				return
			}
			// cp -r the transcript, hand the copy to an unprivileged
			// user, who must be able to delete it.
			base, err := os.MkdirTemp("", "copy")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.RemoveAll(base) })
			if err := os.Chown(base, 65534, 65534); err != nil {
				t.Fatal(err)
			}
			dst := filepath.Join(base, "copy")
			if out, err := exec.Command("cp", "-r", dir, dst).CombinedOutput(); err != nil {
				t.Fatalf("cp -r: %v: %s", err, out)
			}
			if out, err := exec.Command("chown", "-R", "65534:65534", dst).CombinedOutput(); err != nil {
				t.Fatalf("chown: %v: %s", err, out)
			}
			if out, err := exec.Command("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "rm", "-rf", dst).CombinedOutput(); err != nil {
				t.Fatalf("the copy's owner cannot delete it: %v: %s", err, out)
			}
			if _, err := os.Stat(dst); !os.IsNotExist(err) {
				t.Errorf("copy still there: %v", err)
			}
		})
	}
}

// TestStatfsBlocksAtime: df and stat -f see the cache budget and a name
// length of 255, du sees blocks, atime is mtime.
func TestStatfsBlocksAtime(t *testing.T) {
	const cacheSize = 64 << 20
	e := newEnv(t, twiliosim.Options{Corpus: twiliosim.CorpusOptions{Seed: 19, TranscriptsPerService: 2}}, fetch.Config{}, func(o *Options) { o.CacheSize = cacheSize })
	ti := e.completed(true)[0]
	dir := e.tDir(ti.ServiceSID, ti.SID)
	for _, p := range []string{e.mnt, dir} {
		var st syscall.Statfs_t
		if err := syscall.Statfs(p, &st); err != nil {
			t.Fatal(err)
		}
		if st.Namelen != 255 || st.Bsize != 4096 || st.Blocks != cacheSize/4096 || st.Bavail > st.Blocks {
			t.Errorf("statfs %s: namelen %d bsize %d blocks %d avail %d", p, st.Namelen, st.Bsize, st.Blocks, st.Bavail)
		}
	}
	out := run(t, e.mnt, "df", "-k", ".")
	if !bytes.Contains(out, []byte(" 65536 ")) {
		t.Errorf("df shows no 64 MiB size:\n%s", out)
	}
	p := filepath.Join(dir, "sentences.json")
	var st syscall.Stat_t
	if err := syscall.Stat(p, &st); err != nil {
		t.Fatal(err)
	}
	if st.Size == 0 || st.Blocks != (st.Size+511)/512 {
		t.Errorf("size %d blocks %d", st.Size, st.Blocks)
	}
	if st.Atim != st.Mtim || st.Atim.Sec < 1e9 {
		t.Errorf("atime %v mtime %v", st.Atim, st.Mtim)
	}
	if du := strings.Fields(string(run(t, dir, "du", "-s", ".")))[0]; du == "0" {
		t.Errorf("du -s of a read transcript: 0")
	}
}

// TestTranscriptsJSONL: services/<GA>/transcripts.jsonl holds one line per
// transcript, each the resource transcript.json serves, made from the
// listing alone, and it follows the listing's refresh.
func TestTranscriptsJSONL(t *testing.T) {
	inKernelModes(t, func(t *testing.T, m kernelMode) {
		const dirCacheTime = 500 * time.Millisecond
		e := newEnv(t, twiliosim.Options{Corpus: twiliosim.CorpusOptions{Seed: 20, TranscriptsPerService: 25}}, fetch.Config{}, m.tweak(func(o *Options) { o.DirCacheTime = dirCacheTime }))
		svc := e.completed(true)[0].ServiceSID
		idx := filepath.Join(e.svcDir(svc), "transcripts.jsonl")
		check := func(t *testing.T) {
			t.Helper()
			want := e.sim.Transcripts(svc)
			var lines [][]byte
			sc := bufio.NewScanner(bytes.NewReader(run(t, e.mnt, "cat", idx)))
			sc.Buffer(nil, 1<<20)
			for sc.Scan() {
				lines = append(lines, bytes.Clone(sc.Bytes()))
			}
			if len(lines) != len(want) {
				t.Fatalf("%d lines, want %d", len(lines), len(want))
			}
			for i, ti := range want {
				var got, exp map[string]any
				if err := json.Unmarshal(lines[i], &got); err != nil {
					t.Fatalf("line %d: %v", i+1, err)
				}
				if err := json.Unmarshal(e.sim.TranscriptJSON(ti.SID), &exp); err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, exp) {
					t.Fatalf("line %d:\n got %s\nwant %s", i+1, lines[i], e.sim.TranscriptJSON(ti.SID))
				}
			}
			// jq reads it as a stream of resources that carry their SIDs.
			if n := strings.Count(string(run(t, e.mnt, "jq", "-r", ".sid", idx)), "GT"); n != len(want) {
				t.Errorf("jq .sid: %d SIDs, want %d", n, len(want))
			}
		}
		e.sim.ResetCounts()
		check(t)
		// Listing requests only (a refresh re-reads unfinished transcripts
		// when --dir-cache-time passed between the reads): no content.
		for _, ep := range []string{twiliosim.EndpointListSentences, twiliosim.EndpointEncryptedSentences, twiliosim.EndpointListOperatorResults,
			twiliosim.EndpointFetchOperatorResult, twiliosim.EndpointEncryptedOperatorResults, twiliosim.EndpointObjectGet} {
			if n := e.sim.Count(ep); n != 0 {
				t.Errorf("reading transcripts.jsonl made %d %s requests", n, ep)
			}
		}
		if _, err := e.sim.AddTranscripts(svc, 2); err != nil {
			t.Fatal(err)
		}
		time.Sleep(dirCacheTime + 200*time.Millisecond)
		check(t)
		// python3 reads it as pandas/DuckDB users would, line by line.
		out := run(t, e.mnt, "python3", "-c", `import json,sys; print(sum(1 for l in open(sys.argv[1]) if json.loads(l)["service_sid"]))`, idx)
		if strings.TrimSpace(string(out)) != strconv.Itoa(len(e.sim.Transcripts(svc))) {
			t.Errorf("python3 counted %s", out)
		}
	})
}

// TestSpeakerLabels: sentences.txt names the speakers from the
// transcript's channel participants (the labels themselves are tested in
// package sentencetext).
func TestSpeakerLabels(t *testing.T) {
	// Mounted: the simulator's transcripts name Agent and Customer.
	e := newEnv(t, twiliosim.Options{Corpus: twiliosim.CorpusOptions{Seed: 21, TranscriptsPerService: 2}}, fetch.Config{}, nil)
	ti := e.completed(true)[0]
	txt := run(t, e.mnt, "cat", filepath.Join(e.tDir(ti.ServiceSID, ti.SID), "sentences.txt"))
	for _, who := range []string{"agent", "customer"} {
		if !regexp.MustCompile(`(?m)^\[\d\d:\d\d\.\d\] ` + who + `: `).Match(txt) {
			t.Errorf("sentences.txt has no %s: line:\n%s", who, txt)
		}
	}
}
