package fetch

import (
	"context"
	"errors"
	"github.com/intelligencefs/intelligencefs/fetch/record"
	"strings"
	"testing"

	"github.com/intelligencefs/intelligencefs/fetch/twiliosim"
)

// TestHostileListings: a server whose paging never ends (next_page_url
// names the same page, or pages stay empty but name a next one), or whose
// body is a compression bomb, ends each listing with one error after a
// handful of requests, never decoding more than it received. Before the
// fix the loop ran up to 1,048,576 pages and Go inflated gzip bodies
// transparently.
func TestHostileListings(t *testing.T) {
	s, _ := newSim(t, twiliosim.Options{Corpus: twiliosim.CorpusOptions{TranscriptsPerService: 6}})
	plain := pick(t, s, "call-centre", false)
	svc := s.ServiceSID("call-centre")
	all := twiliosim.Rule{Fraction: 1, Target: twiliosim.TargetAPI}
	lists := []struct {
		name     string
		endpoint string
		run      func(c *Client) error
	}{
		{"services", twiliosim.EndpointListServices, func(c *Client) error {
			_, err := c.ListServices(context.Background())
			return err
		}},
		{"transcripts", twiliosim.EndpointListTranscripts, func(c *Client) error {
			return c.ListTranscripts(context.Background(), record.TranscriptQuery{ServiceSID: svc}, func([]record.Transcript) error { return nil })
		}},
		{"sentences", twiliosim.EndpointListSentences, func(c *Client) error {
			_, err := c.PlainSentences(context.Background(), plain.SID)
			return err
		}},
		{"operator-results", twiliosim.EndpointListOperatorResults, func(c *Client) error {
			_, err := c.PlainOperatorResults(context.Background(), plain.SID)
			return err
		}},
	}
	faults := []struct {
		name   string
		f      twiliosim.Faults
		say    string
		maxReq int64
	}{
		{"page-loop", twiliosim.Faults{PageLoop: all}, "paging loop", 3},
		{"empty-pages", twiliosim.Faults{EmptyPages: all}, "empty but names a next page", 1},
		{"gzip-bomb", twiliosim.Faults{GzipBomb: all, GzipBombBytes: 64 << 20}, "content-encoded", 1},
	}
	for _, l := range lists {
		for _, f := range faults {
			t.Run(l.name+"/"+f.name, func(t *testing.T) {
				c, _ := simClient(t, s, nil)
				s.ResetCounts()
				s.SetFaults(f.f)
				defer s.SetFaults(twiliosim.Faults{})
				err := l.run(c)
				if err == nil || !strings.Contains(err.Error(), f.say) {
					t.Fatalf("err %v, want one saying %q", err, f.say)
				}
				assertClean(t, err)
				if n := s.Count(l.endpoint); n > f.maxReq {
					t.Errorf("%d requests, want at most %d", n, f.maxReq)
				}
				// Nothing decoded beyond what arrived: the bomb's 64 MiB
				// never exist in this process.
				if b := c.Stats().APIBytes; b > 1<<20 {
					t.Errorf("%d API bytes taken in", b)
				}
			})
		}
	}
}

// TestObjectGzipBomb: an object body sent gzip-encoded (inflating to
// 256 MiB, under the 512 MiB object cap) is refused as received, not
// inflated and handed on as ciphertext.
func TestObjectGzipBomb(t *testing.T) {
	s, _ := newSim(t, twiliosim.Options{Corpus: twiliosim.CorpusOptions{TranscriptsPerService: 6}})
	tr := pick(t, s, "call-centre-encrypted", true)
	c, _ := simClient(t, s, nil)
	s.SetFaults(twiliosim.Faults{GzipBomb: twiliosim.Rule{Fraction: 1, Target: twiliosim.TargetObjects}, GzipBombBytes: 256 << 20})
	defer s.SetFaults(twiliosim.Faults{})
	_, err := c.EncryptedSentences(context.Background(), tr.SID)
	if err == nil || !strings.Contains(err.Error(), "content-encoded") {
		t.Fatalf("err %v, want a refused encoding", err)
	}
	assertClean(t, err)
	if n := s.Count(twiliosim.EndpointObjectGet); n != 1 {
		t.Errorf("%d object requests, want 1 (not retried)", n)
	}
	if b := c.Stats().BytesDownloaded; b > 1<<20 {
		t.Errorf("%d object bytes taken in", b)
	}
}

// TestListingByteCaps: one API body beyond MaxAPIBodyBytes, or all pages of
// one listing beyond MaxListBytes, end the listing with an error.
func TestListingByteCaps(t *testing.T) {
	s, _ := newSim(t, twiliosim.Options{Corpus: twiliosim.CorpusOptions{TranscriptsPerService: 30}})
	svc := s.ServiceSID("call-centre")
	list := func(c *Client) (int, error) {
		n := 0
		err := c.ListTranscripts(context.Background(), record.TranscriptQuery{ServiceSID: svc, PageSize: 5}, func(p []record.Transcript) error {
			n += len(p)
			return nil
		})
		return n, err
	}
	c, _ := simClient(t, s, func(cfg *Config) { cfg.MaxListBytes = 12 << 10 })
	if n, err := list(c); err == nil || !strings.Contains(err.Error(), "listing exceeds 12288 bytes") {
		t.Fatalf("%d transcripts, err %v; want the listing cap", n, err)
	}
	c, _ = simClient(t, s, func(cfg *Config) { cfg.MaxAPIBodyBytes = 4 << 10 })
	if _, err := list(c); !errors.Is(err, errBodyTooLarge) {
		t.Fatalf("err %v, want the API body cap", err)
	}
	c, _ = simClient(t, s, nil)
	if n, err := list(c); err != nil || n != len(s.Transcripts(svc)) {
		t.Fatalf("default caps: %d transcripts, %v", n, err)
	}
}
