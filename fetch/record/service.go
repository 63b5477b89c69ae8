package record

import (
	"bytes"
	"encoding/json"
	"time"
)

// Service is an Intelligence Service.
type Service struct {
	SID          string
	AccountSID   string
	UniqueName   string
	FriendlyName string
	LanguageCode string
	// EncryptionCredentialSID is the public key credential (CR…) new
	// transcripts are encrypted with, or "" when encryption is off.
	EncryptionCredentialSID string
	DataLogging             bool
	AutoRedaction           bool
	MediaRedaction          bool
	AutoTranscribe          bool
	Version                 int
	DateCreated             time.Time
	DateUpdated             time.Time
	// ETag is the entity tag of a fetched or updated Service (for If-Match);
	// "" from a list, where the API sends none.
	ETag string

	raw []byte
}

// JSON returns the Service resource exactly as the API returned it. The
// caller must not modify it.
func (s Service) JSON() []byte { return s.raw }

// Encrypted reports whether the service encrypts new transcripts.
func (s Service) Encrypted() bool { return s.EncryptionCredentialSID != "" }

type serviceWire struct {
	SID                     *string `json:"sid"`
	AccountSID              *string `json:"account_sid"`
	UniqueName              *string `json:"unique_name"`
	FriendlyName            *string `json:"friendly_name"`
	LanguageCode            *string `json:"language_code"`
	EncryptionCredentialSID *string `json:"encryption_credential_sid"`
	DataLogging             *bool   `json:"data_logging"`
	AutoRedaction           *bool   `json:"auto_redaction"`
	MediaRedaction          *bool   `json:"media_redaction"`
	AutoTranscribe          *bool   `json:"auto_transcribe"`
	Version                 *int    `json:"version"`
	DateCreated             *string `json:"date_created"`
	DateUpdated             *string `json:"date_updated"`
}

// ParseService decodes one Service resource and keeps its bytes for JSON.
// A resource whose sid is not GA and 32 hex digits, or whose account_sid
// or encryption_credential_sid (when not null) is not a SID of its kind,
// is refused with an error wrapping ErrMalformedSID.
func ParseService(raw []byte) (Service, error) {
	var w serviceWire
	if err := json.Unmarshal(raw, &w); err != nil {
		return Service{}, err
	}
	if err := checkSID("sid", str(w.SID), PrefixService, false); err != nil {
		return Service{}, err
	}
	if err := checkSID("account_sid", str(w.AccountSID), PrefixAccount, true); err != nil {
		return Service{}, err
	}
	if err := checkSID("encryption_credential_sid", str(w.EncryptionCredentialSID), PrefixCredential, true); err != nil {
		return Service{}, err
	}
	return Service{
		SID: str(w.SID), AccountSID: str(w.AccountSID), UniqueName: str(w.UniqueName),
		FriendlyName: str(w.FriendlyName), LanguageCode: str(w.LanguageCode),
		EncryptionCredentialSID: str(w.EncryptionCredentialSID),
		DataLogging:             boolv(w.DataLogging), AutoRedaction: boolv(w.AutoRedaction),
		MediaRedaction: boolv(w.MediaRedaction), AutoTranscribe: boolv(w.AutoTranscribe),
		Version:     intv(w.Version),
		DateCreated: parseTime(w.DateCreated), DateUpdated: parseTime(w.DateUpdated),
		raw: bytes.Clone(raw),
	}, nil
}

// PublicKey is an Accounts v1 public key credential. The key material is
// never returned by the API.
type PublicKey struct {
	SID          string
	AccountSID   string
	FriendlyName string
	DateCreated  time.Time
	DateUpdated  time.Time
	URL          string
}
