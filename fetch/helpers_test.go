package fetch

import (
	"context"
	"sync"
	"testing"
	"time"
)

const (
	testAccount = "AC00000000000000000000000000000001"
	testToken   = "tok3nSECRETtok3nSECRET0123456789"
)

// fakeSleep records retry waits instead of sleeping.
type fakeSleep struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (f *fakeSleep) sleep(ctx context.Context, d time.Duration) error {
	f.mu.Lock()
	f.waits = append(f.waits, d)
	f.mu.Unlock()
	return ctx.Err()
}

func (f *fakeSleep) got() []time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Duration(nil), f.waits...)
}

// newTestClient builds a Client against apiURL with a fake sleep; mod may
// adjust the config first.
func newTestClient(t testing.TB, apiURL string, mod func(*Config)) (*Client, *fakeSleep) {
	t.Helper()
	fs := &fakeSleep{}
	cfg := Config{AccountSID: testAccount, AuthToken: testToken, APIURL: apiURL, Timeout: 5 * time.Second}
	cfg.sleep = fs.sleep
	if mod != nil {
		mod(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(c.Close)
	return c, fs
}
