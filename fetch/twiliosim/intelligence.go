package twiliosim

import (
	"bytes"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/intelligencefs/intelligencefs/fetch/record"
)

// apiHandler serves one API endpoint: it returns the status and body, or an
// error; it may set response headers on h.
type apiHandler func(r *http.Request, h http.Header) (int, []byte, *apiError)

// route maps a request to its endpoint, the transcript it concerns and a
// handler (nil handler with a non-nil error: wrong method).
func (s *Server) route(r *http.Request) (string, string, apiHandler, *apiError) {
	parts := strings.Split(strings.TrimSuffix(r.URL.Path, "/"), "/")[1:]
	m := r.Method
	get := m == http.MethodGet || m == http.MethodHead
	nf := notFound(r.URL.Path)
	bad := errorf(405, "Method %s not allowed on %s", m, r.URL.Path)
	pick := func(ok bool, ep, sid string, h apiHandler) (string, string, apiHandler, *apiError) {
		if !ok {
			return ep, sid, nil, bad
		}
		return ep, sid, h, nil
	}
	switch {
	case len(parts) >= 2 && parts[0] == "v2" && parts[1] == "Services":
		switch len(parts) {
		case 2:
			if m == http.MethodPost {
				return EndpointCreateService, "", s.createService, nil
			}
			return pick(get, EndpointListServices, "", s.listServices)
		case 3:
			sid := parts[2]
			if m == http.MethodPost {
				return EndpointUpdateService, "", func(r *http.Request, h http.Header) (int, []byte, *apiError) { return s.updateService(r, h, sid) }, nil
			}
			return pick(get, EndpointFetchService, "", func(r *http.Request, h http.Header) (int, []byte, *apiError) { return s.fetchService(r, h, sid) })
		}
	case len(parts) >= 2 && parts[0] == "v2" && parts[1] == "Transcripts":
		if len(parts) == 2 {
			return pick(get, EndpointListTranscripts, "", s.listTranscripts)
		}
		sid := parts[2]
		tr := func(f func(r *http.Request, t *transcript) (int, []byte, *apiError)) apiHandler {
			return func(r *http.Request, h http.Header) (int, []byte, *apiError) {
				s.mu.RLock()
				defer s.mu.RUnlock()
				t := s.bySID[sid]
				if sid == HostileTranscriptSID && s.currentFaults().HostileTranscripts && len(parts) == 3 {
					return 200, s.hostileTranscript(), nil
				}
				if t == nil || !reGT.MatchString(sid) || s.fire("HideTranscripts", false, sid) {
					return 0, nil, notFound(r.URL.Path)
				}
				return f(r, t)
			}
		}
		switch {
		case len(parts) == 3:
			if m == http.MethodDelete {
				return EndpointDeleteTranscript, sid, func(r *http.Request, h http.Header) (int, []byte, *apiError) {
					if st := s.currentFaults().DeleteStatus; st != 0 {
						return st, nil, nil
					}
					if s.fire("HideTranscripts", false, sid) || !s.DeleteTranscript(sid) {
						return 0, nil, notFound(r.URL.Path)
					}
					return http.StatusNoContent, nil, nil
				}, nil
			}
			return pick(get, EndpointFetchTranscript, sid, tr(s.fetchTranscript))
		case len(parts) == 4 && parts[3] == "Sentences":
			return pick(get, EndpointListSentences, sid, tr(s.listSentences))
		case len(parts) == 5 && parts[3] == "Sentences" && parts[4] == "Encrypted":
			return pick(get, EndpointEncryptedSentences, sid, tr(s.encryptedSentences))
		case len(parts) == 4 && parts[3] == "OperatorResults":
			return pick(get, EndpointListOperatorResults, sid, tr(s.listOperatorResults))
		case len(parts) == 5 && parts[3] == "OperatorResults" && parts[4] == "Encrypted":
			return pick(get, EndpointEncryptedOperatorResults, sid, tr(s.encryptedOperatorResults))
		case len(parts) == 5 && parts[3] == "OperatorResults":
			ly := parts[4]
			return pick(get, EndpointFetchOperatorResult, sid, tr(func(r *http.Request, t *transcript) (int, []byte, *apiError) {
				return s.fetchOperatorResult(r, t, ly)
			}))
		case len(parts) == 4 && parts[3] == "Media":
			return pick(get, EndpointFetchMedia, sid, tr(s.fetchMedia))
		}
	case len(parts) >= 3 && parts[0] == "v1" && parts[1] == "Credentials" && parts[2] == "PublicKeys":
		switch len(parts) {
		case 3:
			if m == http.MethodPost {
				return EndpointCreatePublicKey, "", s.createPublicKey, nil
			}
			return pick(get, EndpointListPublicKeys, "", s.listPublicKeys)
		case 4:
			sid := parts[3]
			return pick(get, EndpointFetchPublicKey, "", func(r *http.Request, h http.Header) (int, []byte, *apiError) { return s.fetchPublicKey(r, sid) })
		}
	}
	return EndpointUnknown, "", nil, nf
}

