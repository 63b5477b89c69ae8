package fs

import (
	"bytes"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/intelligencefs/intelligencefs/fetch"
	"github.com/intelligencefs/intelligencefs/fetch/twiliosim"
)

// catFile reads a file with cat(1) and returns its output, or the errno
// cat reported.
func catFile(t *testing.T, p string) ([]byte, syscall.Errno) {
	t.Helper()
	var out, stderr bytes.Buffer
	cmd := exec.Command("cat", p)
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err == nil {
		return out.Bytes(), 0
	}
	for _, e := range []syscall.Errno{syscall.EIO, syscall.ENOENT, syscall.EACCES} {
		if strings.Contains(strings.ToLower(stderr.String()), e.Error()) {
			return out.Bytes(), e
		}
	}
	t.Fatalf("cat %s: %s", p, stderr.String())
	return nil, 0
}

// fidelityEnv mounts a small corpus with short retries and a short
// back-off for missing content.
func fidelityEnv(t *testing.T, simOpts twiliosim.Options) *env {
	t.Helper()
	if simOpts.Corpus.Seed == 0 {
		simOpts.Corpus = twiliosim.CorpusOptions{Seed: 29, TranscriptsPerService: 6}
	}
	return newEnv(t, simOpts,
		fetch.Config{MaxAttempts: 2, MaxRetryTime: 2 * time.Second, Timeout: 1500 * time.Millisecond},
		func(o *Options) { o.MissingContentRetry = time.Second })
}

// pickTranscript returns a completed transcript of the service with that
// unique name, encrypted or not, with operator results.
func pickTranscript(t *testing.T, e *env, unique string, encrypted bool) twiliosim.TranscriptInfo {
	t.Helper()
	for _, ti := range e.sim.Transcripts(e.sim.ServiceSID(unique)) {
		if ti.Status == "completed" && (ti.EncryptionCredentialSID != "") == encrypted &&
			len(e.sim.OperatorResultPlaintexts(ti.SID, ti.Redaction)) > 1 {
			return ti
		}
	}
	t.Fatalf("no completed transcript (encrypted %v) with operator results in %s", encrypted, unique)
	return twiliosim.TranscriptInfo{}
}

// oneLine returns the single warn/error line logged since before, failing
// unless there is exactly one, naming sid and holding each of want.
func oneLine(t *testing.T, e *env, before int, sid string, want ...string) string {
	t.Helper()
	all := problemLines(e.logs.String()[before:], "")
	if len(all) != 1 || !strings.Contains(all[0], sid) {
		t.Errorf("want one warn/error line naming %s, got %d:\n%s", sid, len(all), strings.Join(all, "\n"))
		return ""
	}
	for _, w := range want {
		if !strings.Contains(all[0], w) {
			t.Errorf("log line lacks %q: %s", w, all[0])
		}
	}
	return all[0]
}

