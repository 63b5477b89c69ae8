package web

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/intelligencefs/intelligencefs/fetch/twiliosim"
	"github.com/intelligencefs/intelligencefs/fs/sentencetext"
)

// BenchmarkTranscriptPage measures the server time of a transcript page of
// about 500 sentences (target: a warm page under 50 ms), cold (a fresh
// cache: one fetch and decrypt) and warm, by calling the handler directly.
func BenchmarkTranscriptPage(b *testing.B) {
	v := newViewerOf(b, twiliosim.CorpusOptions{Seed: 20, TranscriptsPerService: 2, SentencesBytes: 400 << 10,
		NoPlainService: true, NoMixedService: true}, func(o *Options) { o.Prefetch = -1 })
	var tr twiliosim.TranscriptInfo
	for _, x := range v.sim.Transcripts(v.sim.Services()[0].SID) {
		if x.Status == twiliosim.StatusCompleted {
			tr = x
		}
	}
	ss, err := sentencetext.Parse(v.sim.SentencesPlaintext(tr.SID, tr.Redaction))
	if err != nil {
		b.Fatal(err)
	}
	page := func() {
		req := httptest.NewRequest("GET", "/transcripts/"+tr.SID, nil)
		req.Host = v.host
		req.AddCookie(&http.Cookie{Name: v.handler.CookieName(), Value: testToken})
		w := httptest.NewRecorder()
		v.handler.ServeHTTP(w, req)
		if w.Code != 200 {
			b.Fatalf("page: %d", w.Code)
		}
	}
	b.Run("warm", func(b *testing.B) {
		page() // fills the cache
		v.sim.ResetCounts()
		for b.Loop() {
			page()
		}
		if n := contentRequests(v.sim); n != 0 {
			b.Fatalf("warm pages made %d content requests", n)
		}
		b.ReportMetric(float64(len(ss)), "sentences")
	})
}
