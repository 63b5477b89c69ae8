package fs

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/intelligencefs/intelligencefs/fetch"
	"github.com/intelligencefs/intelligencefs/fetch/twiliosim"
)

// TestServiceJSONNotBehindRefresh: the attributes of service.json come from
// its folder, which has a lock of its own, so a stat of it never waits
// behind a services refresh in flight (the services list is refreshed
// without holding any lock; it used to hold the lock service.json's
// rendering took for the whole request).
func TestServiceJSONNotBehindRefresh(t *testing.T) {
	const latency = 3 * time.Second
	e := newEnv(t, twiliosim.Options{Corpus: twiliosim.CorpusOptions{Seed: 19, TranscriptsPerService: 2}}, fetch.Config{Timeout: time.Minute},
		func(o *Options) { o.DirCacheTime = 200 * time.Millisecond })
	svc := e.sim.Services()[0].SID
	f, err := os.Open(filepath.Join(e.svcDir(svc), "service.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	e.sim.SetFaults(twiliosim.Faults{APILatency: latency})
	time.Sleep(300 * time.Millisecond) // past --dir-cache-time: the services list and the file's attributes expire
	listed := make(chan error, 1)
	go func() {
		_, err := os.ReadDir(filepath.Join(e.mnt, "services"))
		listed <- err
	}()
	waitFor(t, "the services refresh under way", func() bool { return e.client.Stats().InFlight > 0 })
	fi, err := f.Stat()
	if err != nil || fi.Size() == 0 {
		t.Fatalf("stat of service.json: %v, %v", fi, err)
	}
	if e.client.Stats().InFlight == 0 {
		t.Error("the stat of service.json returned only once the services refresh had ended")
	}
	select {
	case err := <-listed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Minute):
		t.Fatal("the services listing never ended")
	}
}
