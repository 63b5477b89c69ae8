package fetch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/intelligencefs/intelligencefs/fetch/record"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/twilio/twilio-go/client"
	accounts "github.com/twilio/twilio-go/rest/accounts/v1"
	intelligence "github.com/twilio/twilio-go/rest/intelligence/v2"
)

var (
	transcriptSIDPattern = regexp.MustCompile(`^GT[0-9a-fA-F]{32}$`)
	credentialSIDPattern = regexp.MustCompile(`^CR[0-9a-fA-F]{32}$`)
	serviceSIDPattern    = regexp.MustCompile(`^GA[0-9a-fA-F]{32}$`)
)

// maxPages stops a list whose next_page_url never ends (a backstop: the
// pager's loop and byte checks end a misbehaving listing long before).
const maxPages = 1 << 20

// MaxResourceBytes bounds one listed Service or Transcript resource. A
// real one is 1–2 KB; a listing keeps every one it lists, so a server that
// pads one with a field of hundreds of MiB must not have it kept.
const MaxResourceBytes = 64 << 10

// pager guards one listing against a server that never ends it: a
// next_page_url seen before (a loop), an empty page that still names a next
// one, or more than Config.MaxListBytes received in all. Each ends the
// listing with an error (EIO at the mount, one log line there) instead of
// following it up to maxPages times.
type pager struct {
	c        *Client
	op       string
	sid      string
	seen     map[string]struct{}
	pages    int
	bytes    int64
	skipped  int   // resources larger than MaxResourceBytes
	bad      int   // resources naming a malformed SID (record.ErrMalformedSID)
	firstBad error // the first of them
}

// malformed counts a listed resource refused for a malformed SID.
func (p *pager) malformed(err error) {
	p.bad++
	if p.firstBad == nil {
		p.firstBad = err
	}
}

// report logs, once the listing ended, the one warning of the resources
// it skipped for a malformed SID: how many, and the first one (escaped).
func (p *pager) report() {
	if p.bad == 0 {
		return
	}
	p.c.log.Warn("fetch: the server listed resources whose SIDs are not well formed; skipped",
		"op", p.op, "service", p.sid, "malformed", p.bad, "first", p.firstBad.Error())
}

// fits reports whether a listed resource is small enough to keep; the
// first one that is not is logged (one warning per listing).
func (p *pager) fits(raw []byte) bool {
	if len(raw) <= MaxResourceBytes {
		return true
	}
	p.skipped++
	if p.skipped == 1 {
		p.c.log.Warn("fetch: a listed resource is larger than any real one; skipped (further ones in this listing are skipped silently)",
			"op", p.op, "service", p.sid, "bytes", len(raw), "limit", MaxResourceBytes)
	}
	return false
}

func (c *Client) newPager(op, sid string) *pager {
	return &pager{c: c, op: op, sid: sid, seen: map[string]struct{}{}}
}

// page accounts one received page (its body length and item count) and
// vets the next URL it names; next "" ends the listing normally.
func (p *pager) page(bodyLen, items int, next string, attempts int) error {
	p.pages++
	p.bytes += int64(bodyLen)
	fail := func(err error) error { return p.c.newError(p.op, p.sid, 0, attempts, nil, "", err) }
	if p.bytes > p.c.cfg.MaxListBytes {
		return fail(fmt.Errorf("listing exceeds %d bytes after %d pages", p.c.cfg.MaxListBytes, p.pages))
	}
	if next == "" {
		return nil
	}
	if err := p.c.checkNext(next); err != nil {
		return fail(err)
	}
	if items == 0 {
		return fail(fmt.Errorf("page %d is empty but names a next page", p.pages))
	}
	if _, dup := p.seen[next]; dup {
		return fail(fmt.Errorf("next_page_url of page %d repeats an earlier page (a paging loop)", p.pages))
	}
	p.seen[next] = struct{}{}
	return nil
}

// pageMeta is the list envelope's meta object.
type pageMeta struct {
	NextPageURL *string `json:"next_page_url"`
}

