package record

import (
	"bytes"
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Transcript is one Transcript resource in compact form: a listing holds
// many of them. JSON renders the full resource on demand.
type Transcript struct {
	SID        string
	ServiceSID string
	AccountSID string
	// Status is queued, in-progress, completed, new, failed, canceled or error.
	Status string
	// EncryptionCredentialSID is the credential (CR…) the transcript's
	// content was encrypted for, or "" for a plain transcript.
	EncryptionCredentialSID string
	LanguageCode            string
	CustomerKey             string
	DateCreated             time.Time
	DateUpdated             time.Time
	// MediaStartTime is zero when the API sent null.
	MediaStartTime time.Time
	// Duration is the source media's duration in seconds.
	Duration    int
	DataLogging bool
	Redaction   bool

	channel string // compact JSON of the channel object; "" = null or in raw
	urlBase string // e.g. "https://intelligence.twilio.com" (shared)
	present uint8  // which nullable scalars were present

	// raw is the resource exactly as the API sent it, so transcript.json
	// keeps every field, also those Twilio adds later, as service.json
	// does. Kept compactly: its "url" and "links" members, when they are
	// exactly what URL derives (about half of the bytes), are cut out and
	// cuts records where, to be put back by JSON. "" when the Transcript
	// was not decoded from the API (then JSON renders it from the fields).
	raw  string
	cuts [2]int32 // offsets in raw of the cut url and links; -1 = not cut
}

const (
	hasDataLogging uint8 = 1 << iota
	hasRedaction
	hasCustomerKey
	hasDuration
)

// Encrypted reports whether the transcript's content must be fetched from the
// encrypted endpoints.
func (t Transcript) Encrypted() bool { return t.EncryptionCredentialSID != "" }

// Completed reports whether the transcript is finished (status completed),
// so that its sentences and operator results exist and are immutable.
func (t Transcript) Completed() bool { return t.Status == "completed" }

// Channel returns the transcript's channel object as compact JSON, or nil.
func (t Transcript) Channel() []byte {
	if t.channel == "" && t.raw != "" {
		var w struct {
			Channel json.RawMessage `json:"channel"`
		}
		var buf bytes.Buffer
		if json.Unmarshal(t.JSON(), &w) != nil || len(w.Channel) == 0 || string(w.Channel) == "null" ||
			json.Compact(&buf, w.Channel) != nil {
			return nil
		}
		return buf.Bytes()
	}
	if t.channel == "" {
		return nil
	}
	return []byte(t.channel)
}

// URL is the resource's URL as the API names it.
func (t Transcript) URL() string { return t.base() + "/v2/Transcripts/" + t.SID }

func (t Transcript) base() string {
	if t.urlBase == "" {
		return IntelligenceBase
	}
	return t.urlBase
}

// JSON returns the Transcript resource as the API sent it, byte for byte.
// A Transcript not decoded from the API is rendered: every key of the API's
// resource in the API's order, null where empty or absent, url and links
// derived from the SID. Each call returns a new slice.
func (t Transcript) JSON() []byte {
	if t.raw != "" {
		return t.restore()
	}
	u := t.URL()
	b := make([]byte, 0, 1024+len(t.channel))
	b = append(b, '{')
	b = jsonKey(b, "account_sid", true)
	b = jsonStr(b, t.AccountSID)
	b = jsonKey(b, "service_sid", false)
	b = jsonStr(b, t.ServiceSID)
	b = jsonKey(b, "sid", false)
	b = jsonStr(b, t.SID)
	b = jsonKey(b, "date_created", false)
	b = jsonTime(b, t.DateCreated)
	b = jsonKey(b, "date_updated", false)
	b = jsonTime(b, t.DateUpdated)
	b = jsonKey(b, "status", false)
	b = jsonStr(b, t.Status)
	b = jsonKey(b, "channel", false)
	if t.channel == "" {
		b = append(b, "null"...)
	} else {
		b = append(b, t.channel...)
	}
	b = jsonKey(b, "data_logging", false)
	b = jsonBool(b, t.DataLogging, t.present&hasDataLogging != 0)
	b = jsonKey(b, "language_code", false)
	b = jsonStr(b, t.LanguageCode)
	b = jsonKey(b, "customer_key", false)
	if t.present&hasCustomerKey != 0 {
		b = appendQuoted(b, t.CustomerKey)
	} else {
		b = append(b, "null"...)
	}
	b = jsonKey(b, "media_start_time", false)
	b = jsonTime(b, t.MediaStartTime)
	b = jsonKey(b, "duration", false)
	if t.present&hasDuration != 0 {
		b = strconv.AppendInt(b, int64(t.Duration), 10)
	} else {
		b = append(b, "null"...)
	}
	b = jsonKey(b, "url", false)
	b = appendQuoted(b, u)
	b = jsonKey(b, "redaction", false)
	b = jsonBool(b, t.Redaction, t.present&hasRedaction != 0)
	b = jsonKey(b, "encryption_credential_sid", false)
	b = jsonStr(b, t.EncryptionCredentialSID)
	b = append(b, ',')
	b = t.appendLinks(b)
	b = append(b, '}')
	return b
}

// The resource's members that JSON derives from the SID, as the API
// writes them (compact, in its key order).
func (t Transcript) appendURL(b []byte) []byte {
	b = append(b, `"url":`...)
	return appendQuoted(b, t.URL())
}

func (t Transcript) appendLinks(b []byte) []byte {
	u := t.URL()
	b = append(b, `"links":{`...)
	for i, l := range [...][2]string{
		{"sentences", "/Sentences"},
		{"encrypted_sentences", "/Sentences/Encrypted"},
		{"media", "/Media"},
		{"operator_results", "/OperatorResults"},
		{"encrypted_operator_results", "/OperatorResults/Encrypted"},
	} {
		b = jsonKey(b, l[0], i == 0)
		b = appendQuoted(b, u+l[1])
	}
	return append(b, '}')
}

// keepRaw stores raw as t's resource, cutting out its url and links
// members where they are exactly what appendURL and appendLinks make.
func (t *Transcript) keepRaw(raw []byte) {
	t.cuts = [2]int32{-1, -1}
	if t.SID == "" {
		t.raw = string(raw)
		return
	}
	parts := [2][]byte{t.appendURL(nil), t.appendLinks(nil)}
	out := raw
	for i, p := range parts {
		j := bytes.Index(out, p)
		if j < 0 || (i == 1 && t.cuts[0] >= 0 && j < int(t.cuts[0])) {
			continue // not as derived (or out of order): kept as sent
		}
		out = append(out[:j:j], out[j+len(p):]...)
		t.cuts[i] = int32(j)
	}
	t.raw = string(out)
}

// restore puts the cut members back into raw.
func (t Transcript) restore() []byte {
	if t.cuts == [2]int32{-1, -1} {
		return []byte(t.raw)
	}
	b := make([]byte, 0, len(t.raw)+512)
	prev := 0
	for i, at := range t.cuts {
		if at < 0 {
			continue
		}
		b = append(b, t.raw[prev:at]...)
		if i == 0 {
			b = t.appendURL(b)
		} else {
			b = t.appendLinks(b)
		}
		prev = int(at)
	}
	return append(b, t.raw[prev:]...)
}

func jsonKey(b []byte, k string, first bool) []byte {
	if !first {
		b = append(b, ',')
	}
	b = append(b, '"')
	b = append(b, k...)
	return append(b, '"', ':')
}

func jsonStr(b []byte, s string) []byte {
	if s == "" {
		return append(b, "null"...)
	}
	return appendQuoted(b, s)
}

func appendQuoted(b []byte, s string) []byte {
	q, _ := json.Marshal(s)
	return append(b, q...)
}

func jsonTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, "null"...)
	}
	b = append(b, '"')
	b = t.UTC().AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

