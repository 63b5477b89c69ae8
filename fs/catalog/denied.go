package catalog

import (
	"fmt"
	"sync"
	"time"

	"github.com/intelligencefs/intelligencefs/crypto"
)

// deniedTTL is how long a transcript whose content no key opened
// (RSA-OAEP unwrap failed: EACCES) is answered EACCES without asking again.
// One `ls -l` of its folder stats sentences.json, sentences.txt and the
// operator results: without this each would download an object and log
// the same warning. Short, so adding the right key (a remount) or a
// transient damage is noticed soon.
const deniedTTL = 30 * time.Second

// deniedSet remembers transcripts whose content no key opened, until a
// deadline each.
type deniedSet struct {
	mu sync.Mutex
	m  map[string]time.Time // transcript SID -> until
}

// add remembers sid for deniedTTL.
func (d *deniedSet) add(sid string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.m == nil {
		d.m = map[string]time.Time{}
	}
	now := time.Now()
	for k, until := range d.m { // keep it small: drop what expired
		if now.After(until) {
			delete(d.m, k)
		}
	}
	d.m[sid] = now.Add(deniedTTL)
}

// check returns the EACCES error to answer for sid, or nil.
func (d *deniedSet) check(sid string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	until, ok := d.m[sid]
	if !ok || time.Now().After(until) {
		return nil
	}
	return errDenied
}

// forget drops everything remembered (SIGHUP).
func (d *deniedSet) forget() {
	d.mu.Lock()
	d.m = nil
	d.mu.Unlock()
}

// errDenied answers a transcript remembered in deniedSet: EACCES, like the
// failure it stands for, and already logged.
var errDenied = loggedError{fmt.Errorf("no private key opened this transcript's content moments ago (not asked again for %s): %w", deniedTTL, crypto.ErrUnwrap)}
