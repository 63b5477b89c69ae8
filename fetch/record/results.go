package record

import (
	"context"
	"errors"

	"github.com/intelligencefs/intelligencefs/crypto"
)

// SealedResults are one transcript's encrypted operator results as the
// fetch layer holds them: how many there are and each one's envelope. The
// number and order are those of the first answer of the locations (or of
// the sealed cache's count); which presigned location serves an object,
// its expiry and its refresh stay inside the implementation (*fetch
// OperatorResults), so no URL reaches the model.
type SealedResults interface {
	// Len is the number of operator results.
	Len() int
	// Open hands result i (from 0) to open, from the sealed cache when it
	// holds it, else downloaded. An error of open wrapping
	// ErrWrongTranscript (or a crypto error) on a cached entry removes that
	// entry and downloads the object again; an envelope open refuses is
	// never cached.
	Open(ctx context.Context, i int, open func(crypto.Envelope) error) error
}

// ErrWrongTranscript is content that names another transcript than the
// one it was fetched for (an operator result whose transcript_sid is
// another's): never served, never cached.
var ErrWrongTranscript = errors.New("content belongs to another transcript")
