package twiliosim

import (
	"net/url"
	"strconv"
	"testing"
	"time"
)

// pageAll follows next_page_url from first and returns the SIDs in order.
func pageAll(t *testing.T, s *Server, first string, between func(page int)) []string {
	t.Helper()
	var sids []string
	next := first
	for page := 0; next != ""; page++ {
		r := do(t, s, "GET", next, nil)
		if r.status != 200 {
			t.Fatalf("page %d: %d %s", page, r.status, r.body)
		}
		m := r.json(t)
		meta := m["meta"].(map[string]any)
		if meta["page"] != float64(page) {
			t.Fatalf("page %v, want %d", meta["page"], page)
		}
		for _, it := range m[meta["key"].(string)].([]any) {
			sids = append(sids, it.(map[string]any)["sid"].(string))
		}
		next, _ = meta["next_page_url"].(string)
		if between != nil {
			between(page)
		}
		if page > 10000 {
			t.Fatal("paging does not end")
		}
	}
	return sids
}

func TestTranscriptPagingMatchesGroundTruth(t *testing.T) {
	s := newTestServer(t, Options{Corpus: CorpusOptions{TranscriptsPerService: 37}})
	for _, size := range []int{1, 7, 50, 1000} {
		for _, svc := range []string{"", s.ServiceSID("call-centre-mixed")} {
			q := url.Values{"PageSize": {strconv.Itoa(size)}}
			if svc != "" {
				q.Set("ServiceSid", svc)
			}
			got := pageAll(t, s, "/v2/Transcripts?"+q.Encode(), nil)
			var want []string
			for _, x := range s.Transcripts(svc) {
				want = append(want, x.SID)
			}
			if !equalStrings(got, want) {
				t.Fatalf("size %d svc %q: got %d sids, want %d (or order differs)", size, svc, len(got), len(want))
			}
		}
	}
	// newest first
	all := s.Transcripts("")
	for i := 1; i < len(all); i++ {
		if all[i].DateCreated.After(all[i-1].DateCreated) {
			t.Fatal("not newest first")
		}
	}
}

func TestTranscriptPagingStableUnderChanges(t *testing.T) {
	s := newTestServer(t, Options{Corpus: CorpusOptions{TranscriptsPerService: 30}})
	svc := s.ServiceSID("call-centre-plain")
	before := s.Transcripts(svc)
	deleted := map[string]bool{}
	got := pageAll(t, s, "/v2/Transcripts?PageSize=4&ServiceSid="+svc, func(page int) {
		// Between pages: add newer transcripts and delete one already seen
		// and one not yet seen.
		if _, err := s.AddTranscripts(svc, 2); err != nil {
			t.Fatal(err)
		}
		if page == 1 {
			s.DeleteTranscript(before[0].SID)
			s.DeleteTranscript(before[20].SID)
			deleted[before[20].SID] = true
		}
	})
	var want []string
	for _, x := range before {
		if !deleted[x.SID] {
			want = append(want, x.SID)
		}
	}
	if !equalStrings(got, want) {
		t.Fatalf("got %v\nwant %v", got, want)
	}
}

func TestPreviousPageURL(t *testing.T) {
	s := newTestServer(t, Options{Corpus: CorpusOptions{TranscriptsPerService: 10}})
	r := do(t, s, "GET", "/v2/Transcripts?PageSize=4", nil)
	meta := r.json(t)["meta"].(map[string]any)
	if meta["previous_page_url"] != nil {
		t.Fatal("first page has a previous page")
	}
	first := r.json(t)["transcripts"].([]any)
	r2 := do(t, s, "GET", meta["next_page_url"].(string), nil)
	prev := r2.json(t)["meta"].(map[string]any)["previous_page_url"].(string)
	r3 := do(t, s, "GET", prev, nil)
	back := r3.json(t)["transcripts"].([]any)
	if len(back) != 4 {
		t.Fatalf("%d on previous page", len(back))
	}
	for i := range back {
		if back[i].(map[string]any)["sid"] != first[i].(map[string]any)["sid"] {
			t.Fatalf("previous page differs at %d", i)
		}
	}
	if p := r3.json(t)["meta"].(map[string]any)["page"]; p != float64(0) {
		t.Fatalf("page %v", p)
	}
	// Page without a token is an offset.
	r4 := do(t, s, "GET", "/v2/Transcripts?PageSize=4&Page=1", nil)
	if a, b := r4.json(t)["transcripts"].([]any)[0], r2.json(t)["transcripts"].([]any)[0]; a.(map[string]any)["sid"] != b.(map[string]any)["sid"] {
		t.Fatal("Page=1 without token differs from next page")
	}
}