// serveAPI handles a Twilio REST request.
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	ep, sid, handler, rerr := s.route(r)
	s.record(RequestInfo{Endpoint: ep, Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), TranscriptSID: sid, Authorization: r.Header.Get("Authorization") != ""})
	f := s.currentFaults()
	status := 0
	defer func() {
		s.logger.Debug("twiliosim api", "method", r.Method, "path", r.URL.Path, "endpoint", ep, "status", status)
	}()
	if !s.admit(r, w, f.ConcurrencyLimit, f.APILatency) {
		status = http.StatusTooManyRequests
		return
	}
	if !s.authorized(r) {
		s.counter(CounterUnauthorized).Add(1)
		status = 401
		w.Header().Set("WWW-Authenticate", `Basic realm="Twilio API"`)
		s.writeAPIError(w, errorf(401, "Authenticate"))
		return
	}
	if f.ForbiddenCredentials {
		status = 403
		s.writeAPIError(w, errorf(403, "Forbidden"))
		return
	}
	if s.injectPre(w, false, sid, func(st int, retryAfter string) {
		status = st
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		switch {
		case st == 429:
			s.writeAPIError(w, errorf(429, "Too many requests"))
		case f.ServerErrorHTML:
			writeProxyPage(w, st)
		case st == http.StatusNotImplemented:
			s.writeAPIError(w, errorf(st, "This request is not implemented"))
		default:
			s.writeAPIError(w, errorf(st, "Service unavailable, try again later"))
		}
	}) {
		return
	}
	if rerr != nil {
		status = rerr.status
		s.writeAPIError(w, rerr)
		return
	}
	st, body, aerr := handler(r, w.Header())
	if aerr != nil {
		status = aerr.status
		s.writeAPIError(w, aerr)
		return
	}
	status = st
	if st == http.StatusNoContent {
		w.WriteHeader(st)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	s.writeBody(w, st, body, false, sid)
}

// admit applies the account's concurrency limit (Faults.ConcurrencyLimit)
// and the request's processing time (latency). It reports false after
// refusing the request with Twilio's 20429.
func (s *Server) admit(r *http.Request, w http.ResponseWriter, limit int, latency time.Duration) bool {
	if limit <= 0 {
		sleep(r.Context(), latency)
		return true
	}
	n := s.apiInFlight.Add(1)
	s.notePeak(n)
	if n > int64(limit) {
		s.apiInFlight.Add(-1)
		s.counter(CounterFaultPrefix + "ConcurrencyLimit").Add(1)
		w.Header().Set("Twilio-Concurrent-Requests", strconv.FormatInt(n-1, 10))
		s.writeAPIError(w, errorf(429, "Too many requests"))
		return false
	}
	sleep(r.Context(), latency)
	w.Header().Set("Twilio-Concurrent-Requests", strconv.FormatInt(s.apiInFlight.Load(), 10))
	s.apiInFlight.Add(-1)
	return true
}

// notePeak raises the CounterAPIConcurrencyPeak counter to n.
func (s *Server) notePeak(n int64) {
	c := s.counter(CounterAPIConcurrencyPeak)
	for {
		p := c.Load()
		if n <= p || c.CompareAndSwap(p, n) {
			return
		}
	}
}

// isoTime formats t as Twilio does: ISO 8601 UTC, second precision.
func isoTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

// unixISO formats unix seconds.
func unixISO(sec int64) string { return isoTime(time.Unix(sec, 0)) }

