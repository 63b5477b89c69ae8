package fs

import (
	"context"

	"github.com/intelligencefs/intelligencefs/crypto"
)

// Source is what the filesystem needs from the Twilio side: metadata
// listings and, per transcript, either sealed envelopes or plain documents.
// *fetch.Client satisfies it; tests may use a small in-memory fake.
//
// Errors must be classifiable with errors.Is against the fetch sentinels
// (ErrNotFound, ErrAuth, ErrUnavailable, ErrExpired) so errnoOf can map them.
type Source interface {
	ListServices(ctx context.Context) ([]Service, error)
	FetchService(ctx context.Context, sid string) (Service, error)
	ListTranscripts(ctx context.Context, q TranscriptQuery, page func([]Transcript) error) error
	FetchTranscript(ctx context.Context, sid string) (Transcript, error)
	EncryptedSentences(ctx context.Context, transcriptSID string) (crypto.Envelope, error)
	EncryptedOperatorResultLocations(ctx context.Context, transcriptSID string) ([]string, error)
	EncryptedOperatorResult(ctx context.Context, transcriptSID string, index int, location string) (crypto.Envelope, error)
	PlainSentences(ctx context.Context, transcriptSID string) ([]byte, error)
	PlainOperatorResults(ctx context.Context, transcriptSID string) ([][]byte, error)
}

// Decrypter opens one envelope with the key bound to credentialSID,
// appending the plaintext to dst. *crypto.Keyring satisfies it. Errors are
// crypto.ErrUnwrap, crypto.ErrAuth or crypto.ErrMalformed (errors.Is).
type Decrypter interface {
	Open(credentialSID string, env crypto.Envelope, dst []byte) ([]byte, error)
}
