package record

import (
	"errors"
	"fmt"
)

// Sentinel errors; test with errors.Is. fetch wraps one of these (at most)
// in every error it returns, the filesystem maps them to errno values, and
// the simulator's Go API wraps ErrNotFound for what it does not hold.
var (
	// ErrNotFound means the API (or the object store) answered 404, or the
	// resource is absent (for example an encrypted location that is null), or
	// a SID is not well formed, in which case no request was made.
	ErrNotFound = errors.New("not found")
	// ErrAuth means the API rejected the credentials (401) or refused them
	// this request (403, which is ErrForbidden as well).
	ErrAuth = errors.New("credentials rejected")
	// ErrForbidden means the API answered 403: the credentials are valid
	// but not allowed this request (a restricted API key without
	// Intelligence permission, an account without the feature). It wraps
	// ErrAuth, so errors.Is(err, ErrAuth) holds too.
	ErrForbidden = fmt.Errorf("%w: forbidden", ErrAuth)
	// ErrNotImplemented means the API answered 501: it does not offer
	// the request at all (not a temporary unavailability).
	ErrNotImplemented = errors.New("not implemented by the API")
	// ErrUnavailable means the request could not be completed: 429 or 5xx
	// after retries, a timeout, or a connection failure (including TLS).
	ErrUnavailable = errors.New("service unavailable")
	// ErrExpired means the object store refused a presigned URL (403) even
	// after a fresh location was asked for once.
	ErrExpired = errors.New("presigned location expired")
	// ErrConflict means a conditional update failed (409 or 412, e.g. an
	// If-Match ETag that no longer matches).
	ErrConflict = errors.New("precondition failed")
	// ErrInsecureURL means a URL used plain http for a host that is not a
	// loopback address, or carried user information.
	ErrInsecureURL = errors.New("insecure URL")
)