// strOrNil returns nil for "", else &v.
func strOrNil(v string) *string {
	if v == "" {
		return nil
	}
	return &v
}

// parseBool parses an optional boolean query/form value.
func parseBool(v []string, name string, def bool) (bool, *apiError) {
	if len(v) == 0 {
		return def, nil
	}
	switch strings.ToLower(v[0]) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return def, errorf(400, "%s must be true or false", name)
}

// ---- Services ----

// serviceJSON is the Service resource, in the spec example's key order.
type serviceJSON struct {
	SID                          string   `json:"sid"`
	UniqueName                   *string  `json:"unique_name"`
	FriendlyName                 *string  `json:"friendly_name"`
	DateCreated                  string   `json:"date_created"`
	DateUpdated                  string   `json:"date_updated"`
	AccountSID                   string   `json:"account_sid"`
	AutoRedaction                bool     `json:"auto_redaction"`
	MediaRedaction               bool     `json:"media_redaction"`
	AutoTranscribe               bool     `json:"auto_transcribe"`
	DataLogging                  bool     `json:"data_logging"`
	LanguageCode                 string   `json:"language_code"`
	WebhookURL                   *string  `json:"webhook_url"`
	WebhookHTTPMethod            *string  `json:"webhook_http_method"`
	ReadOnlyAttachedOperatorSIDs []string `json:"read_only_attached_operator_sids"`
	Version                      int      `json:"version"`
	EncryptionCredentialSID      *string  `json:"encryption_credential_sid"`
	URL                          string   `json:"url"`
}

// serviceBytes renders a Service resource (caller holds s.mu).
func (s *Server) serviceBytes(svc *service) []byte {
	unique, friendly := svc.uniqueName, svc.friendlyName
	if n := s.currentFaults().ForgedServiceNames; n != "" {
		unique, friendly = n, n
	}
	return marshal(serviceJSON{
		SID: svc.sid, UniqueName: strOrNil(unique), FriendlyName: strOrNil(friendly),
		DateCreated: isoTime(svc.created), DateUpdated: isoTime(svc.updated), AccountSID: s.AccountSID,
		AutoRedaction: svc.autoRedaction, MediaRedaction: svc.mediaRedaction, AutoTranscribe: svc.autoTranscribe,
		DataLogging: svc.dataLogging, LanguageCode: svc.language, WebhookURL: strOrNil(svc.webhookURL),
		WebhookHTTPMethod: strOrNil(svc.webhookMethod), ReadOnlyAttachedOperatorSIDs: svc.operators,
		Version: svc.version, EncryptionCredentialSID: strOrNil(svc.credSID), URL: s.URL + "/v2/Services/" + svc.sid,
	})
}

// etag is the Service's entity tag for its current version.
func (s *Server) etag(svc *service) string {
	return `"` + strconv.FormatUint(mix(uint64(s.corpus.Seed), hashSID(svc.sid), uint64(svc.version)), 16) + `"`
}

// findService looks up a service by SID or unique name (caller holds s.mu).
func (s *Server) findService(sid string) *service {
	for _, svc := range s.services {
		if svc.sid == sid || (svc.uniqueName != "" && svc.uniqueName == sid) {
			return svc
		}
	}
	return nil
}

func (s *Server) listServices(r *http.Request, h http.Header) (int, []byte, *apiError) {
	if s.currentFaults().HostileServices {
		return listAllPlus(s, r, "services", "/v2/Services", func() []*service { return s.services }, s.serviceBytes, s.hostileServiceItems)
	}
	return listAll(s, r, "services", "/v2/Services", func() []*service { return s.services }, s.serviceBytes)
}

func (s *Server) fetchService(r *http.Request, h http.Header, sid string) (int, []byte, *apiError) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	svc := s.findService(sid)
	if svc == nil || svc.sid != sid && s.currentFaults().NoUniqueNameFetch {
		return 0, nil, notFound(r.URL.Path)
	}
	h.Set("ETag", s.etag(svc))
	return 200, s.serviceBytes(svc), nil
}

