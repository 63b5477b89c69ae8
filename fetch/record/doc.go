// Package record holds intelligencefs's domain types and sentinel errors:
// the Service, Transcript and PublicKey records as the API describes them
// (decoded from its JSON, which they keep byte for byte), the
// TranscriptQuery that selects transcripts, the ContentPlan that says where
// a transcript's content comes from, presigned-location helpers, the
// redactor every error shown passes through (Redact), and the
// errors every layer classifies with errors.Is (ErrNotFound, ErrAuth, …).
//
// It is the leaf of the dependency graph: standard library only — no
// twilio-go, no go-fuse, no crypto — so fetch (which fills these records
// from the API), the transcript model (fs/catalog), the FUSE layer, the
// CLI and the simulator all share one vocabulary without importing one
// another.
package record
