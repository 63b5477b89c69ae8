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
	// OpenSentences, OperatorResultLocations and OpenOperatorResult serve
	// encrypted content, from the sealed cache when there is one (see
	// fetch.Client); open decrypts, the Source never does.
	OpenSentences(ctx context.Context, t Transcript, open opener) error
	OperatorResultLocations(ctx context.Context, t Transcript) ([]string, error)
	//
	// OpenOperatorResult's fresh gives a current location of the same
	// object when the store refuses location (expired): the filesystem's
	// cache of locations, refreshed and matched by object key.
	OpenOperatorResult(ctx context.Context, t Transcript, index int, location string, fresh func(context.Context) (string, error), open opener) error
	PlainSentences(ctx context.Context, transcriptSID string) ([]byte, error)
	PlainOperatorResults(ctx context.Context, transcriptSID string) ([][]byte, error)
	// DropSealed forgets what the Source keeps on disk of a transcript
	// deleted upstream (the sealed cache's entries).
	DropSealed(transcriptSID string)
}

// Decrypter opens one envelope with the key bound to credentialSID,
// appending the plaintext to dst. *crypto.Keyring satisfies it. Errors are
// crypto.ErrUnwrap, crypto.ErrAuth or crypto.ErrMalformed (errors.Is).
type Decrypter interface {
	Open(credentialSID string, env crypto.Envelope, dst []byte) ([]byte, error)
}