func (m pageMeta) next() string {
	if m.NextPageURL == nil {
		return ""
	}
	return *m.NextPageURL
}

// checkNext vets a next_page_url before twilio-go sends credentials to it:
// an absolute URL on an API path, and, unless Config.APIURL replaces the
// host anyway, https on a Twilio host.
func (c *Client) checkNext(next string) error {
	if next == "" {
		return nil
	}
	u, err := url.Parse(next)
	if err != nil || !u.IsAbs() {
		return errors.New("next_page_url is not an absolute URL")
	}
	if !strings.HasPrefix(u.Path, "/v1/") && !strings.HasPrefix(u.Path, "/v2/") {
		return errors.New("next_page_url is not an API path")
	}
	if c.apiURL == nil && (u.Scheme != "https" || !strings.HasSuffix(strings.ToLower(u.Hostname()), ".twilio.com")) {
		return fmt.Errorf("next_page_url points outside Twilio (%s)", record.Redact(next))
	}
	return nil
}

// badSID is the error for a malformed SID: no request is made.
func (c *Client) badSID(op, sid string) error {
	return c.newError(op, sid, 0, 0, record.ErrNotFound, "", errors.New("not a well-formed SID"))
}

// ValidateCredentials makes the smallest authenticated request (one service)
// and reports ErrAuth if the credentials are rejected.
func (c *Client) ValidateCredentials(ctx context.Context) error {
	k := c.newCall(ctx)
	ps := 1
	if _, err := k.intelligence().PageService(&intelligence.ListServiceParams{PageSize: &ps}, "", ""); err != nil {
		return c.apiError(ctx, "validate credentials", "", k.info, err)
	}
	return nil
}

// ListServices returns every Intelligence Service (all pages).
func (c *Client) ListServices(ctx context.Context) ([]record.Service, error) {
	const op = "list services"
	var out []record.Service
	next := record.IntelligenceBase + "/v2/Services"
	q := url.Values{"PageSize": {strconv.Itoa(DefaultPageSize)}}
	pg := c.newPager(op, "")
	defer pg.report()
	for range maxPages {
		if next == "" {
			return out, nil
		}
		k := c.newCall(ctx)
		body, _, err := k.getRaw(next, q)
		if err != nil {
			return nil, c.apiError(ctx, op, "", k.info, err)
		}
		var page struct {
			Services []json.RawMessage `json:"services"`
			Meta     pageMeta          `json:"meta"`
		}
		if err := json.Unmarshal(body, &page); err != nil {
			return nil, c.newError(op, "", 0, k.info.attempts, nil, "", fmt.Errorf("malformed page: %w", err))
		}
		for _, raw := range page.Services {
			if !pg.fits(raw) {
				continue
			}
			s, err := record.ParseService(raw)
			if errors.Is(err, record.ErrMalformedSID) {
				pg.malformed(err)
				continue
			}
			if err != nil {
				return nil, c.newError(op, "", 0, k.info.attempts, nil, "", fmt.Errorf("malformed service: %w", err))
			}
			out = append(out, s)
		}
		next, q = page.Meta.next(), nil
		if err := pg.page(len(body), len(page.Services), next, k.info.attempts); err != nil {
			return nil, err
		}
	}
	return nil, c.newError(op, "", 0, 0, nil, "", errors.New("too many pages"))
}