// applyServiceForm validates and applies the Service form fields.
func (s *Server) applyServiceForm(svc *service, f map[string][]string) *apiError {
	next := *svc
	var e *apiError
	if next.autoTranscribe, e = parseBool(f["AutoTranscribe"], "AutoTranscribe", svc.autoTranscribe); e != nil {
		return e
	}
	if next.dataLogging, e = parseBool(f["DataLogging"], "DataLogging", svc.dataLogging); e != nil {
		return e
	}
	if next.autoRedaction, e = parseBool(f["AutoRedaction"], "AutoRedaction", svc.autoRedaction); e != nil {
		return e
	}
	if next.mediaRedaction, e = parseBool(f["MediaRedaction"], "MediaRedaction", svc.mediaRedaction); e != nil {
		return e
	}
	if next.mediaRedaction && !next.autoRedaction {
		return errorf(400, "MediaRedaction requires AutoRedaction")
	}
	if v, ok := f["FriendlyName"]; ok {
		next.friendlyName = v[0]
	}
	if v, ok := f["UniqueName"]; ok {
		if v[0] == "" {
			return errorf(400, "UniqueName must not be empty")
		}
		if o := s.findService(v[0]); o != nil && o != svc {
			return errorf(400, "UniqueName %s is already in use", v[0])
		}
		next.uniqueName = v[0]
	}
	if v, ok := f["WebhookUrl"]; ok {
		next.webhookURL = v[0]
	}
	if v, ok := f["WebhookHttpMethod"]; ok {
		switch v[0] {
		case "GET", "POST", "NULL":
			next.webhookMethod = v[0]
		default:
			return errorf(400, "WebhookHttpMethod must be GET, POST or NULL")
		}
	}
	if v, ok := f["EncryptionCredentialSid"]; ok {
		if !reCR.MatchString(v[0]) {
			return errorf(400, "EncryptionCredentialSid must match ^CR[0-9a-fA-F]{32}$")
		}
		if s.credBySID[v[0]] == nil {
			return errorf(400, "EncryptionCredentialSid %s is not a public key credential of this account", v[0])
		}
		next.credSID = v[0]
	}
	*svc = next
	return nil
}

