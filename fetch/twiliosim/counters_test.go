package twiliosim

import (
	"io"
	"net/http"
	"sync"
	"testing"
)

func TestCountersAndRequestLog(t *testing.T) {
	var mu sync.Mutex
	var log []RequestInfo
	s := newTestServer(t, Options{OnRequest: func(ri RequestInfo) {
		mu.Lock()
		log = append(log, ri)
		mu.Unlock()
	}})
	enc := firstWithStatus(t, s, "call-centre-encrypted", StatusCompleted, nil)
	do(t, s, "GET", "/v2/Services", nil)
	do(t, s, "GET", "/v2/Transcripts?PageSize=7&AfterDateCreated=2026-01-01T00:00:00Z", nil)
	do(t, s, "GET", "/v2/Transcripts/"+enc.SID, nil)
	loc := sentencesLocation(t, s, enc.SID, true)
	if _, err := getObject(t, loc); err != nil {
		t.Fatal(err)
	}
	do(t, s, "GET", "/v2/Transcripts/"+enc.SID+"/OperatorResults/Encrypted", nil)
	do(t, s, "GET", "/v2/Nope", nil)
	want := map[string]int64{
		EndpointListServices: 1, EndpointListTranscripts: 1, EndpointFetchTranscript: 1,
		EndpointEncryptedSentences: 1, EndpointObjectGet: 1, EndpointEncryptedOperatorResults: 1, EndpointUnknown: 1,
	}
	got := s.Counts()
	for k, v := range want {
		if got[k] != v || s.Count(k) != v {
			t.Errorf("%s: %d, want %d", k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("counts %v", got)
	}
	q := s.LastQuery(EndpointListTranscripts)
	if q.Get("PageSize") != "7" || q.Get("AfterDateCreated") != "2026-01-01T00:00:00Z" {
		t.Errorf("LastQuery %v", q)
	}
	if s.LastQuery(EndpointObjectGet) != nil {
		t.Error("object query recorded (it is a bearer credential)")
	}
	mu.Lock()
	if len(log) != 7 || log[4].Endpoint != EndpointObjectGet || log[4].TranscriptSID != enc.SID || log[4].Query != nil || log[4].Authorization {
		t.Errorf("log %+v", log)
	}
	mu.Unlock()
	s.ResetCounts()
	if len(s.Counts()) != 0 || s.LastQuery(EndpointListTranscripts) != nil {
		t.Error("ResetCounts left state")
	}
	// 401s are counted as requests and as Unauthorized.
	req, _ := http.NewRequest("GET", s.URL+"/v2/Services", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if s.Count(CounterUnauthorized) != 1 || s.Count(EndpointListServices) != 1 {
		t.Errorf("counts %v", s.Counts())
	}
}

// BenchmarkEncryptedSentences measures one location request plus one
// object download (50 KiB documents), in parallel.
func BenchmarkEncryptedSentences(b *testing.B) {
	s := newTestServer(b, Options{Corpus: CorpusOptions{SentencesBytes: 50 << 10, TranscriptsPerService: 1000}})
	var sids []string
	for _, x := range s.Transcripts(s.ServiceSID("call-centre-encrypted")) {
		if x.Status == StatusCompleted {
			sids = append(sids, x.SID)
		}
	}
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	c := &http.Client{Transport: tr}
	b.SetBytes(50 << 10)
	b.ResetTimer()
	var i int64
	var mu sync.Mutex
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			mu.Lock()
			sid := sids[int(i)%len(sids)]
			i++
			mu.Unlock()
			req, _ := http.NewRequest("GET", s.URL+"/v2/Transcripts/"+sid+"/Sentences/Encrypted", nil)
			req.SetBasicAuth(s.AccountSID, s.AuthToken)
			res, err := c.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			loc := string(body[len(`{"location":"`):])
			loc = loc[:indexByte(loc, '"')]
			res, err = c.Get(loc)
			if err != nil || res.StatusCode != 200 {
				b.Fatalf("%v", err)
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
		}
	})
}

// BenchmarkListTranscripts measures listing pages of 1000 transcripts.
func BenchmarkListTranscripts(b *testing.B) {
	s := newTestServer(b, Options{Corpus: CorpusOptions{TranscriptsPerService: 10000}})
	c := &http.Client{}
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		req, _ := http.NewRequest("GET", s.URL+"/v2/Transcripts?PageSize=1000&Page=3", nil)
		req.SetBasicAuth(s.AccountSID, s.AuthToken)
		res, err := c.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
	}
}

// indexByte is strings.IndexByte without the import.
func indexByte(s string, c byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return i
		}
	}
	return -1
}
