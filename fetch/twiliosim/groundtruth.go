package twiliosim

import (
	"crypto/rsa"
	"fmt"
	"sort"
	"time"

	"github.com/intelligencefs/intelligencefs/fetch/record"
)

// ServiceInfo is the ground truth about one service.
type ServiceInfo struct {
	SID, UniqueName, FriendlyName, LanguageCode string
	// EncryptionCredentialSID is "" when the service does not encrypt.
	EncryptionCredentialSID    string
	AutoRedaction, DataLogging bool
	Version                    int
	DateCreated, DateUpdated   time.Time
	// ETag is the current entity tag (as the ETag header sends it).
	ETag string
	// JSON is the Service resource exactly as the API returns it.
	JSON []byte
}

// TranscriptInfo is the ground truth about one transcript.
type TranscriptInfo struct {
	SID, ServiceSID, Status, LanguageCode string
	// EncryptionCredentialSID is "" for a plain transcript.
	EncryptionCredentialSID string
	// SourceSID is the recording (RE…) in channel.media_properties.source_sid.
	SourceSID string
	// Redaction is the transcript's redaction field: the default of Redacted.
	Redaction                bool
	DateCreated, DateUpdated time.Time
	// MediaStartTime is zero when null.
	MediaStartTime time.Time
	Duration       int
}

// Services lists every service in the order the API lists them.
func (s *Server) Services() []ServiceInfo {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]ServiceInfo, len(s.services))
	for i, svc := range s.services {
		out[i] = ServiceInfo{
			SID: svc.sid, UniqueName: svc.uniqueName, FriendlyName: svc.friendlyName, LanguageCode: svc.language,
			EncryptionCredentialSID: svc.credSID, AutoRedaction: svc.autoRedaction, DataLogging: svc.dataLogging,
			Version: svc.version, DateCreated: svc.created, DateUpdated: svc.updated, ETag: s.etag(svc),
			JSON: s.serviceBytes(svc),
		}
	}
	return out
}

// ServiceSID returns the SID of the generated service with that unique name
// ("call-centre-encrypted", "call-centre-plain", "call-centre-mixed"), or "".
func (s *Server) ServiceSID(uniqueName string) string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if svc := s.findService(uniqueName); svc != nil {
		return svc.sid
	}
	return ""
}

// Transcripts lists the live transcripts of a service ("" = all) in API
// list order (newest first).
func (s *Server) Transcripts(serviceSID string) []TranscriptInfo {
	s.mu.RLock()
	defer s.mu.RUnlock()
	list := s.all
	if serviceSID != "" {
		list = nil
		if svc := s.findService(serviceSID); svc != nil {
			list = svc.transcripts
		}
	}
	out := make([]TranscriptInfo, 0, len(list))
	for i := len(list) - 1; i >= 0; i-- {
		t := list[i]
		ti := TranscriptInfo{
			SID: t.sid, ServiceSID: t.svc.sid, Status: t.status, LanguageCode: t.svc.language,
			EncryptionCredentialSID: t.credSID, SourceSID: s.sourceSID(t), Redaction: t.redaction,
			DateCreated: time.Unix(t.created, 0).UTC(), DateUpdated: time.Unix(t.updated, 0).UTC(),
			Duration: int(t.duration),
		}
		if t.status != StatusCompleted {
			ti.Duration = 0
		}
		if t.mediaStart != 0 {
			ti.MediaStartTime = time.Unix(t.mediaStart, 0).UTC()
		}
		out = append(out, ti)
	}
	return out
}

// TranscriptJSON returns the Transcript resource exactly as the fetch
// endpoint returns it, or nil if there is no such transcript.
func (s *Server) TranscriptJSON(sid string) []byte {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if t := s.bySID[sid]; t != nil {
		return s.transcriptBytes(t)
	}
	return nil
}

// lookup finds a transcript under the read lock.
func (s *Server) lookup(sid string) *transcript {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.bySID[sid]
}

// SentencesPlaintext returns exactly the bytes the sentences object of an
// encrypted transcript is sealed from, for that Redacted choice (the same
// document is generated for plain transcripts). Nil for an unknown SID.
func (s *Server) SentencesPlaintext(transcriptSID string, redacted bool) []byte {
	t := s.lookup(transcriptSID)
	if t == nil {
		return nil
	}
	return s.sentencesDocument(t, redacted)
}

// OperatorResultPlaintexts returns the plaintext of each operator-result
// object, in location order (location n is element n-1). Each is also the
// OperatorResult resource the plain endpoints return.
func (s *Server) OperatorResultPlaintexts(transcriptSID string, redacted bool) [][]byte {
	t := s.lookup(transcriptSID)
	if t == nil {
		return nil
	}
	return s.operatorResults(t, redacted)
}

// SentenceResources returns each Sentence resource exactly as the plain
// list endpoint renders it (all pages, in order) for completed transcripts.
func (s *Server) SentenceResources(transcriptSID string, redacted, wordTimestamps bool) [][]byte {
	t := s.lookup(transcriptSID)
	if t == nil {
		return nil
	}
	return s.sentenceResources(t, redacted, wordTimestamps)
}