func (s *Server) updateService(r *http.Request, h http.Header, sid string) (int, []byte, *apiError) {
	form, err := readForm(r)
	if err != nil {
		return 0, nil, errorf(400, "Malformed request body")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	svc := s.findService(sid)
	if svc == nil {
		return 0, nil, notFound(r.URL.Path)
	}
	if im := r.Header.Get("If-Match"); im != "" && im != "*" && strings.Trim(im, `"`) != strings.Trim(s.etag(svc), `"`) {
		return 0, nil, errorf(412, "The resource has been modified: If-Match does not match the current ETag")
	}
	if e := s.applyServiceForm(svc, form); e != nil {
		return 0, nil, e
	}
	svc.version++
	svc.updated = s.now().UTC().Truncate(time.Second)
	h.Set("ETag", s.etag(svc))
	return 200, s.serviceBytes(svc), nil
}

func (s *Server) createService(r *http.Request, h http.Header) (int, []byte, *apiError) {
	form, err := readForm(r)
	if err != nil {
		return 0, nil, errorf(400, "Malformed request body")
	}
	if form.Get("UniqueName") == "" {
		return 0, nil, errorf(400, "Missing required parameter UniqueName in the post body")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now().UTC().Truncate(time.Second)
	svc := &service{
		sid:            makeSID("GA", s.corpus.Seed, sidService, 1000+uint64(len(s.services))),
		language:       firstNonEmpty(form.Get("LanguageCode"), "en-US"),
		autoTranscribe: true,
		webhookMethod:  "POST",
		operators:      []string{},
		created:        now, updated: now,
		kind: kindCreated,
	}
	if e := s.applyServiceForm(svc, form); e != nil {
		return 0, nil, e
	}
	svc.version = 1
	s.services = append(s.services, svc)
	h.Set("ETag", s.etag(svc))
	return http.StatusCreated, s.serviceBytes(svc), nil
}

// ---- Transcripts ----

// transcriptLinks are a Transcript's five links.
type transcriptLinks struct {
	Sentences                string `json:"sentences"`
	EncryptedSentences       string `json:"encrypted_sentences"`
	Media                    string `json:"media"`
	OperatorResults          string `json:"operator_results"`
	EncryptedOperatorResults string `json:"encrypted_operator_results"`
}

// transcriptJSON is the Transcript resource in the spec example's key order.
type transcriptJSON struct {
	AccountSID              string          `json:"account_sid"`
	ServiceSID              string          `json:"service_sid"`
	SID                     string          `json:"sid"`
	DateCreated             string          `json:"date_created"`
	DateUpdated             string          `json:"date_updated"`
	Status                  string          `json:"status"`
	Channel                 rawJSON         `json:"channel"`
	DataLogging             bool            `json:"data_logging"`
	LanguageCode            string          `json:"language_code"`
	MediaStartTime          *string         `json:"media_start_time"`
	Duration                int             `json:"duration"`
	CustomerKey             *string         `json:"customer_key"`
	URL                     string          `json:"url"`
	Redaction               bool            `json:"redaction"`
	EncryptionCredentialSID *string         `json:"encryption_credential_sid"`
	Links                   transcriptLinks `json:"links"`
}

// rawJSON is pre-rendered JSON.
type rawJSON []byte

// MarshalJSON returns the bytes as they are.
func (r rawJSON) MarshalJSON() ([]byte, error) { return r, nil }

// sourceSID is the RE… recording SID a transcript was made from.
func (s *Server) sourceSID(t *transcript) string {
	return makeSID("RE", s.corpus.Seed, sidRecording, hashSID(t.sid))
}

// transcriptResource renders a Transcript resource (caller holds s.mu).
func (s *Server) transcriptResource(t *transcript) []byte {
	base := s.URL + "/v2/Transcripts/" + t.sid
	h := hashSID(t.sid)
	var ck *string
	if h%2 == 0 {
		v := "case-" + strconv.FormatUint(uint64(t.index)+100000, 10)
		ck = &v
	}
	var mst *string
	if t.mediaStart != 0 {
		v := unixISO(t.mediaStart)
		mst = &v
	}
	dur := int(t.duration)
	if t.status != StatusCompleted {
		dur = 0
	}
	channel := `{"media_properties":{"media_url":null,"source_sid":"` + s.sourceSID(t) + `"},"participants":[{"channel_participant":1,"role":"Agent"},{"channel_participant":2,"role":"Customer"}],"type":"voice"}`
	return marshal(transcriptJSON{
		AccountSID: s.AccountSID, ServiceSID: t.svc.sid, SID: t.sid,
		DateCreated: unixISO(t.created), DateUpdated: unixISO(t.updated), Status: t.status,
		Channel: rawJSON(channel), DataLogging: t.svc.dataLogging, LanguageCode: t.svc.language,
		MediaStartTime: mst, Duration: dur, CustomerKey: ck, URL: base, Redaction: t.redaction,
		EncryptionCredentialSID: s.shownCredential(t),
		Links: transcriptLinks{
			Sentences: base + "/Sentences", EncryptedSentences: base + "/Sentences/Encrypted",
			Media: base + "/Media", OperatorResults: base + "/OperatorResults",
			EncryptedOperatorResults: base + "/OperatorResults/Encrypted",
		},
	})
}

func (s *Server) fetchTranscript(r *http.Request, t *transcript) (int, []byte, *apiError) {
	if s.fire("OtherTranscript", false, t.sid) {
		t = s.otherTranscript(t)
	}
	return 200, s.transcriptBytes(t), nil
}

// transcriptBytes renders a Transcript resource (caller holds s.mu),
// padded when OversizedTranscript hits it.
func (s *Server) transcriptBytes(t *transcript) []byte {
	b := s.transcriptResource(t)
	if s.fire("ForeignAccount", false, t.sid) {
		b = bytes.Replace(b, []byte(`"account_sid":"`+s.AccountSID+`"`), []byte(`"account_sid":"`+ForeignAccountSID+`"`), 1)
	}
	if s.fire("OversizedTranscript", false, t.sid) {
		b = oversize(b, s.currentFaults().OversizeBytes)
	}
	return b
}

// parseDate accepts RFC 3339 or YYYY-MM-DD.
func parseDate(v string) (int64, bool) {
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t.Unix(), true
	}
	if t, err := time.Parse("2006-01-02", v); err == nil {
		return t.Unix(), true
	}
	return 0, false
}

// posKey is a transcript list position.
type posKey struct {
	created int64
	sid     string
}

func (k posKey) less(t *transcript) bool { // k < t
	if k.created != t.created {
		return k.created < t.created
	}
	return k.sid < t.sid
}

func (s *Server) listTranscripts(r *http.Request, h http.Header) (int, []byte, *apiError) {
	q := r.URL.Query()
	p, e := parsePage(q, 1000)
	if e != nil {
		return 0, nil, e
	}
	var filters []param
	for _, n := range record.TranscriptFilters {
		if v := q.Get(n); v != "" {
			filters = append(filters, param{n, v})
		}
	}
	var (
		after, afterStart        int64 = -1 << 62, -1 << 62
		before, beforeStart      int64 = 1 << 62, 1 << 62
		serviceSID, status, lang       = q.Get("ServiceSid"), q.Get("Status"), q.Get("LanguageCode")
		source                         = q.Get("SourceSid")
		startFilter                    = false
	)
	if serviceSID != "" && !reGA.MatchString(serviceSID) {
		return 0, nil, errorf(400, "ServiceSid must match ^GA[0-9a-fA-F]{32}$")
	}
	for _, d := range []struct {
		name string
		dst  *int64
	}{{"AfterDateCreated", &after}, {"BeforeDateCreated", &before}, {"AfterStartTime", &afterStart}, {"BeforeStartTime", &beforeStart}} {
		if v := q.Get(d.name); v != "" {
			t, ok := parseDate(v)
			if !ok {
				return 0, nil, errorf(400, "%s must be an ISO 8601 date-time", d.name)
			}
			*d.dst = t
			if strings.Contains(d.name, "StartTime") {
				startFilter = true
			}
		}
	}
	f := s.currentFaults()
	if f.IgnoreDateFilters {
		after, before = -1<<62, 1<<62
	} else if slack := int64(f.DateFilterSlack / time.Second); slack > 0 {
		if q.Get("AfterDateCreated") != "" {
			after -= slack
		}
		if q.Get("BeforeDateCreated") != "" {
			before += slack
		}
	}
	match := func(t *transcript) bool {
		if status != "" && t.status != status {
			return false
		}
		if lang != "" && t.svc.language != lang {
			return false
		}
		if startFilter && (t.mediaStart == 0 || t.mediaStart < afterStart || t.mediaStart >= beforeStart) {
			return false
		}
		if source != "" && s.sourceSID(t) != source {
			return false
		}
		return true
	}
	// Decode the token: "a|created|sid" continues after (older than) that
	// position, "b|created|sid" is the page before (newer than) it.
	mode, tok := byte(0), posKey{}
	if p.token != "" {
		d, ok := decodeToken(p.token)
		f := strings.SplitN(d, "|", 3)
		if !ok || len(f) != 3 || (f[0] != "a" && f[0] != "b") {
			return 0, nil, errorf(400, "Invalid PageToken")
		}
		c, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			return 0, nil, errorf(400, "Invalid PageToken")
		}
		mode, tok = f[0][0], posKey{c, f[2]}
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	list := s.all
	if serviceSID != "" {
		list = nil
		if svc := s.findService(serviceSID); svc != nil {
			list = svc.transcripts
		}
	}
	// hi: first index with created >= before (exclusive bound).
	hi := sort.Search(len(list), func(i int) bool { return list[i].created >= before })
	var picked []*transcript
	hasNext := false
	if mode == 'b' {
		lo := sort.Search(len(list), func(i int) bool { return tok.less(list[i]) })
		for i := lo; i < hi && len(picked) < p.size; i++ {
			if list[i].created >= after && match(list[i]) {
				picked = append(picked, list[i])
			}
		}
		for i, j := 0, len(picked)-1; i < j; i, j = i+1, j-1 {
			picked[i], picked[j] = picked[j], picked[i]
		}
		hasNext = true
	} else {
		if mode == 'a' {
			hi = min(hi, sort.Search(len(list), func(i int) bool { return !list[i].less(&transcript{created: tok.created, sid: tok.sid}) }))
		}
		skip := 0
		if mode == 0 {
			skip = p.page * p.size
		}
		for i := hi - 1; i >= 0; i-- {
			t := list[i]
			if t.created < after {
				break
			}
			if !match(t) {
				continue
			}
			if skip > 0 {
				skip--
				continue
			}
			if len(picked) == p.size {
				hasNext = true
				break
			}
			picked = append(picked, t)
		}
	}
	items := make([][]byte, len(picked))
	for i, t := range picked {
		items[i] = s.transcriptBytes(t)
	}
	if s.currentFaults().HostileTranscripts && len(items) > 0 {
		items = append(items, s.hostileTranscriptItems(items[0])...)
	}
	if len(picked) > 0 {
		items = append(items, s.forgedTranscriptItems(picked[0])...)
	}
	token := func(m string, t *transcript) string {
		return "PT" + base64URL(m+"|"+strconv.FormatInt(t.created, 10)+"|"+t.sid)
	}
	var next, prev string
	if len(picked) > 0 {
		next = token("a", picked[len(picked)-1])
		prev = token("b", picked[0])
	} else {
		hasNext = false
	}
	return 200, s.listBody("transcripts", "/v2/Transcripts", filters, p, items, len(picked) > 0, prev, hasNext, next), nil
}

// ---- Sentences and operator results ----

// plainContent reports whether t's plain content endpoints serve items.
func plainContent(t *transcript) bool { return t.status == StatusCompleted && t.credSID == "" }

func (s *Server) listSentences(r *http.Request, t *transcript) (int, []byte, *apiError) {
	q := r.URL.Query()
	p, e := parsePage(q, 5000)
	if e != nil {
		return 0, nil, e
	}
	if m := s.currentFaults().MaxSentencePageSize; m > 0 && p.size > m {
		return 0, nil, errorf(400, "PageSize must be less than or equal to %d", m)
	}
	if e := s.plainRefused(t); e != nil {
		return 0, nil, e
	}
	red, e := parseBool(q["Redacted"], "Redacted", t.redaction)
	if e != nil {
		return 0, nil, e
	}
	wts, e := parseBool(q["WordTimestamps"], "WordTimestamps", false)
	if e != nil {
		return 0, nil, e
	}
	var filters []param
	if _, ok := q["Redacted"]; ok {
		filters = append(filters, param{"Redacted", strconv.FormatBool(red)})
	}
	if _, ok := q["WordTimestamps"]; ok {
		filters = append(filters, param{"WordTimestamps", strconv.FormatBool(wts)})
	}
	var items [][]byte
	if plainContent(t) {
		items = s.sentenceResources(t, red, wts)
	}
	body, e := s.offsetPage("sentences", "/v2/Transcripts/"+t.sid+"/Sentences", filters, p, items)
	return 200, body, e
}

func (s *Server) listOperatorResults(r *http.Request, t *transcript) (int, []byte, *apiError) {
	q := r.URL.Query()
	p, e := parsePage(q, 1000)
	if e != nil {
		return 0, nil, e
	}
	if e := s.plainRefused(t); e != nil {
		return 0, nil, e
	}
	red, e := parseBool(q["Redacted"], "Redacted", t.redaction)
	if e != nil {
		return 0, nil, e
	}
	var filters []param
	if _, ok := q["Redacted"]; ok {
		filters = append(filters, param{"Redacted", strconv.FormatBool(red)})
	}
	var items [][]byte
	if plainContent(t) {
		items = s.operatorResults(t, red)
	}
	body, e := s.offsetPage("operator_results", "/v2/Transcripts/"+t.sid+"/OperatorResults", filters, p, items)
	return 200, body, e
}

func (s *Server) fetchOperatorResult(r *http.Request, t *transcript, ly string) (int, []byte, *apiError) {
	red, e := parseBool(r.URL.Query()["Redacted"], "Redacted", t.redaction)
	if e != nil {
		return 0, nil, e
	}
	if !reLY.MatchString(ly) || !plainContent(t) {
		return 0, nil, notFound(r.URL.Path)
	}
	for _, res := range s.operatorResults(t, red) {
		if strings.Contains(string(res), `"operator_sid":"`+ly+`"`) {
			return 200, res, nil
		}
	}
	return 0, nil, notFound(r.URL.Path)
}

// encryptedContent reports whether t's encrypted endpoints give locations.
func encryptedContent(t *transcript) bool { return t.status == StatusCompleted && t.credSID != "" }

// redactedPart is the object path element for the redaction choice.
func redactedPart(red bool) string {
	if red {
		return "r"
	}
	return "u"
}

func (s *Server) encryptedSentences(r *http.Request, t *transcript) (int, []byte, *apiError) {
	red, e := parseBool(r.URL.Query()["Redacted"], "Redacted", t.redaction)
	if e != nil {
		return 0, nil, e
	}
	var loc *string
	if encryptedContent(t) && !s.fire("NullLocations", false, t.sid) {
		u := s.presign("/objects/"+t.sid+"/sentences/"+redactedPart(red), s.fire("ExpiredURLs", false, t.sid))
		loc = &u
	}
	return 200, marshal(struct {
		Location      *string `json:"location"`
		TranscriptSID string  `json:"transcript_sid"`
		URL           string  `json:"url"`
	}{loc, t.sid, s.URL + "/v2/Transcripts/" + t.sid + "/Sentences/Encrypted"}), nil
}

func (s *Server) encryptedOperatorResults(r *http.Request, t *transcript) (int, []byte, *apiError) {
	red, e := parseBool(r.URL.Query()["Redacted"], "Redacted", t.redaction)
	if e != nil {
		return 0, nil, e
	}
	var locs []string // null unless completed
	if encryptedContent(t) && !s.fire("NullLocations", false, t.sid) {
		expired := s.fire("ExpiredURLs", false, t.sid)
		n := s.operatorResultCount(t)
		locs = []string{}
		for i := 1; i <= n; i++ {
			locs = append(locs, s.presign("/objects/"+t.sid+"/operator-results/"+redactedPart(red)+"/"+strconv.Itoa(i), expired))
		}
		if many := s.currentFaults().ManyLocations; many > 0 && n > 0 {
			for i := 0; len(locs) < many; i++ {
				locs = append(locs, locs[i%n])
			}
		}
		if s.currentFaults().ReverseLocations && s.answers.Add(1)%2 == 0 {
			slices.Reverse(locs)
		}
	}
	return 200, marshal(struct {
		Locations     []string `json:"locations"`
		TranscriptSID string   `json:"transcript_sid"`
		URL           string   `json:"url"`
	}{locs, t.sid, s.URL + "/v2/Transcripts/" + t.sid + "/OperatorResults/Encrypted"}), nil
}

func (s *Server) fetchMedia(r *http.Request, t *transcript) (int, []byte, *apiError) {
	red, e := parseBool(r.URL.Query()["Redacted"], "Redacted", t.svc.mediaRedaction)
	if e != nil {
		return 0, nil, e
	}
	var mu *string
	if t.status == StatusCompleted {
		u := s.presign("/objects/"+t.sid+"/media/"+redactedPart(red), s.fire("ExpiredURLs", false, t.sid))
		mu = &u
	}
	return 200, marshal(struct {
		AccountSID string  `json:"account_sid"`
		MediaURL   *string `json:"media_url"`
		ServiceSID string  `json:"service_sid"`
		SID        string  `json:"sid"`
		URL        string  `json:"url"`
	}{s.AccountSID, mu, t.svc.sid, t.sid, s.URL + "/v2/Transcripts/" + t.sid + "/Media"}), nil
}

// shownCredential is the encryption_credential_sid a transcript resource
// shows: its credential, or null under HideTranscriptCredential.
func (s *Server) shownCredential(t *transcript) *string {
	if s.currentFaults().HideTranscriptCredential {
		return nil
	}
	return strOrNil(t.credSID)
}

// plainRefused is the 400 of the plain content lists for an encrypted
// transcript under PlainErrorOnEncrypted.
func (s *Server) plainRefused(t *transcript) *apiError {
	if t.credSID != "" && s.currentFaults().PlainErrorOnEncrypted {
		return errorf(400, "The content of an encrypted transcript is only available from its Encrypted endpoint")
	}
	return nil
}

// writeProxyPage answers as a load balancer in front of the API would: an
// HTML page, not Twilio's JSON.
func writeProxyPage(w http.ResponseWriter, status int) {
	body := "<html>\r\n<head><title>" + strconv.Itoa(status) + " " + http.StatusText(status) +
		"</title></head>\r\n<body>\r\n<center><h1>" + strconv.Itoa(status) + " " + http.StatusText(status) +
		"</h1></center>\r\n</body>\r\n</html>\r\n"
	w.Header().Set("Content-Type", "text/html")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}