func jsonBool(b []byte, v, present bool) []byte {
	if !present {
		return append(b, "null"...)
	}
	return strconv.AppendBool(b, v)
}

// transcriptWire is the API's Transcript resource as decoded from a page.
type transcriptWire struct {
	AccountSID              *string         `json:"account_sid"`
	ServiceSID              *string         `json:"service_sid"`
	SID                     *string         `json:"sid"`
	DateCreated             *string         `json:"date_created"`
	DateUpdated             *string         `json:"date_updated"`
	Status                  *string         `json:"status"`
	Channel                 json.RawMessage `json:"channel"`
	DataLogging             *bool           `json:"data_logging"`
	LanguageCode            *string         `json:"language_code"`
	CustomerKey             *string         `json:"customer_key"`
	MediaStartTime          *string         `json:"media_start_time"`
	Duration                *int            `json:"duration"`
	URL                     *string         `json:"url"`
	Redaction               *bool           `json:"redaction"`
	EncryptionCredentialSID *string         `json:"encryption_credential_sid"`
}

// Interner shares the repeated strings of a listing (service, account,
// status, language, credential, URL base) between its transcripts: one per
// listing, passed to every DecodeTranscript of it. A nil Interner shares
// nothing.
type Interner map[string]string

func (in Interner) get(p *string) string {
	if p == nil || *p == "" {
		return ""
	}
	if s, ok := in[*p]; ok {
		return s
	}
	if in != nil && len(in) < 4096 {
		in[*p] = *p
	}
	return *p
}

// checkSIDs refuses a resource naming a SID that is not well formed.
func (w *transcriptWire) checkSIDs() error {
	if err := checkSID("sid", str(w.SID), PrefixTranscript, false); err != nil {
		return err
	}
	if err := checkSID("service_sid", str(w.ServiceSID), PrefixService, true); err != nil {
		return err
	}
	if err := checkSID("account_sid", str(w.AccountSID), PrefixAccount, true); err != nil {
		return err
	}
	return checkSID("encryption_credential_sid", str(w.EncryptionCredentialSID), PrefixCredential, true)
}