// OperatorResultResources is OperatorResultPlaintexts under the name the
// plain endpoints suggest: each OperatorResult resource as listed.
func (s *Server) OperatorResultResources(transcriptSID string, redacted bool) [][]byte {
	return s.OperatorResultPlaintexts(transcriptSID, redacted)
}

// PublicKey returns the public key registered under a credential SID, or nil.
func (s *Server) PublicKey(crSID string) *rsa.PublicKey {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if c := s.credBySID[crSID]; c != nil {
		return c.pub
	}
	return nil
}

// CredentialSIDs lists the registered credential SIDs in creation order.
func (s *Server) CredentialSIDs() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]string, len(s.creds))
	for i, c := range s.creds {
		out[i] = c.sid
	}
	return out
}

// DeleteTranscript removes a transcript, as if deleted in Twilio: the API
// answers 404 for it and its objects are gone. It reports whether it existed.
func (s *Server) DeleteTranscript(sid string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.bySID[sid]
	if t == nil {
		return false
	}
	delete(s.bySID, sid)
	s.all = removeTranscript(s.all, t)
	t.svc.transcripts = removeTranscript(t.svc.transcripts, t)
	return true
}

// removeTranscript removes t from an ordered list.
func removeTranscript(list []*transcript, t *transcript) []*transcript {
	i := sort.Search(len(list), func(i int) bool { return !list[i].less(t) })
	if i < len(list) && list[i] == t {
		return append(list[:i], list[i+1:]...)
	}
	return list
}

// insertTranscript inserts t into an ordered list.
func insertTranscript(list []*transcript, t *transcript) []*transcript {
	i := sort.Search(len(list), func(i int) bool { return t.less(list[i]) })
	list = append(list, nil)
	copy(list[i+1:], list[i:])
	list[i] = t
	return list
}

// AddTranscripts creates n completed transcripts in a service, newer than
// every existing transcript (one minute apart), encrypted to the service's
// current credential (if any). It returns their SIDs, oldest first.
func (s *Server) AddTranscripts(serviceSID string, n int) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	svc := s.findService(serviceSID)
	if svc == nil {
		return nil, fmt.Errorf("twiliosim: service %s: %w", serviceSID, record.ErrNotFound)
	}
	latest := s.corpus.End.Unix()
	if len(s.all) > 0 {
		latest = max(latest, s.all[len(s.all)-1].created)
	}
	sids := make([]string, 0, n)
	for i := 0; i < n; i++ {
		idx := svc.nextIndex
		svc.nextIndex++
		h := mix(uint64(s.corpus.Seed), hashSID(svc.sid), uint64(idx))
		t := &transcript{
			sid:       makeSID("GT", s.corpus.Seed, sidTranscript, hashSID(svc.sid), uint64(idx)),
			svc:       svc,
			index:     idx,
			redaction: svc.autoRedaction,
			status:    StatusCompleted,
			credSID:   svc.credSID,
			created:   latest + int64(i+1)*60,
			duration:  int32(60 + h%1140),
		}
		t.mediaStart = t.created - int64(t.duration) - 30
		t.updated = t.created + int64(t.duration)/4 + 20
		s.bySID[t.sid] = t
		s.all = insertTranscript(s.all, t)
		svc.transcripts = insertTranscript(svc.transcripts, t)
		sids = append(sids, t.sid)
	}
	return sids, nil
}

// SetTranscriptStatus changes a transcript's status (e.g. an in-progress
// transcript completes); date_updated becomes now.
func (s *Server) SetTranscriptStatus(sid, status string) error {
	switch status {
	case StatusQueued, StatusInProgress, StatusCompleted, StatusNew, StatusFailed, StatusCanceled, StatusError:
	default:
		return fmt.Errorf("twiliosim: unknown status %q", status)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.bySID[sid]
	if t == nil {
		return fmt.Errorf("twiliosim: transcript %s: %w", sid, record.ErrNotFound)
	}
	t.status = status
	t.updated = max(t.updated, s.now().Unix())
	return nil
}

// SetServiceEncryption sets a service's encryption_credential_sid (as the
// Service update does; "" turns encryption off) so new transcripts seal to
// it. With existing set, every existing transcript of the service is
// re-encrypted to it too (or made plain for "").
func (s *Server) SetServiceEncryption(serviceSID, crSID string, existing bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	svc := s.findService(serviceSID)
	if svc == nil {
		return fmt.Errorf("twiliosim: service %s: %w", serviceSID, record.ErrNotFound)
	}
	if crSID != "" && s.credBySID[crSID] == nil {
		return fmt.Errorf("twiliosim: credential %s: %w", crSID, record.ErrNotFound)
	}
	svc.credSID = crSID
	svc.version++
	svc.updated = s.now().UTC().Truncate(time.Second)
	if existing {
		for _, t := range svc.transcripts {
			t.credSID = crSID
		}
	}
	return nil
}

// operatorResultCount is len(operatorResults(t, ...)) without rendering.
func (s *Server) operatorResultCount(t *transcript) int {
	_, h := s.contentRand(t)
	n := 1
	if h%3 != 0 {
		n++
	}
	if h%2 == 0 || n == 1 && h%5 == 0 {
		n++
	}
	return n
}
