// Package keycheck is the trial decrypt that `doctor` reports and `mount`
// runs in the background once mounted: one real encrypted object per
// encrypted service, opened with the keys given, so a key that opens
// nothing is said at once rather than on the first EACCES.
package keycheck

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/intelligencefs/intelligencefs/crypto"
	"github.com/intelligencefs/intelligencefs/fetch"
	"github.com/intelligencefs/intelligencefs/fetch/record"
)

// errStopListing ends a transcript listing early.
var errStopListing = errors.New("stop listing")

// maxTrialScan bounds how many transcripts are looked through for an
// encrypted one per service.
const maxTrialScan = 1000

// ErrDownload wraps a failure to fetch the trial object (as opposed to
// a failure to open it).
var ErrDownload = errors.New("downloading the trial object")

// Transcript returns the newest completed encrypted transcript of the
// service (zero when none is found among the first maxTrialScan).
func Transcript(ctx context.Context, client *fetch.Client, serviceSID string) (record.Transcript, error) {
	var pick record.Transcript
	scanned := 0
	err := client.ListTranscripts(ctx, record.TranscriptQuery{ServiceSID: serviceSID, Status: "completed", PageSize: 100}, func(ts []record.Transcript) error {
		for _, t := range ts {
			if t.Completed() && t.Encrypted() {
				pick = t
				return errStopListing
			}
		}
		if scanned += len(ts); scanned >= maxTrialScan {
			return errStopListing
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStopListing) {
		return record.Transcript{}, err
	}
	return pick, nil
}

// Open downloads t's encrypted sentences and opens them with ring,
// zeroing the plaintext at once. onUnwrap, if set, sees the envelope when
// no key unwraps it (doctor then looks for a key bound to another
// credential). A download failure wraps ErrDownload.
func Open(ctx context.Context, client *fetch.Client, ring *crypto.Keyring, t record.Transcript, onUnwrap func(crypto.Envelope)) error {
	env, err := client.EncryptedSentences(ctx, t.SID)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrDownload, err)
	}
	out, err := ring.Open(t.EncryptionCredentialSID, env, env.Body[:0])
	if errors.Is(err, crypto.ErrUnwrap) && onUnwrap != nil {
		onUnwrap(env)
	}
	clear(out)
	clear(env.Body)
	return err
}

// InBackground tries one transcript per encrypted service with
// ring and logs one warning per service whose trial object the keys do not
// open (or cannot be checked), as doctor would report it. It reads nothing
// into the mount's cache and stops with ctx.
func InBackground(ctx context.Context, client *fetch.Client, ring *crypto.Keyring, log *slog.Logger) {
	svcs, err := client.ListServices(ctx)
	if err != nil {
		if ctx.Err() == nil {
			log.Warn("key check: could not list the services", "err", err)
		}
		return
	}
	for _, s := range svcs {
		if !s.Encrypted() {
			continue
		}
		t, err := Transcript(ctx, client, s.SID)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			log.Warn("key check: could not list the service's transcripts", "service", s.SID, "err", err)
			continue
		}
		if t.SID == "" {
			continue // nothing encrypted yet: nothing to say
		}
		err = Open(ctx, client, ring, t, nil)
		if ctx.Err() != nil {
			return
		}
		switch {
		case err == nil:
			log.Debug("key check: the keys open the service's transcripts", "service", s.SID, "transcript", t.SID)
		case errors.Is(err, crypto.ErrUnwrap):
			log.Warn("key check: none of the --private-key files opens this service's transcripts; reading them fails with EACCES (intelligencefs doctor tells which key is needed)",
				"service", s.SID, "unique_name", s.UniqueName, "transcript", t.SID, "credential", t.EncryptionCredentialSID)
		default:
			log.Warn("key check: could not try the keys on the service's transcripts", "service", s.SID, "transcript", t.SID, "err", err)
		}
	}
}