// TestContentNotFoundIsNotDeletion: a not-found from a content path (404
// from the object store, a null location, null locations) is checked
// against the Transcript resource; while it exists the file fails with EIO
// and one log line, the transcript stays, reads during the back-off fail
// without requests, and the file reads again once the fault clears. Only
// the transcript's own 404 removes it.
func TestContentNotFoundIsNotDeletion(t *testing.T) {
	cases := []struct {
		name  string
		file  string
		fault func(sid string) twiliosim.Faults
	}{
		{"object-404", fSentences, func(sid string) twiliosim.Faults {
			return twiliosim.Faults{ObjectNotFound: twiliosim.Rule{Fraction: 1, TranscriptSID: sid}}
		}},
		{"location-null", fSentences, func(sid string) twiliosim.Faults {
			return twiliosim.Faults{NullLocations: twiliosim.Rule{Fraction: 1, TranscriptSID: sid}}
		}},
		{"locations-null", fOp1, func(sid string) twiliosim.Faults {
			return twiliosim.Faults{NullLocations: twiliosim.Rule{Fraction: 1, TranscriptSID: sid}}
		}},
		{"operator-result-object-404", fOp1, func(sid string) twiliosim.Faults {
			return twiliosim.Faults{ObjectNotFound: twiliosim.Rule{Fraction: 1, TranscriptSID: sid}}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := fidelityEnv(t, twiliosim.Options{})
			ti := pickTranscript(t, e, "call-centre-encrypted", true)
			want := e.expected(t, ti)[tc.file]
			dir := e.tDir(ti.ServiceSID, ti.SID)
			if _, err := os.ReadDir(dir); err != nil {
				t.Fatal(err)
			}
			e.sim.SetFaults(tc.fault(ti.SID))
			e.sim.ResetCounts()
			before := len(e.logs.String())
			got, errno := catFile(t, filepath.Join(dir, tc.file))
			if errno != syscall.EIO || len(got) != 0 {
				t.Fatalf("under the fault: errno %v, %d bytes; want EIO and nothing", errno, len(got))
			}
			oneLine(t, e, before, ti.SID, "content missing upstream although the transcript exists")
			if n := e.sim.Count(twiliosim.EndpointFetchTranscript); n != 1 {
				t.Errorf("%d transcript fetches to check, want 1", n)
			}
			// The transcript stays: its folder, its metadata.
			if _, err := os.Stat(filepath.Join(dir, "transcript.json")); err != nil {
				t.Errorf("transcript gone after a content not-found: %v", err)
			}
			// During the back-off: the same EIO, no request, no line.
			reqs, logged := requestCount(e.sim), len(e.logs.String())
			if _, errno := catFile(t, filepath.Join(dir, tc.file)); errno != syscall.EIO {
				t.Errorf("during the back-off: %v", errno)
			}
			if n := requestCount(e.sim) - reqs; n != 0 {
				t.Errorf("a read during the back-off made %d requests: %v", n, e.sim.Counts())
			}
			if l := problemLines(e.logs.String()[logged:], ""); len(l) != 0 {
				t.Errorf("a read during the back-off logged %q", l)
			}
			e.sim.SetFaults(twiliosim.Faults{})
			e.sim.ResetCounts()
			deadline := time.Now().Add(15 * time.Second)
			for {
				got, errno = catFile(t, filepath.Join(dir, tc.file))
				if errno == 0 || time.Now().After(deadline) {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			if errno != 0 || !bytes.Equal(got, want) {
				t.Fatalf("after the fault cleared: %v, %d bytes, want %d", errno, len(got), len(want))
			}
			if n := requestCount(e.sim); n > 4 {
				t.Errorf("recovery took %d requests: %v", n, e.sim.Counts())
			}
		})
	}
	t.Run("transcript-404-is-deletion", func(t *testing.T) {
		e := fidelityEnv(t, twiliosim.Options{})
		ti := pickTranscript(t, e, "call-centre-encrypted", true)
		dir := e.tDir(ti.ServiceSID, ti.SID)
		if _, err := os.ReadDir(dir); err != nil {
			t.Fatal(err)
		}
		e.sim.DeleteTranscript(ti.SID)
		before := len(e.logs.String())
		if _, errno := catFile(t, filepath.Join(dir, fSentences)); errno != syscall.ENOENT {
			t.Errorf("deleted transcript: %v, want ENOENT", errno)
		}
		if l := problemLines(e.logs.String()[before:], ""); len(l) != 0 {
			t.Errorf("a deletion logged %q", l)
		}
		// The deletion is handled in the background: wait for its line.
		for i := 0; !strings.Contains(e.logs.String()[before:], "transcript deleted upstream"); i++ {
			if i == 100 {
				t.Fatal("no info line for the deletion")
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
}

// TestOperatorResultIdentity: n.json is the result at position n of the
// first answer, whatever order later answers use; a refresh after the store
// refused a location updates the mount's locations (one refresh for all
// files), expiry is read from the URLs, and a result naming another
// transcript is refused with EIO and one line.
func TestOperatorResultIdentity(t *testing.T) {
	t.Run("swapped-object-refused", func(t *testing.T) {
		e := fidelityEnv(t, twiliosim.Options{})
		ti := pickTranscript(t, e, "call-centre-encrypted", true)
		p := filepath.Join(e.tDir(ti.ServiceSID, ti.SID), fOp1)
		e.sim.SetFaults(twiliosim.Faults{SwapOperatorResults: twiliosim.Rule{Fraction: 1, TranscriptSID: ti.SID}})
		before := len(e.logs.String())
		if got, errno := catFile(t, p); errno != syscall.EIO || len(got) != 0 {
			t.Fatalf("swapped result: %v, %d bytes", errno, len(got))
		}
		oneLine(t, e, before, ti.SID, "operator result of another transcript", "names transcript GT")
		e.sim.SetFaults(twiliosim.Faults{})
		if got, errno := catFile(t, p); errno != 0 || !bytes.Equal(got, e.expected(t, ti)[fOp1]) {
			t.Errorf("after the swap stopped: %v, %d bytes", errno, len(got))
		}
	})
	t.Run("expired-reordered-locations", func(t *testing.T) {
		e := fidelityEnv(t, twiliosim.Options{})
		ti := pickTranscript(t, e, "call-centre-encrypted", true)
		want := e.expected(t, ti)
		// The first answer's URLs are expired (the mount sees it in
		// X-Amz-Date + X-Amz-Expires); the second lists them reversed.
		e.sim.SetFaults(twiliosim.Faults{ExpiredURLs: twiliosim.Rule{Times: 1, TranscriptSID: ti.SID}, ReverseLocations: true})
		e.sim.ResetCounts()
		got := readTree(t, filepath.Join(e.tDir(ti.ServiceSID, ti.SID), "operator-results"))
		for name, g := range got {
			if w := want["operator-results/"+name]; !bytes.Equal(g, w) {
				t.Errorf("%s: another result (%d bytes, want %d)", name, len(g), len(w))
			}
		}
		if len(got) != len(e.sim.OperatorResultPlaintexts(ti.SID, ti.Redaction)) {
			t.Errorf("%d results", len(got))
		}
		if n := e.sim.Count(twiliosim.EndpointEncryptedOperatorResults); n != 2 {
			t.Errorf("%d locations requests, want 2 (the expired answer, one fresh)", n)
		}
		if n := e.sim.Count(twiliosim.CounterFaultPrefix + "ExpiredURLs"); n != 1 {
			t.Errorf("expired answers: %d", n)
		}
		if n := e.sim.Count(twiliosim.EndpointObjectGet); n != int64(len(got)) {
			t.Errorf("%d downloads for %d results: an expired URL was used", n, len(got))
		}
	})
	t.Run("refresh-inside-fetch-updates-locations", func(t *testing.T) {
		var offset atomic.Int64
		now := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
		e := fidelityEnv(t, twiliosim.Options{Now: now})
		ti := pickTranscript(t, e, "call-centre-encrypted", true)
		want := e.expected(t, ti)
		dir := filepath.Join(e.tDir(ti.ServiceSID, ti.SID), "operator-results")
		if _, err := os.ReadDir(dir); err != nil { // the locations, valid by their own dates
			t.Fatal(err)
		}
		// The store's clock moves on: the cached URLs are refused though
		// their dates say they are valid.
		offset.Store(int64(time.Hour))
		e.sim.ResetCounts()
		got := readTree(t, dir)
		for name, g := range got {
			if !bytes.Equal(g, want["operator-results/"+name]) {
				t.Errorf("%s differs", name)
			}
		}
		if len(got) < 2 {
			t.Fatalf("%d results", len(got))
		}
		if n := e.sim.Count(twiliosim.EndpointEncryptedOperatorResults); n != 1 {
			t.Errorf("%d locations requests for %d results after the URLs were refused, want 1", n, len(got))
		}
	})
}

// TestByDateOnlyThatDay: a day folder holds only that day's transcripts
// when the server ignores or widens the date filters.
func TestByDateOnlyThatDay(t *testing.T) {
	for _, f := range []twiliosim.Faults{{IgnoreDateFilters: true}, {DateFilterSlack: 30 * time.Hour}} {
		t.Run(fmt.Sprintf("%+v", f), func(t *testing.T) {
			e := fidelityEnv(t, twiliosim.Options{Corpus: twiliosim.CorpusOptions{Seed: 31, TranscriptsPerService: 30, Days: 10}})
			e.sim.SetFaults(f)
			svc := e.sim.ServiceSID("call-centre-plain")
			all := e.sim.Transcripts(svc)
			day := all[len(all)/2].DateCreated.UTC()
			var want []string
			for _, ti := range all {
				if ti.DateCreated.UTC().Format(time.DateOnly) == day.Format(time.DateOnly) {
					want = append(want, ti.SID)
				}
			}
			sort.Strings(want)
			dir := filepath.Join(e.svcDir(svc), "by-date", day.Format("2006"), day.Format("01"), day.Format("02"))
			ents, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, d := range ents {
				got = append(got, d.Name())
			}
			if strings.Join(got, " ") != strings.Join(want, " ") {
				t.Errorf("%s holds %v, want %v", day.Format(time.DateOnly), got, want)
			}
		})
	}
}

// TestTwilioErrorsOnMount: what Twilio (or a proxy) answered reaches the one
// log line of a failed read, with the errno of DESIGN.md §5.
func TestTwilioErrorsOnMount(t *testing.T) {
	cases := []struct {
		name   string
		faults twiliosim.Faults
		errno  syscall.Errno
		want   []string
		reject []string
	}{
		{"403-forbidden", twiliosim.Faults{ForbiddenCredentials: true}, syscall.EACCES,
			[]string{"access forbidden by the API", "20403 Forbidden", "restricted API key"}, []string{"rejected"}},
		{"401-rejected", twiliosim.Faults{WrongCredentials: true}, syscall.EACCES,
			[]string{"credentials rejected by the API", "20003 Authenticate"}, nil},
		{"html-502", twiliosim.Faults{ServerError: twiliosim.Rule{Fraction: 1}, ServerErrorStatus: 502, ServerErrorHTML: true}, syscall.EIO,
			[]string{"upstream unavailable", "text/html body", "502 Bad Gateway"}, []string{"invalid character", "decoding"}},
		{"501", twiliosim.Faults{ServerError: twiliosim.Rule{Fraction: 1}, ServerErrorStatus: 501}, syscall.EIO,
			[]string{"upstream request failed", "not implemented by the API"}, []string{"unavailable"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := fidelityEnv(t, twiliosim.Options{})
			ti := pickTranscript(t, e, "call-centre-encrypted", true)
			dir := e.tDir(ti.ServiceSID, ti.SID)
			if _, err := os.ReadDir(dir); err != nil {
				t.Fatal(err)
			}
			e.sim.SetFaults(tc.faults)
			before := len(e.logs.String())
			if got, errno := catFile(t, filepath.Join(dir, fSentences)); errno != tc.errno || len(got) != 0 {
				t.Errorf("errno %v, %d bytes; want %v", errno, len(got), tc.errno)
			}
			line := oneLine(t, e, before, ti.SID, tc.want...)
			for _, r := range tc.reject {
				if strings.Contains(line, r) {
					t.Errorf("log line has %q: %s", r, line)
				}
			}
			e.sim.SetFaults(twiliosim.Faults{})
			if got, errno := catFile(t, filepath.Join(dir, fSentences)); errno != 0 || !bytes.Equal(got, e.expected(t, ti)[fSentences]) {
				t.Errorf("after the fault cleared: %v, %d bytes", errno, len(got))
			}
		})
	}
}

// TestSmallerFidelityOnMount: a service's unique name resolves without
// GET /v2/Services/{unique_name}, and a server refusing Sentences pages of
// 5000 still yields the plain sentences (one refusal for the mount).
func TestSmallerFidelityOnMount(t *testing.T) {
	e := fidelityEnv(t, twiliosim.Options{})
	e.sim.SetFaults(twiliosim.Faults{NoUniqueNameFetch: true, MaxSentencePageSize: 1000})
	svc := e.sim.ServiceSID("call-centre-plain")
	if l, err := os.Readlink(filepath.Join(e.mnt, "services", "call-centre-plain")); err != nil || l != svc {
		t.Errorf("unique name link: %q, %v", l, err)
	}
	if _, err := os.ReadFile(filepath.Join(e.mnt, "services", "call-centre-plain", "service.json")); err != nil {
		t.Errorf("through the link: %v", err)
	}
	var tis []twiliosim.TranscriptInfo
	for _, ti := range e.sim.Transcripts(svc) {
		if ti.Status == "completed" && len(tis) < 2 {
			tis = append(tis, ti)
		}
	}
	e.sim.ResetCounts()
	for _, ti := range tis {
		got, errno := catFile(t, filepath.Join(e.tDir(svc, ti.SID), fSentences))
		if want := e.expected(t, ti)[fSentences]; errno != 0 || !bytes.Equal(got, want) {
			t.Errorf("%s: %v, %d bytes, want %d", ti.SID, errno, len(got), len(want))
		}
	}
	if n := e.sim.Count(twiliosim.EndpointListSentences); n != int64(len(tis))+1 {
		t.Errorf("%d Sentences requests for %d documents, want one refusal only", n, len(tis))
	}
}

// TestObjectStoreTLSOnMount: a presigned location whose host does not
// match the store's certificate fails the read with EIO and one line
// naming the host, without retries; the same file reads once the
// locations name a host the certificate covers.
func TestObjectStoreTLSOnMount(t *testing.T) {
	var sim atomic.Pointer[twiliosim.Server]
	front := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sim.Load().ServeHTTP(w, r)
	}))
	front.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes
	front.StartTLS()
	t.Cleanup(front.Close)
	// httptest's certificate names 127.0.0.1 and example.com, not localhost.
	port := front.URL[strings.LastIndexByte(front.URL, ':'):]
	e := newEnv(t, twiliosim.Options{Corpus: twiliosim.CorpusOptions{Seed: 29, TranscriptsPerService: 6}},
		fetch.Config{MaxAttempts: 3, Transport: front.Client().Transport.(*http.Transport).Clone()}, nil)
	sim.Store(e.sim)
	ti := pickTranscript(t, e, "call-centre-encrypted", true)
	p := filepath.Join(e.tDir(ti.ServiceSID, ti.SID), fSentences)
	e.sim.SetFaults(twiliosim.Faults{ObjectBaseURL: "https://localhost" + port})
	e.sim.ResetCounts()
	before := len(e.logs.String())
	if got, errno := catFile(t, p); errno != syscall.EIO || len(got) != 0 {
		t.Fatalf("certificate mismatch: %v, %d bytes", errno, len(got))
	}
	oneLine(t, e, before, ti.SID, "TLS handshake with the object store localhost failed", "certificate")
	if n := e.sim.Count(twiliosim.EndpointObjectGet); n != 0 {
		t.Errorf("%d objects served through a mismatched certificate", n)
	}
	e.sim.SetFaults(twiliosim.Faults{ObjectBaseURL: "https://127.0.0.1" + port})
	if got, errno := catFile(t, p); errno != 0 || !bytes.Equal(got, e.expected(t, ti)[fSentences]) {
		t.Errorf("through a matching certificate: %v, %d bytes", errno, len(got))
	}
}
