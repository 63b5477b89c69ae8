package twiliosim

import (
	"crypto/rsa"
	"fmt"
	"sort"
	"time"
)

// Credential is a public key registered with the simulated Accounts API. The
// simulator seals content to PublicKey; tests keep the private half.
type Credential struct {
	// SID is the credential SID (CR + 32 hex). Empty: generated from the seed.
	SID string
	// FriendlyName is returned in the PublicKey resource (may be empty: null).
	FriendlyName string
	// PublicKey is the RSA key content is sealed to. Required.
	PublicKey *rsa.PublicKey
}

// SentencesVariant switches the shape of the decrypted sentences document.
// The zero value is the default {"sentences":[...]} with snake_case keys and
// times as strings. Variants may be combined.
type SentencesVariant struct {
	// BareArray drops the {"sentences": ...} wrapper: the document is [...].
	BareArray bool
	// CamelCase writes keys as mediaChannel, sentenceIndex, startTime, ...
	CamelCase bool
	// NumericTimes writes start_time, end_time and confidence (also the
	// words' times) as JSON numbers instead of strings.
	NumericTimes bool
}

// CorpusOptions shape the deterministic generated corpus. The same options
// (and the same Options.Keys) always give the same services, transcripts,
// SIDs, dates and content.
type CorpusOptions struct {
	// Seed drives every generated value.
	Seed int64
	// TranscriptsPerService is the number of transcripts in each generated
	// service (default 20, up to 100,000 is cheap). Negative means none.
	TranscriptsPerService int
	// Days is how many days date_created spreads over (default 40, so by-date
	// browsing finds several days and at least two months).
	Days int
	// End is the latest possible date_created of the generated corpus
	// (default 2026-02-10T00:00:00Z).
	End time.Time
	// Rotation splits encrypted transcripts between Options.Keys[0] (older)
	// and Options.Keys[1] (newer, and the services' current credential).
	// Needs two keys.
	Rotation bool
	// NoPlainService, NoMixedService and NoEncryptedService leave out that
	// generated service.
	NoPlainService, NoMixedService, NoEncryptedService bool
	// Variant is the shape of the decrypted sentences document.
	Variant SentencesVariant
	// SentencesBytes, when > 0, makes each sentences document about that many
	// bytes (at least; sentences are added until it is reached), e.g. 50<<10
	// for benchmarks. 0 gives 8 to 40 sentences per transcript.
	SentencesBytes int
	// Markers are strings embedded in every sentences document and every
	// operator result (redacted or not), so tests can look for plaintext
	// where it must never be (disk, logs).
	Markers []string
}

// Kinds of generated service.
const (
	kindEncrypted = iota
	kindPlain
	kindMixed
	kindCreated
)

// Transcript statuses.
const (
	StatusQueued     = "queued"
	StatusInProgress = "in-progress"
	StatusCompleted  = "completed"
	StatusNew        = "new"
	StatusFailed     = "failed"
	StatusCanceled   = "canceled"
	StatusError      = "error"
)

// service is the simulator's mutable Service record.
type service struct {
	sid, uniqueName, friendlyName, language string
	autoRedaction, mediaRedaction           bool
	autoTranscribe, dataLogging             bool
	webhookURL, webhookMethod               string // "" = null
	operators                               []string
	version                                 int
	credSID                                 string // "" = null
	created, updated                        time.Time
	kind                                    int
	// transcripts in ascending (created, sid) order, deleted ones removed.
	transcripts []*transcript
	nextIndex   uint32
}

// transcript is the compact metadata record of one transcript; content is
// generated from (seed, index) on demand.
type transcript struct {
	sid        string
	svc        *service
	credSID    string // "" = null
	created    int64  // unix seconds
	updated    int64
	mediaStart int64 // unix seconds, 0 = null
	index      uint32
	duration   int32
	status     string
	redaction  bool
}

// key is the transcript's position in list order.
func (t *transcript) less(o *transcript) bool {
	if t.created != o.created {
		return t.created < o.created
	}
	return t.sid < o.sid
}

// mix is splitmix64 over a few inputs: cheap, deterministic derivation.
func mix(vals ...uint64) uint64 {
	var h uint64 = 0x9e3779b97f4a7c15
	for _, v := range vals {
		h ^= v + 0x9e3779b97f4a7c15 + (h << 6) + (h >> 2)
		h += 0x9e3779b97f4a7c15
		z := h
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
		z = (z ^ (z >> 27)) * 0x94d049bb133111eb
		h = z ^ (z >> 31)
	}
	return h
}

// SID kinds for derivation.
const (
	sidAccount uint64 = iota + 1
	sidService
	sidTranscript
	sidSentence
	sidOperator
	sidCredential
	sidAPIKey
	sidRecording
	sidSecret
)

const hexdigits = "0123456789abcdef"

// makeSID derives a 34-character SID with prefix from the seed and parts.
func makeSID(prefix string, seed int64, parts ...uint64) string {
	var b [34]byte
	copy(b[:], prefix)
	vals := append([]uint64{uint64(seed)}, parts...)
	a := mix(vals...)
	c := mix(append(vals, 0xabcdef)...)
	for i := 0; i < 16; i++ {
		b[2+i] = hexdigits[(a>>(60-4*i))&0xf]
		b[18+i] = hexdigits[(c>>(60-4*i))&0xf]
	}
	return string(b[:])
}

// defaultEnd is the newest date_created of the default corpus.
var defaultEnd = time.Date(2026, 2, 10, 0, 0, 0, 0, time.UTC)