func TestTranscriptFilters(t *testing.T) {
	s := newTestServer(t, Options{Corpus: CorpusOptions{TranscriptsPerService: 60}})
	all := s.Transcripts("")
	mid := all[len(all)/2]
	mixed := s.ServiceSID("call-centre-mixed")
	iso := func(t time.Time) string { return t.Format(time.RFC3339) }
	tests := []struct {
		name  string
		q     url.Values
		match func(TranscriptInfo) bool
	}{
		{"ServiceSid", url.Values{"ServiceSid": {mixed}}, func(x TranscriptInfo) bool { return x.ServiceSID == mixed }},
		{"AfterDateCreated inclusive", url.Values{"AfterDateCreated": {iso(mid.DateCreated)}}, func(x TranscriptInfo) bool { return !x.DateCreated.Before(mid.DateCreated) }},
		{"BeforeDateCreated exclusive", url.Values{"BeforeDateCreated": {iso(mid.DateCreated)}}, func(x TranscriptInfo) bool { return x.DateCreated.Before(mid.DateCreated) }},
		{"date only", url.Values{"AfterDateCreated": {mid.DateCreated.Format("2006-01-02")}}, func(x TranscriptInfo) bool {
			return !x.DateCreated.Before(mid.DateCreated.Truncate(24 * time.Hour))
		}},
		{"AfterStartTime", url.Values{"AfterStartTime": {iso(mid.MediaStartTime)}}, func(x TranscriptInfo) bool {
			return !x.MediaStartTime.IsZero() && !x.MediaStartTime.Before(mid.MediaStartTime)
		}},
		{"BeforeStartTime", url.Values{"BeforeStartTime": {iso(mid.MediaStartTime)}}, func(x TranscriptInfo) bool {
			return !x.MediaStartTime.IsZero() && x.MediaStartTime.Before(mid.MediaStartTime)
		}},
		{"Status failed", url.Values{"Status": {StatusFailed}}, func(x TranscriptInfo) bool { return x.Status == StatusFailed }},
		{"Status in-progress", url.Values{"Status": {StatusInProgress}}, func(x TranscriptInfo) bool { return x.Status == StatusInProgress }},
		{"LanguageCode", url.Values{"LanguageCode": {"en-GB"}}, func(x TranscriptInfo) bool { return x.LanguageCode == "en-GB" }},
		{"SourceSid", url.Values{"SourceSid": {mid.SourceSID}}, func(x TranscriptInfo) bool { return x.SID == mid.SID }},
		{"combined", url.Values{"ServiceSid": {mixed}, "Status": {StatusCompleted}, "AfterDateCreated": {iso(mid.DateCreated)}}, func(x TranscriptInfo) bool {
			return x.ServiceSID == mixed && x.Status == StatusCompleted && !x.DateCreated.Before(mid.DateCreated)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := tc.q
			q.Set("PageSize", "9")
			got := pageAll(t, s, "/v2/Transcripts?"+q.Encode(), nil)
			var want []string
			for _, x := range all {
				if tc.match(x) {
					want = append(want, x.SID)
				}
			}
			if len(want) == 0 {
				t.Fatal("filter matches nothing: weak test")
			}
			if !equalStrings(got, want) {
				t.Fatalf("got %d, want %d", len(got), len(want))
			}
		})
	}
	// meta URLs repeat the filters first, in the spec's order, then paging.
	r := do(t, s, "GET", "/v2/Transcripts?Status=completed&ServiceSid="+mixed+"&AfterDateCreated=2026-01-05T00:00:00Z&PageSize=2", nil)
	meta := r.json(t)["meta"].(map[string]any)
	want := s.URL + "/v2/Transcripts?ServiceSid=" + mixed + "&AfterDateCreated=2026-01-05T00%3A00%3A00Z&Status=completed&PageSize=2&Page=0"
	if meta["url"] != want || meta["first_page_url"] != want {
		t.Fatalf("meta url %v, want %v", meta["url"], want)
	}
	if got := s.LastQuery(EndpointListTranscripts).Get("AfterDateCreated"); got != "2026-01-05T00:00:00Z" {
		t.Fatalf("LastQuery %q", got)
	}
}

