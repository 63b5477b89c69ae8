package catalog

import (
	"context"

	"github.com/intelligencefs/intelligencefs/crypto"
	"github.com/intelligencefs/intelligencefs/fetch/record"
)

// Source is what the catalog needs from the Twilio side: metadata listings
// and, per transcript, either sealed envelopes or plain documents. It is
// expressed in record types and plain Go so the catalog imports neither
// fetch nor twilio-go: *fetch.Client satisfies it (asserted where the mount
// is built), and the catalog's tests use an in-memory one.
//
// Errors must be classifiable with errors.Is against the record sentinels
// (ErrNotFound, ErrAuth, ErrUnavailable, ErrExpired).
type Source interface {
	ContentSource
	FetchTranscript(ctx context.Context, sid string) (record.Transcript, error)
	// DropSealed forgets what the Source keeps on disk of a transcript
	// deleted upstream (the sealed cache's entries).
	DropSealed(transcriptSID string)
}

// ContentSource is the read side of Source: the listings and each
// transcript's content. It is all that the search engine (fs/search) and
// the viewer (fs/web) read through, so one interface describes what every
// reader of the account needs from fetch.
type ContentSource interface {
	ListServices(ctx context.Context) ([]record.Service, error)
	// FetchService gives a service by SID, e.g. the service of a transcript
	// that does not name its credential (record.PlanContent decides with
	// it).
	FetchService(ctx context.Context, sid string) (record.Service, error)
	ListTranscripts(ctx context.Context, q record.TranscriptQuery, page func([]record.Transcript) error) error
	// OpenSentences and SealedOperatorResults serve encrypted content,
	// from the sealed cache when there is one (see fetch.Client); the
	// caller's open decrypts, the Source never does. An open that refuses
	// an envelope with a crypto error or record.ErrWrongTranscript makes
	// the Source drop what it cached of it.
	OpenSentences(ctx context.Context, t record.Transcript, open func(crypto.Envelope) error) error
	// SealedOperatorResults gives t's encrypted operator results: their
	// number and each one's envelope; the presigned locations, their
	// expiry and refresh stay inside (*fetch.OperatorResults).
	SealedOperatorResults(ctx context.Context, t record.Transcript) (record.SealedResults, error)
	PlainSentences(ctx context.Context, transcriptSID string) ([]byte, error)
	PlainOperatorResults(ctx context.Context, transcriptSID string) ([][]byte, error)
}

// Decrypter opens one envelope with the key bound to credentialSID,
// appending the plaintext to dst. *crypto.Keyring satisfies it. Errors are
// crypto.ErrUnwrap, crypto.ErrAuth or crypto.ErrMalformed (errors.Is).
type Decrypter interface {
	Open(credentialSID string, env crypto.Envelope, dst []byte) ([]byte, error)
}