func (w *transcriptWire) compact(in Interner) Transcript {
	t := Transcript{
		SID:                     str(w.SID),
		ServiceSID:              in.get(w.ServiceSID),
		AccountSID:              in.get(w.AccountSID),
		Status:                  in.get(w.Status),
		EncryptionCredentialSID: in.get(w.EncryptionCredentialSID),
		LanguageCode:            in.get(w.LanguageCode),
		DateCreated:             parseTime(w.DateCreated),
		DateUpdated:             parseTime(w.DateUpdated),
		MediaStartTime:          parseTime(w.MediaStartTime),
	}
	if w.CustomerKey != nil {
		t.CustomerKey = *w.CustomerKey
		t.present |= hasCustomerKey
	}
	if w.Duration != nil {
		t.Duration = *w.Duration
		t.present |= hasDuration
	}
	if w.DataLogging != nil {
		t.DataLogging = *w.DataLogging
		t.present |= hasDataLogging
	}
	if w.Redaction != nil {
		t.Redaction = *w.Redaction
		t.present |= hasRedaction
	}
	if len(w.Channel) > 0 && string(w.Channel) != "null" {
		var buf bytes.Buffer
		if json.Compact(&buf, w.Channel) == nil {
			s := buf.String()
			t.channel = in.get(&s)
		}
	}
	if w.URL != nil && t.SID != "" {
		if base, ok := strings.CutSuffix(*w.URL, "/v2/Transcripts/"+t.SID); ok && base != IntelligenceBase {
			t.urlBase = in.get(&base)
		}
	}
	return t
}

// DecodeTranscript decodes one Transcript resource and keeps its bytes, so
// JSON gives them back. in shares strings between the transcripts of one
// listing (nil for a single resource). A resource whose sid is not GT and
// 32 hex digits, or whose service_sid, account_sid or
// encryption_credential_sid (when not null) is not a SID of its kind, is
// refused with an error wrapping ErrMalformedSID: those strings name
// folders, link targets and files, and are printed.
func DecodeTranscript(raw []byte, in Interner) (Transcript, error) {
	var w transcriptWire
	if err := json.Unmarshal(raw, &w); err != nil {
		return Transcript{}, err
	}
	if err := w.checkSIDs(); err != nil {
		return Transcript{}, err
	}
	t := w.compact(in)
	t.keepRaw(raw)
	t.channel = "" // in raw
	return t, nil
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func boolv(p *bool) bool { return p != nil && *p }

func intv(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}

// parseTime accepts the API's ISO 8601 dates (and RFC 2822, which the
// Accounts descriptions mention); zero when absent or unparsable.
func parseTime(p *string) time.Time {
	if p == nil || *p == "" {
		return time.Time{}
	}
	for _, layout := range []string{time.RFC3339Nano, time.RFC1123Z, time.RFC1123} {
		if t, err := time.Parse(layout, *p); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}

// TranscriptQuery selects transcripts for a transcripts listing. Zero
// fields are not sent.
type TranscriptQuery struct {
	ServiceSID string
	// AfterDateCreated and BeforeDateCreated filter on date_created (the
	// API's own inclusive/exclusive semantics apply).
	AfterDateCreated, BeforeDateCreated time.Time
	// AfterStartTime and BeforeStartTime filter on media start time.
	AfterStartTime, BeforeStartTime time.Time
	Status                          string
	LanguageCode                    string
	SourceSID                       string
	// PageSize is the page size (default and maximum 1000).
	PageSize int
}

// CreatedWithin reports whether a date_created satisfies q's date filters:
// AfterDateCreated inclusive, BeforeDateCreated exclusive (the simulator's
// reading; the API does not say). A zero bound does not filter, nor is a
// transcript without a date dropped.
func (q TranscriptQuery) CreatedWithin(t time.Time) bool {
	if t.IsZero() {
		return true
	}
	if !q.AfterDateCreated.IsZero() && t.Before(q.AfterDateCreated.Truncate(time.Second)) {
		return false
	}
	return q.BeforeDateCreated.IsZero() || t.Before(q.BeforeDateCreated.Truncate(time.Second))
}

// TranscriptFilters are the query parameters of the API's transcripts
// listing that TranscriptQuery's fields fill, in the order the API writes
// them into its page URLs. The simulator reads the same names.
var TranscriptFilters = []string{"ServiceSid", "BeforeStartTime", "AfterStartTime", "BeforeDateCreated", "AfterDateCreated", "Status", "LanguageCode", "SourceSid"}

// Values returns q's filters as the API's query parameters (TranscriptFilters;
// dates in RFC 3339, UTC), without PageSize: zero fields are left out.
func (q TranscriptQuery) Values() url.Values {
	v := url.Values{}
	set := func(k, s string) {
		if s != "" {
			v.Set(k, s)
		}
	}
	setTime := func(k string, t time.Time) {
		if !t.IsZero() {
			v.Set(k, t.UTC().Format(time.RFC3339))
		}
	}
	set("ServiceSid", q.ServiceSID)
	setTime("BeforeStartTime", q.BeforeStartTime)
	setTime("AfterStartTime", q.AfterStartTime)
	setTime("BeforeDateCreated", q.BeforeDateCreated)
	setTime("AfterDateCreated", q.AfterDateCreated)
	set("Status", q.Status)
	set("LanguageCode", q.LanguageCode)
	set("SourceSid", q.SourceSID)
	return v
}
