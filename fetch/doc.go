// Package fetch is everything intelligencefs says to Twilio: the
// Conversational Intelligence v2 and Accounts v1 REST APIs (always through
// twilio-go) and the presigned object store that serves encrypted sentences
// and operator results (through plain net/http, without Twilio credentials).
//
// One Client carries the shared limits every caller competes for: two
// adaptive concurrency limits (limit.go), one for Twilio API requests and one
// for object downloads, each growing while requests succeed and cut on 429
// (or the object store's 503 SlowDown) up to its ceiling (MaxConcurrency,
// MaxObjectConcurrency); an optional requests-per-second limiter on API
// requests; per-attempt timeouts; and retries with exponential backoff and
// jitter that honour Retry-After. Retries live in
// an http.RoundTripper because twilio-go builds its requests on
// context.Background(); the caller's context reaches them through a
// per-call twilio-go client whose transport carries it.
//
// The records it returns (Service, Transcript, PublicKey) and the sentinel
// errors are package record's (fetch/record), the leaf every layer shares.
// Errors are *Error values whose causes can be tested with errors.Is against
// record.ErrNotFound, ErrAuth (ErrForbidden for a 403), ErrUnavailable,
// ErrNotImplemented, ErrExpired, ErrConflict, ErrInsecureURL,
// crypto.ErrMalformed and the context errors. Their one line quotes what the
// server answered: Twilio's code, message and more_info, an object store's
// XML error, or what a non-JSON body (a proxy's HTML page) was. Every error
// and log line passes one redactor (record.Redact, which the viewer uses
// too): presigned URL query strings are bearer credentials, and Go's
// *url.Error prints whole URLs.
//
// Where Twilio's published description leaves room, the Client does not rely
// on one reading: transcript lists are filtered by date on the client too, a
// unique name is resolved through the service list, a refused Sentences page
// size of 5000 falls back to 1000, presigned locations are matched by object
// (objectKey: the hash of its path) and expire when their URL says
// (LocationExpiry); OperatorResults keeps them, so no URL leaves fetch.
//
// fetch never decrypts and never caches plaintext; it hands crypto.Envelope
// values to the caller.
package fetch
