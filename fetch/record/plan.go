package record

import "errors"

// ContentPlan says where a transcript's content comes from. PlanContent
// makes it; the mount, cat and search all follow it, so they agree on
// which transcripts are encrypted.
type ContentPlan struct {
	// Encrypted: the encrypted endpoints, opened with the key of
	// Credential.
	Encrypted bool
	// Credential is the credential the content is sealed to ("" when plain
	// and the service has none).
	Credential string
	// Fallback: try the plain endpoints first, then, on an error or an
	// empty answer (PlainMissed), the encrypted ones sealed to Credential
	// (a completed transcript whose service has a credential, created
	// before the service was last updated: it may predate encryption or
	// not).
	Fallback bool
}

// PlanContent decides how to fetch t's content, given svc, its service (the
// zero Service when it could not be fetched: then only t decides). The
// transcript's own encryption_credential_sid decides when present (it has
// come and gone in Twilio's published descriptions); otherwise the
// service's credential, for transcripts created after the service was last
// updated (so after the credential was set), and plain-then-encrypted for
// older completed ones.
func PlanContent(t Transcript, svc Service) ContentPlan {
	if t.EncryptionCredentialSID != "" {
		return ContentPlan{Encrypted: true, Credential: t.EncryptionCredentialSID}
	}
	if svc.EncryptionCredentialSID == "" {
		return ContentPlan{}
	}
	if !t.DateCreated.IsZero() && !svc.DateUpdated.IsZero() && !t.DateCreated.Before(svc.DateUpdated) {
		return ContentPlan{Encrypted: true, Credential: svc.EncryptionCredentialSID}
	}
	return ContentPlan{Credential: svc.EncryptionCredentialSID, Fallback: t.Completed()}
}

// NeedsService reports whether PlanContent needs t's service to decide (the
// transcript does not name its credential), so callers fetch it only then.
func NeedsService(t Transcript) bool { return t.EncryptionCredentialSID == "" }

// Sealed is t as the sealed-content methods (OpenSentences,
// OperatorResultLocations, OpenOperatorResult) must see it: sealed to the
// plan's credential, which may be its service's when t does not say.
func (p ContentPlan) Sealed(t Transcript) Transcript {
	t.EncryptionCredentialSID = p.Credential
	return t
}

// PlainMissed reports whether, under p, a plain answer (err, and whether it
// was empty) sends the caller to the encrypted endpoints: only a fallback
// plan, and only on an error or an empty list. A plain empty answer is then
// never served for content that exists sealed.
func (p ContentPlan) PlainMissed(err error, empty bool) bool {
	return p.Fallback && (err != nil || empty)
}

// EmptySentences reports a plain sentences document without sentences.
func EmptySentences(doc []byte) bool { return len(doc) == 0 || string(doc) == `{"sentences":[]}` }

// MissedErr is what to report when the plain answer missed (PlainMissed)
// and the encrypted endpoint failed too with sealedErr: the plain error when
// there was one; else (the plain list was empty) the encrypted endpoint's
// error, unless it is a not-found — then the content is truly empty (nil).
func MissedErr(plainErr, sealedErr error) error {
	if plainErr == nil && !errors.Is(sealedErr, ErrNotFound) {
		return sealedErr
	}
	return plainErr
}