func TestSentencesPaging(t *testing.T) {
	s := newTestServer(t, Options{})
	tr := firstWithStatus(t, s, "call-centre-plain", StatusCompleted, nil)
	got := pageAll(t, s, "/v2/Transcripts/"+tr.SID+"/Sentences?PageSize=3&WordTimestamps=true", nil)
	res := s.SentenceResources(tr.SID, false, true)
	if len(got) != len(res) || len(got) < 8 {
		t.Fatalf("%d sentences, want %d", len(got), len(res))
	}
	r := do(t, s, "GET", "/v2/Transcripts/"+tr.SID+"/Sentences?Redacted=true&WordTimestamps=true&PageSize=50", nil)
	want := s.URL + "/v2/Transcripts/" + tr.SID + "/Sentences?Redacted=true&WordTimestamps=true&PageSize=50&Page=0"
	if u := r.json(t)["meta"].(map[string]any)["url"]; u != want {
		t.Fatalf("url %v", u)
	}
}

func TestCorpusShape(t *testing.T) {
	s := newTestServer(t, Options{Corpus: CorpusOptions{TranscriptsPerService: 200, Rotation: true}})
	cr := s.CredentialSIDs()
	months := map[string]bool{}
	days := map[string]bool{}
	statuses := map[string]int{}
	for _, name := range []string{"call-centre-encrypted", "call-centre-plain", "call-centre-mixed"} {
		svc := s.ServiceSID(name)
		if svc == "" {
			t.Fatalf("no service %s", name)
		}
		creds := map[string]int{}
		for _, x := range s.Transcripts(svc) {
			creds[x.EncryptionCredentialSID]++
			statuses[x.Status]++
			months[x.DateCreated.Format("2006-01")] = true
			days[x.DateCreated.Format("2006-01-02")] = true
		}
		switch name {
		case "call-centre-encrypted":
			if creds[""] != 0 || creds[cr[0]] == 0 || creds[cr[1]] == 0 {
				t.Errorf("%s: credentials %v", name, creds)
			}
		case "call-centre-plain":
			if len(creds) != 1 || creds[""] != 200 {
				t.Errorf("%s: credentials %v", name, creds)
			}
		case "call-centre-mixed":
			if creds[""] == 0 || creds[cr[0]]+creds[cr[1]] == 0 {
				t.Errorf("%s: credentials %v", name, creds)
			}
		}
	}
	if len(months) < 2 || len(days) < 10 {
		t.Errorf("dates spread over %d months, %d days", len(months), len(days))
	}
	if statuses[StatusInProgress] == 0 || statuses[StatusFailed] == 0 || statuses[StatusFailed] > 60 {
		t.Errorf("statuses %v", statuses)
	}
	for _, svc := range s.Services() {
		if svc.UniqueName == "" {
			t.Errorf("service %s has no unique name", svc.SID)
		}
	}
	// Determinism: the same options give the same corpus and content.
	s2 := newTestServer(t, Options{Corpus: CorpusOptions{TranscriptsPerService: 200, Rotation: true}})
	a, b := s.Transcripts(""), s2.Transcripts("")
	if len(a) != len(b) || a[17] != b[17] {
		t.Fatal("corpus not deterministic")
	}
	if string(s.SentencesPlaintext(a[17].SID, false)) != string(s2.SentencesPlaintext(a[17].SID, false)) {
		t.Fatal("content not deterministic")
	}
	// A different seed gives different SIDs.
	s3 := newTestServer(t, Options{Corpus: CorpusOptions{Seed: 9, TranscriptsPerService: 200}})
	if s3.Transcripts("")[0].SID == a[0].SID {
		t.Fatal("seed ignored")
	}
}

func TestNoKeysMeansPlainOnly(t *testing.T) {
	s, err := NewServer(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if svcs := s.Services(); len(svcs) != 1 || svcs[0].UniqueName != "call-centre-plain" {
		t.Fatalf("services %+v", svcs)
	}
	if _, err := NewServer(Options{Corpus: CorpusOptions{Rotation: true}, Keys: []Credential{{PublicKey: &testKeys(t)[0].PublicKey}}}); err == nil {
		t.Fatal("rotation with one key accepted")
	}
}

// equalStrings compares two slices.
func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
