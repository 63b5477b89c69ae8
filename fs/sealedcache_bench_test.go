package fs

import (
	"context"
	"flag"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/intelligencefs/intelligencefs/crypto"
	"github.com/intelligencefs/intelligencefs/fetch"
	"github.com/intelligencefs/intelligencefs/fetch/record"
	"github.com/intelligencefs/intelligencefs/fetch/sealedcache"
	"github.com/intelligencefs/intelligencefs/fetch/twiliosim"
)

var benchSealedN = flag.Int("fs.sealedN", 1000, "transcripts in the sealed-cache scan benchmark")

// sealedClient is a client of e's simulator with a sealed cache in dir, as
// a new process mounting with --sealed-cache DIR would have.
func (e *env) sealedClient(b *testing.B, dir string) *fetch.Client {
	store, err := sealedcache.Open(sealedcache.Options{Dir: dir, SealKey: e.ring.DeriveSecret(sealedcache.SealKeyLabel)})
	if err != nil {
		b.Fatal(err)
	}
	c, err := fetch.New(fetch.Config{AccountSID: e.sim.AccountSID, AuthToken: e.sim.AuthToken, APIURL: e.sim.URL,
		WordTimestamps: true, SealedCache: store})
	if err != nil {
		b.Fatal(err)
	}
	return c
}

// BenchmarkSealedScan times, side by side in each run, a cold `grep -r
// --include=sentences.json` over N encrypted transcripts (20 ms per
// request) on a fresh mount: without a sealed cache, with an empty one
// (the first scan, which fills it), and on a remount over the filled one.
// The remount's floor is the listing (timed on its own) plus RSA-OAEP and
// AES-GCM of every sentences object spread over the machine's cores.
// Medians of -fs.runs runs; the remount's requests other than listings are
// reported (the target is none).
func BenchmarkSealedScan(b *testing.B) {
	requireFUSE(b)
	n := *benchSealedN
	lat := *benchLatency
	e, svc := newColdEnv(b, n)
	envs := sealedEnvelopes(b, e, svc)
	var without, first, remount, floor, listing, decrypt []time.Duration
	var contentReqs, listReqs []int64
	scan := func(o Options) (time.Duration, *twiliosim.Server) {
		e.sim.SetFaults(twiliosim.Faults{APILatency: lat, ObjectLatency: lat})
		mnt, _, stop := mountBench(b, o)
		defer stop()
		e.sim.ResetCounts()
		return grepTree(b, filepath.Join(mnt, "services", svc, "transcripts"), "sentences.json"), e.sim
	}
	for b.Loop() {
		for range max(*benchRuns, 1) {
			d, _ := scan(e.opts)
			without = append(without, d)

			dir := filepath.Join(b.TempDir(), "sealed")
			c := e.sealedClient(b, dir)
			o := e.opts
			o.Source = c
			d, _ = scan(o)
			first = append(first, d)
			c.Close() // the process ends: its queued writes land

			c = e.sealedClient(b, dir)
			o.Source = c
			d, sim := scan(o)
			remount = append(remount, d)
			cnt := sim.Counts()
			listReqs = append(listReqs, cnt[twiliosim.EndpointListTranscripts]+cnt[twiliosim.EndpointListServices])
			contentReqs = append(contentReqs, requestCount(sim)-listReqs[len(listReqs)-1])
			c.Close()

			l := timeListing(b, e, svc, lat)
			dc := parallelDecrypt(b, e.ring, envs)
			listing, decrypt = append(listing, l), append(decrypt, dc)
			floor = append(floor, l+dc)
		}
	}
	e.sim.SetFaults(twiliosim.Faults{})
	b.Logf("without %v\nfirst %v\nremount %v\nfloor %v (decrypt %v)", without, first, remount, floor, decrypt)
	mw, mf, mr, fl := median(without), median(first), median(remount), median(floor)
	b.ReportMetric(mw.Seconds(), "s_without")
	b.ReportMetric(mf.Seconds(), "s_first")
	b.ReportMetric(mr.Seconds(), "s_remount")
	b.ReportMetric(fl.Seconds(), "s_floor")
	b.ReportMetric(median(listing).Seconds(), "s_floor_listing")
	b.ReportMetric(median(decrypt).Seconds(), "s_floor_decrypt")
	b.ReportMetric(float64(mf)/float64(mw), "x_first_without")
	b.ReportMetric(float64(mr)/float64(fl), "x_remount_floor")
	b.ReportMetric(float64(slicesMax(contentReqs)), "remount_other_requests")
	b.ReportMetric(float64(slicesMax(listReqs)), "remount_list_requests")
	if slicesMax(contentReqs) != 0 {
		b.Errorf("the remount made %v requests other than listings", contentReqs)
	}
}

func slicesMax(v []int64) int64 {
	var m int64
	for _, x := range v {
		m = max(m, x)
	}
	return m
}

// sealedEnvelopes downloads (untimed) the sentences envelope of every
// completed transcript of svc: what the floor decrypts.
func sealedEnvelopes(b *testing.B, e *env, svc string) []sealedObject {
	ctx := context.Background()
	var out []sealedObject
	err := e.client.ListTranscripts(ctx, record.TranscriptQuery{ServiceSID: svc}, func(p []record.Transcript) error {
		for _, t := range p {
			if !t.Completed() {
				continue
			}
			env, err := e.client.EncryptedSentences(ctx, t.SID)
			if err != nil {
				return err
			}
			out = append(out, sealedObject{t.EncryptionCredentialSID, env})
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return out
}

type sealedObject struct {
	credential string
	env        crypto.Envelope
}

// timeListing is the listing part of the floor: every page of svc's
// transcripts at the benchmark's latency.
func timeListing(b *testing.B, e *env, svc string, lat time.Duration) time.Duration {
	e.sim.SetFaults(twiliosim.Faults{APILatency: lat, ObjectLatency: lat})
	defer e.sim.SetFaults(twiliosim.Faults{})
	t0 := time.Now()
	if err := e.client.ListTranscripts(context.Background(), record.TranscriptQuery{ServiceSID: svc}, func([]record.Transcript) error { return nil }); err != nil {
		b.Fatal(err)
	}
	return time.Since(t0)
}

// parallelDecrypt opens every object over NumCPU goroutines and returns the
// wall time: the crypto part of the floor.
func parallelDecrypt(b *testing.B, ring *crypto.Keyring, objs []sealedObject) time.Duration {
	t0 := time.Now()
	var wg sync.WaitGroup
	next := make(chan sealedObject)
	for range runtime.NumCPU() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for o := range next {
				pt, err := ring.Open(o.credential, o.env, nil)
				if err != nil {
					b.Error(err)
				}
				clear(pt)
			}
		}()
	}
	for _, o := range objs {
		next <- o
	}
	close(next)
	wg.Wait()
	return time.Since(t0)
}