// FetchService returns one Service by SID (GA…) or unique name, with its
// ETag when the API sends one. A unique name is resolved through the
// service list: the API documents GET /v2/Services/{Sid} for the SID only.
func (c *Client) FetchService(ctx context.Context, sid string) (record.Service, error) {
	const op = "fetch service"
	if sid == "" {
		return record.Service{}, c.badSID(op, sid)
	}
	if !serviceSIDPattern.MatchString(sid) {
		list, err := c.ListServices(ctx)
		if err != nil {
			return record.Service{}, err
		}
		name := sid
		sid = ""
		for _, s := range list {
			if s.UniqueName == name {
				sid = s.SID
				break
			}
		}
		if sid == "" {
			return record.Service{}, c.newError(op, name, 0, 0, record.ErrNotFound, "", errors.New("no service has this unique name"))
		}
	}
	k := c.newCall(ctx)
	body, h, err := k.getRaw(record.IntelligenceBase+"/v2/Services/"+url.PathEscape(sid), url.Values{})
	if err != nil {
		return record.Service{}, c.apiError(ctx, op, sid, k.info, err)
	}
	if len(body) > MaxResourceBytes {
		return record.Service{}, c.newError(op, sid, 0, k.info.attempts, nil, "",
			fmt.Errorf("the resource is %d bytes, more than the %d a service may take", len(body), MaxResourceBytes))
	}
	s, err := record.ParseService(body)
	if err != nil {
		return record.Service{}, c.newError(op, sid, 0, k.info.attempts, nil, "", fmt.Errorf("malformed service: %w", err))
	}
	if s.SID != sid {
		return record.Service{}, c.newError(op, sid, 0, k.info.attempts, record.ErrMalformedSID, "",
			fmt.Errorf("the API answered with service %s", record.QuoteText(s.SID, 40)))
	}
	s.ETag = h.Get("ETag")
	return s, nil
}

// UpdateServiceEncryption sets the service's EncryptionCredentialSid. When
// ifMatch is not "" it is sent as If-Match (the ETag from FetchService), and
// a changed service gives ErrConflict. The update is a POST: it is retried
// only when the request was certainly not processed (429, connection
// refused).
func (c *Client) UpdateServiceEncryption(ctx context.Context, serviceSID, credSID, ifMatch string) (record.Service, error) {
	const op = "update service"
	if serviceSID == "" {
		return record.Service{}, c.badSID(op, serviceSID)
	}
	if !credentialSIDPattern.MatchString(credSID) {
		return record.Service{}, c.newError(op, serviceSID, 0, 0, nil, "", fmt.Errorf("credential SID %q is not CR followed by 32 hex digits", credSID))
	}
	k := c.newCall(ctx)
	// The same request twilio-go's UpdateService builds (form field and
	// If-Match header), sent through its RequestHandler so the raw resource
	// and ETag are kept.
	headers := map[string]interface{}{"Content-Type": "application/x-www-form-urlencoded"}
	if ifMatch != "" {
		headers["If-Match"] = ifMatch
	}
	resp, err := k.rh.Post(record.IntelligenceBase+"/v2/Services/"+url.PathEscape(serviceSID),
		url.Values{"EncryptionCredentialSid": {credSID}}, headers, "")
	if err != nil {
		return record.Service{}, c.apiError(ctx, op, serviceSID, k.info, err)
	}
	body, err := bodyBytes(resp)
	if err == nil && (resp.StatusCode < 200 || resp.StatusCode > 299) {
		err = fmt.Errorf("unexpected HTTP status %d", resp.StatusCode)
	}
	if err != nil {
		return record.Service{}, c.apiError(ctx, op, serviceSID, k.info, err)
	}
	s, err := record.ParseService(body)
	if err != nil {
		return record.Service{}, c.newError(op, serviceSID, 0, k.info.attempts, nil, "", fmt.Errorf("malformed service: %w", err))
	}
	s.ETag = resp.Header.Get("ETag")
	return s, nil
}

// ListPublicKeys returns every Accounts v1 public key credential.
func (c *Client) ListPublicKeys(ctx context.Context) ([]record.PublicKey, error) {
	k := c.newCall(ctx)
	ps := DefaultPageSize
	keys, err := k.accounts().ListCredentialPublicKey(&accounts.ListCredentialPublicKeyParams{PageSize: &ps})
	if err != nil {
		return nil, c.apiError(ctx, "list public keys", "", k.info, err)
	}
	out := make([]record.PublicKey, 0, len(keys))
	skipped := 0
	for i := range keys {
		pk := publicKeyOf(&keys[i])
		if !record.IsSID(pk.SID, record.PrefixCredential) || (pk.AccountSID != "" && !record.IsSID(pk.AccountSID, record.PrefixAccount)) {
			skipped++ // a name the server made up: never printed or bound to a key
			continue
		}
		out = append(out, pk)
	}
	if skipped > 0 {
		c.log.Warn("fetch: the server listed public keys whose SIDs are not well formed; skipped", "malformed", skipped)
	}
	return out, nil
}