// withDefaults fills CorpusOptions zero values.
func (c CorpusOptions) withDefaults() CorpusOptions {
	if c.TranscriptsPerService == 0 {
		c.TranscriptsPerService = 20
	}
	if c.TranscriptsPerService < 0 {
		c.TranscriptsPerService = 0
	}
	if c.Days <= 0 {
		c.Days = 40
	}
	if c.End.IsZero() {
		c.End = defaultEnd
	}
	c.End = c.End.UTC().Truncate(time.Second)
	return c
}

// operatorSIDs are the three language operators every generated service has
// attached: summary (text-generation), sentiment (conversation-classify),
// entities (extract).
func operatorSIDs(seed int64) []string {
	return []string{
		makeSID("LY", seed, sidOperator, 1),
		makeSID("LY", seed, sidOperator, 2),
		makeSID("LY", seed, sidOperator, 3),
	}
}

// buildCorpus creates the generated services and their transcripts.
func (s *Server) buildCorpus() error {
	c := s.corpus
	keys := s.creds
	var cur, old string
	if len(keys) > 0 {
		cur = keys[0].sid
		old = cur
		if c.Rotation {
			if len(keys) < 2 {
				return fmt.Errorf("twiliosim: Corpus.Rotation needs two Keys")
			}
			old, cur = keys[0].sid, keys[1].sid
		}
	}
	type spec struct {
		kind       int
		unique     string
		friendly   string
		lang       string
		redaction  bool
		dataLog    bool
		skip       bool
		encryption bool
	}
	specs := []spec{
		{kindEncrypted, "call-centre-encrypted", "Call centre (encrypted)", "en-US", true, false, c.NoEncryptedService || cur == "", true},
		{kindPlain, "call-centre-plain", "Call centre (plain)", "en-US", false, true, c.NoPlainService, false},
		{kindMixed, "call-centre-mixed", "Call centre (encryption turned on later)", "en-GB", true, false, c.NoMixedService || cur == "", true},
	}
	span := int64(c.Days) * 86400
	start := c.End.Unix() - span
	n := c.TranscriptsPerService
	for si, sp := range specs {
		if sp.skip {
			continue
		}
		svc := &service{
			sid:            makeSID("GA", c.Seed, sidService, uint64(sp.kind)),
			uniqueName:     sp.unique,
			friendlyName:   sp.friendly,
			language:       sp.lang,
			autoRedaction:  sp.redaction,
			mediaRedaction: sp.redaction,
			autoTranscribe: true,
			dataLogging:    sp.dataLog,
			webhookMethod:  "POST",
			operators:      operatorSIDs(c.Seed),
			version:        1,
			created:        time.Unix(start-86400*7-int64(si)*3600, 0).UTC(),
			kind:           sp.kind,
		}
		if sp.kind == kindPlain {
			svc.webhookURL = "https://example.com/intelligence/webhook"
		}
		svc.updated = svc.created
		if sp.encryption {
			svc.credSID = cur
			svc.version = 2
			svc.updated = svc.created.Add(time.Hour)
		}
		svc.transcripts = make([]*transcript, 0, n)
		step := span / int64(max(n, 1))
		if step < 1 {
			step = 1
		}
		inProgress := 0
		if n >= 10 {
			inProgress = max(1, n*3/100)
		}
		for i := 0; i < n; i++ {
			h := mix(uint64(c.Seed), uint64(sp.kind), uint64(i))
			t := &transcript{
				sid:       makeSID("GT", c.Seed, sidTranscript, uint64(sp.kind), uint64(i)),
				svc:       svc,
				index:     uint32(i),
				redaction: svc.autoRedaction,
				status:    StatusCompleted,
			}
			jitter := int64(0)
			if step > 1 {
				jitter = int64(h % uint64(step))
			}
			t.created = start + int64(i)*step + jitter
			t.duration = int32(60 + (h>>16)%1140)
			t.mediaStart = t.created - int64(t.duration) - 30
			t.updated = t.created + int64(t.duration)/4 + 20
			switch {
			case i >= n-inProgress:
				t.status = StatusInProgress
				t.updated = t.created
			case n >= 10 && (i == n/2+1 || (h>>40)%50 == 0):
				t.status = StatusFailed
			}
			if sp.encryption {
				switch {
				case sp.kind == kindMixed && i < n/2:
					// before encryption was turned on
				case c.Rotation && i < n*3/4:
					t.credSID = old
				default:
					t.credSID = cur
				}
			}
			svc.transcripts = append(svc.transcripts, t)
		}
		// The service was last updated when its current credential was
		// set: encryption turned on (mixed) or the key rotated.
		for _, t := range svc.transcripts {
			if sp.encryption && t.credSID == cur && (sp.kind == kindMixed || c.Rotation) {
				if at := time.Unix(t.created-60, 0).UTC(); at.After(svc.updated) {
					svc.updated = at
				}
				break
			}
		}
		svc.nextIndex = uint32(n)
		s.services = append(s.services, svc)
	}
	s.reindex()
	return nil
}

// reindex rebuilds the global ordered list and the SID map from the services.
func (s *Server) reindex() {
	total := 0
	for _, svc := range s.services {
		total += len(svc.transcripts)
	}
	s.all = make([]*transcript, 0, total)
	s.bySID = make(map[string]*transcript, total)
	for _, svc := range s.services {
		s.all = append(s.all, svc.transcripts...)
		for _, t := range svc.transcripts {
			s.bySID[t.sid] = t
		}
	}
	sort.Slice(s.all, func(i, j int) bool { return s.all[i].less(s.all[j]) })
}
