package fs

import (
	"bytes"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/intelligencefs/intelligencefs/fetch"
	"github.com/intelligencefs/intelligencefs/fetch/twiliosim"
)

// lookupLine matches a LOOKUP request in go-fuse's debug output
// (`rx 18: LOOKUP n1 "services" p7116`, quoted again by the text
// handler) and captures the name.
var lookupLine = regexp.MustCompile(`rx \d+: LOOKUP n\d+ +\\?"([^"\\]*)\\?"`)

// lookupsByName counts the LOOKUP requests in a debug log by name.
func lookupsByName(log string) map[string]int {
	n := map[string]int{}
	for _, m := range lookupLine.FindAllStringSubmatch(log, -1) {
		n[m[1]]++
	}
	return n
}

// TestAbsoluteWalkKeepsFixedFolders runs the same glob of absolute paths
// (`cat $MNT/services/<GA>/transcripts/*/sentences.json`, from outside the
// mount) several times and checks from the FUSE debug log that once warm
// the kernel looks none of the path's folders up again: the folders go-fuse
// would answer from its own children (services/, transcripts/, by-date/…)
// reach the kernel with the mount's entry and attribute timeouts, not
// zero. With zero, every file of every walk cost a LOOKUP of "services"
// and of "transcripts" (issue 12: 5.7× tmpfs).
func TestAbsoluteWalkKeepsFixedFolders(t *testing.T) {
	inKernelModes(t, func(t *testing.T, m kernelMode) {
		e := newEnv(t, twiliosim.Options{Corpus: twiliosim.CorpusOptions{Seed: 53, TranscriptsPerService: 6,
			NoPlainService: true, NoMixedService: true}}, fetch.Config{}, m.tweak(func(o *Options) { o.DebugFUSE = true }))
		tis := e.completed(true)
		svc := tis[0].ServiceSID
		var want []byte
		sort.Slice(tis, func(i, j int) bool { return tis[i].SID < tis[j].SID })
		for _, ti := range tis {
			want = append(want, e.expected(t, ti)["sentences.json"]...)
		}
		glob := func() {
			t.Helper()
			got := run(t, t.TempDir(), "sh", "-c", `cat "$0"/services/"$1"/transcripts/*/sentences.json`, e.mnt, svc)
			if !bytes.Equal(got, want) {
				t.Fatalf("the glob read %d bytes, want the %d sealed (%q…)", len(got), len(want), trunc(got))
			}
		}
		glob() // cold: every name is looked up once
		// The other fixed entries, by absolute path too.
		run(t, t.TempDir(), "sh", "-c", `ls "$0"/transcripts "$0"/services/"$1"/by-date >/dev/null && cat "$0"/services/"$1"/service.json >/dev/null`, e.mnt, svc)
		run(t, t.TempDir(), "sh", "-c", `cat "$0"/services/"$1"/transcripts.jsonl >/dev/null`, e.mnt, svc)
		before := lookupsByName(e.logs.String())
		if before["services"] == 0 {
			t.Fatalf("the debug log shows no LOOKUP of services at all: %v", before)
		}
		const rounds = 3
		for range rounds {
			glob()
			run(t, t.TempDir(), "sh", "-c", `ls "$0"/transcripts "$0"/services/"$1"/by-date >/dev/null && cat "$0"/services/"$1"/service.json >/dev/null`, e.mnt, svc)
		}
		after := lookupsByName(e.logs.String())
		var again []string
		for name, n := range after {
			if d := n - before[name]; d > 0 {
				again = append(again, name+"×"+strconv.Itoa(d))
			}
		}
		sort.Strings(again)
		if len(again) > 0 {
			t.Errorf("%d warm absolute walks looked up again: %s (want none: every name is known and kept)", rounds, strings.Join(again, ", "))
		}
	})
}