// CreatePublicKey registers a PEM public key ("PUBLIC KEY", PKIX) as an
// Accounts v1 credential named name and returns it (its SID is the CR… that
// services and transcripts refer to). A POST: retried only when certainly
// not processed.
func (c *Client) CreatePublicKey(ctx context.Context, name string, pemBytes []byte) (record.PublicKey, error) {
	k := c.newCall(ctx)
	p := (&accounts.CreateCredentialPublicKeyParams{}).SetPublicKey(string(pemBytes))
	if name != "" {
		p.SetFriendlyName(name)
	}
	key, err := k.accounts().CreateCredentialPublicKey(p)
	if err != nil {
		return record.PublicKey{}, c.apiError(ctx, "create public key", "", k.info, err)
	}
	pk := publicKeyOf(key)
	if !record.IsSID(pk.SID, record.PrefixCredential) {
		return record.PublicKey{}, c.newError("create public key", "", 0, k.info.attempts, record.ErrMalformedSID, "",
			fmt.Errorf("the API answered with credential SID %s", record.QuoteText(pk.SID, 40)))
	}
	return pk, nil
}

func publicKeyOf(k *accounts.AccountsV1CredentialPublicKey) record.PublicKey {
	pk := record.PublicKey{SID: str(k.Sid), AccountSID: str(k.AccountSid), FriendlyName: str(k.FriendlyName), URL: str(k.Url)}
	if k.DateCreated != nil {
		pk.DateCreated = k.DateCreated.UTC()
	}
	if k.DateUpdated != nil {
		pk.DateUpdated = k.DateUpdated.UTC()
	}
	return pk
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// ListTranscripts streams the transcripts matching q page by page: page is
// called with each page (PageSize 1000 by default) before the next is
// requested, so N transcripts cost ceil(N/PageSize) requests and a caller
// can use the first page before the last arrives. The slice passed to page
// is the callee's to keep. An error from page stops the listing and is
// returned as is.
func (c *Client) ListTranscripts(ctx context.Context, q record.TranscriptQuery, page func([]record.Transcript) error) error {
	const op = "list transcripts"
	ps := q.PageSize
	if ps <= 0 || ps > DefaultPageSize {
		ps = DefaultPageSize
	}
	v := q.Values()
	v.Set("PageSize", strconv.Itoa(ps))

	in := record.Interner{}
	next := record.IntelligenceBase + "/v2/Transcripts"
	pager := c.newPager(op, q.ServiceSID)
	defer pager.report()
	for range maxPages {
		if next == "" {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return c.newError(op, q.ServiceSID, 0, 0, nil, "", err)
		}
		k := c.newCall(ctx)
		body, _, err := k.getRaw(next, v)
		if err != nil {
			return c.apiError(ctx, op, q.ServiceSID, k.info, err)
		}
		var pg struct {
			Transcripts []json.RawMessage `json:"transcripts"`
			Meta        pageMeta          `json:"meta"`
		}
		if err := json.Unmarshal(body, &pg); err != nil {
			return c.newError(op, q.ServiceSID, 0, k.info.attempts, nil, "", fmt.Errorf("malformed page: %w", err))
		}
		bodyLen := len(body)
		ts := make([]record.Transcript, 0, len(pg.Transcripts))
		older := false
		for _, raw := range pg.Transcripts {
			if !pager.fits(raw) {
				continue
			}
			t, err := record.DecodeTranscript(raw, in)
			if errors.Is(err, record.ErrMalformedSID) {
				pager.malformed(err)
				continue
			}
			if err != nil {
				return c.newError(op, q.ServiceSID, 0, k.info.attempts, nil, "", fmt.Errorf("malformed transcript: %w", err))
			}
			// The server may ignore or round the date filters: keep
			// only what was asked for (After inclusive, Before exclusive).
			if q.CreatedWithin(t.DateCreated) {
				ts = append(ts, t)
			} else if !q.AfterDateCreated.IsZero() && t.DateCreated.Before(q.AfterDateCreated) {
				older = true
			}
		}
		// The kept resources are copies: drop the page's bytes now.
		n := len(pg.Transcripts)
		pg.Transcripts = nil
		next, v = pg.Meta.next(), nil
		// Vetted before the page is handed on, so a loop's repeated
		// page is not delivered a second time.
		if err := pager.page(bodyLen, n, next, k.info.attempts); err != nil {
			return err
		}
		if err := page(ts); err != nil {
			return err
		}
		if older {
			// The server disregarded AfterDateCreated and has reached
			// older transcripts (newest first): the rest is older still.
			c.log.Debug("fetch: transcripts list ignored AfterDateCreated; stopped at older transcripts", "service", q.ServiceSID)
			return nil
		}
	}
	return c.newError(op, q.ServiceSID, 0, 0, nil, "", errors.New("too many pages"))
}

// FetchTranscript returns one Transcript. A SID that is not GT followed by
// 32 hex digits gives ErrNotFound without a request. The answer must be
// the transcript asked for: a resource with another sid (or a malformed
// SID in any field) is an error wrapping record.ErrMalformedSID. It
// changes nothing, not even the sealed cache on a 404 (a 404 may be a
// wrong region or a proxy; the catalog drops a transcript it sees gone).
func (c *Client) FetchTranscript(ctx context.Context, sid string) (record.Transcript, error) {
	const op = "fetch transcript"
	if !transcriptSIDPattern.MatchString(sid) {
		return record.Transcript{}, c.badSID(op, sid)
	}
	k := c.newCall(ctx)
	body, _, err := k.getRaw(record.IntelligenceBase+"/v2/Transcripts/"+sid, url.Values{})
	if err != nil {
		return record.Transcript{}, c.apiError(ctx, op, sid, k.info, err)
	}
	if len(body) > MaxResourceBytes {
		return record.Transcript{}, c.newError(op, sid, 0, k.info.attempts, nil, "",
			fmt.Errorf("the resource is %d bytes, more than the %d a transcript may take", len(body), MaxResourceBytes))
	}
	t, err := record.DecodeTranscript(body, record.Interner{})
	if err != nil {
		return record.Transcript{}, c.newError(op, sid, 0, k.info.attempts, nil, "", fmt.Errorf("malformed transcript: %w", err))
	}
	if t.SID != sid {
		return record.Transcript{}, c.newError(op, sid, 0, k.info.attempts, record.ErrMalformedSID, "",
			fmt.Errorf("the API answered with transcript %s instead", record.QuoteText(t.SID, 40)))
	}
	return t, nil
}

// OwnedTranscript fetches transcript sid and proves it belongs to this
// Client's account: the resource must be the one asked for and name
// Config.AccountSID as its account_sid. A transcript of another account,
// or a Client that does not know its account SID (an API key without
// AccountSID), gives an error wrapping record.ErrNotFound: nothing was
// proven. It changes nothing.
func (c *Client) OwnedTranscript(ctx context.Context, sid string) (record.Transcript, error) {
	const op = "prove transcript"
	t, err := c.FetchTranscript(ctx, sid)
	if err != nil {
		return record.Transcript{}, err
	}
	if c.accountSID == "" {
		return record.Transcript{}, c.newError(op, sid, 0, 0, record.ErrNotFound, "",
			errors.New("this client does not know its account SID, so it cannot prove the transcript is the account's (give the account SID with the API key)"))
	}
	if t.AccountSID != c.accountSID {
		return record.Transcript{}, c.newError(op, sid, 0, 0, record.ErrNotFound, "",
			fmt.Errorf("the transcript names account %s, not %s", record.QuoteText(t.AccountSID, 40), c.accountSID))
	}
	return t, nil
}

// DeleteTranscript deletes a transcript and its content through the API,
// and only one this account proved it owns: OwnedTranscript first (a GET
// under these credentials naming this account), then DELETE on the
// Transcript resource, which must answer 204 No Content. nil means exactly
// that: Twilio said it deleted the transcript of this account. A GET or
// DELETE answering 404, or a transcript of another account, gives an error
// wrapping record.ErrNotFound: not proven deleted (another account's
// credentials, a wrong region or edge, a proxy, or gone already all look
// alike). Any other answer, a 200 or a redirect included, is an error. A
// SID that is not GT followed by 32 hex digits gives ErrNotFound without a
// request. Like every call it is retried on 429 and 5xx (DELETE is
// idempotent) and its errors are redacted. On success the transcript's
// entries of the Client's sealed cache are removed; otherwise nothing is.
func (c *Client) DeleteTranscript(ctx context.Context, sid string) error {
	const op = "delete transcript"
	if !transcriptSIDPattern.MatchString(sid) {
		return c.badSID(op, sid)
	}
	if _, err := c.OwnedTranscript(ctx, sid); err != nil {
		return err
	}
	k := c.newCall(ctx)
	resp, err := k.rh.Delete(record.IntelligenceBase+"/v2/Transcripts/"+sid, url.Values{},
		map[string]interface{}{"Content-Type": "application/x-www-form-urlencoded"}, "")
	if err != nil {
		return c.apiError(ctx, op, sid, k.info, err)
	}
	_, _ = bodyBytes(resp)
	if resp.StatusCode != http.StatusNoContent {
		return c.newError(op, sid, resp.StatusCode, k.info.attempts, nil, "",
			fmt.Errorf("the API answered HTTP %d, not 204 No Content: not proven deleted", resp.StatusCode))
	}
	c.DropSealed(sid)
	return nil
}

// AccountSID is the account (AC…) this Client was configured for, or ""
// when it was given an API key alone.
func (c *Client) AccountSID() string { return c.accountSID }

// APIOrigin is the scheme and host (and path prefix) the Intelligence API's
// requests go to: Twilio's host with edge and region applied, or
// Config.APIURL. A receipt names it, and the sealed cache binds its
// entries to it, so that content from one API is never served as
// another's.
func (c *Client) APIOrigin() string { return c.origin }

func (c *Client) apiOrigin() string {
	if c.apiURL != nil {
		return c.apiURL.Scheme + "://" + c.apiURL.Host + strings.TrimSuffix(c.apiURL.Path, "/")
	}
	rh := client.NewRequestHandler(&client.Client{})
	rh.Edge, rh.Region = c.edge, c.region
	u, err := rh.BuildUrl(record.IntelligenceBase)
	if err != nil {
		return record.IntelligenceBase
	}
	return strings.TrimSuffix(u, "/")
}

// contentQuery is the Redacted parameter of the sentence and operator
// result endpoints.
func (c *Client) contentQuery() url.Values {
	v := url.Values{}
	if c.cfg.Unredacted {
		v.Set("Redacted", "false")
	}
	return v
}

// PlainSentences returns the sentences of an unencrypted transcript: every
// page of /Sentences (PageSize 5000) joined into one JSON document
// {"sentences":[…]} whose elements are the sentence resources byte for byte
// as the API sent them.
//
// Should the API refuse PageSize 5000 (400 on the first page) and accept
// 1000, 1000 is used from then on by this Client.
func (c *Client) PlainSentences(ctx context.Context, transcriptSID string) ([]byte, error) {
	small := c.smallSentencePages.Load()
	ps := SentencePageSize
	if small {
		ps = DefaultPageSize
	}
	doc, refused, err := c.plainSentences(ctx, transcriptSID, ps)
	if !refused || small {
		return doc, err
	}
	doc, _, err2 := c.plainSentences(ctx, transcriptSID, DefaultPageSize)
	if err2 != nil {
		return nil, err // not a matter of page size: the first answer stands
	}
	if !c.smallSentencePages.Swap(true) {
		c.log.Warn("fetch: the API refused Sentences pages of 5000; using 1000 from now on", "transcript", transcriptSID, "err", err)
	}
	return doc, nil
}

// plainSentences fetches the sentences with page size ps. refused reports
// a 400 to the first page.
func (c *Client) plainSentences(ctx context.Context, transcriptSID string, ps int) (doc []byte, refused bool, err error) {
	var out bytes.Buffer
	out.WriteString(`{"sentences":[`)
	n, pages := 0, 0
	err = c.rawList(ctx, "list sentences", transcriptSID, "/Sentences", ps, "sentences", func(items []json.RawMessage) {
		pages++
		for _, it := range items {
			if n > 0 {
				out.WriteByte(',')
			}
			out.Write(it)
			n++
		}
	})
	if err != nil {
		clear(out.Bytes())
		var fe *Error
		return nil, pages == 0 && errors.As(err, &fe) && fe.Status == http.StatusBadRequest, err
	}
	out.WriteString("]}")
	return out.Bytes(), false, nil
}

// PlainOperatorResults returns the operator results of an unencrypted
// transcript (all pages), each one's JSON byte for byte as the API sent it.
func (c *Client) PlainOperatorResults(ctx context.Context, transcriptSID string) ([][]byte, error) {
	const op = "list operator results"
	var out [][]byte
	err := c.rawList(ctx, op, transcriptSID, "/OperatorResults", DefaultPageSize, "operator_results", func(items []json.RawMessage) {
		for _, it := range items {
			out = append(out, it)
		}
	})
	if err != nil {
		return nil, err
	}
	if len(out) > record.MaxOperatorResults {
		return nil, c.newError(op, transcriptSID, 0, 0, nil, "",
			fmt.Errorf("the API listed %d operator results, more than the %d a transcript may have", len(out), record.MaxOperatorResults))
	}
	return out, nil
}

// rawList pages through a transcript's sub-list, handing each page's items
// (raw JSON) to fn.
func (c *Client) rawList(ctx context.Context, op, sid, sub string, pageSize int, key string, fn func([]json.RawMessage)) error {
	if !transcriptSIDPattern.MatchString(sid) {
		return c.badSID(op, sid)
	}
	v := c.contentQuery()
	if sub == "/Sentences" && c.cfg.WordTimestamps {
		v.Set("WordTimestamps", "true")
	}
	v.Set("PageSize", strconv.Itoa(pageSize))
	next := record.IntelligenceBase + "/v2/Transcripts/" + sid + sub
	pager := c.newPager(op, sid)
	for range maxPages {
		if next == "" {
			return nil
		}
		k := c.newCall(ctx)
		body, _, err := k.getRaw(next, v)
		if err != nil {
			return c.apiError(ctx, op, sid, k.info, err)
		}
		var pg map[string]json.RawMessage
		var meta pageMeta
		var items []json.RawMessage
		err = json.Unmarshal(body, &pg)
		if err == nil && pg["meta"] != nil {
			err = json.Unmarshal(pg["meta"], &meta)
		}
		if err == nil && pg[key] != nil {
			err = json.Unmarshal(pg[key], &items)
		}
		if err != nil {
			return c.newError(op, sid, 0, k.info.attempts, nil, "", fmt.Errorf("malformed page: %w", err))
		}
		next, v = meta.next(), nil
		if err := pager.page(len(body), len(items), next, k.info.attempts); err != nil {
			return err
		}
		fn(items)
	}
	return c.newError(op, sid, 0, 0, nil, "", errors.New("too many pages"))
}
