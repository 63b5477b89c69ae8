package fetch

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/intelligencefs/intelligencefs/fetch/record"

	intelligence "github.com/twilio/twilio-go/rest/intelligence/v2"

	"github.com/intelligencefs/intelligencefs/crypto"
)

// errLocationRefused marks a 403 from the object store: the presigned URL
// expired (or its signature does not verify).
var errLocationRefused = errors.New("object store refused the presigned location (403)")

// EncryptedSentences fetches the encrypted sentences of a transcript: the
// location from /Sentences/Encrypted, then the object. An expired location
// (403 from the store) is answered by asking for a fresh one once; a second
// 403 gives ErrExpired. Bad key/IV headers give crypto.ErrMalformed. The
// envelope is not opened: tampered content is crypto's to reject.
func (c *Client) EncryptedSentences(ctx context.Context, transcriptSID string) (crypto.Envelope, error) {
	const op = "encrypted sentences"
	if !transcriptSIDPattern.MatchString(transcriptSID) {
		return crypto.Envelope{}, c.badSID(op, transcriptSID)
	}
	for try := 0; ; try++ {
		loc, err := c.sentencesLocation(ctx, transcriptSID)
		if err != nil {
			return crypto.Envelope{}, err
		}
		env, err := c.download(ctx, "download sentences", transcriptSID, loc, try > 0)
		if errors.Is(err, errLocationRefused) && try == 0 {
			c.log.Debug("fetch: presigned location refused, asking for a fresh one", "transcript", transcriptSID)
			continue
		}
		return env, err
	}
}

func (c *Client) sentencesLocation(ctx context.Context, sid string) (string, error) {
	const op = "encrypted sentences location"
	k := c.newCall(ctx)
	p := &intelligence.FetchEncryptedSentencesParams{}
	if c.cfg.Unredacted {
		p.SetRedacted(false)
	}
	res, err := k.intelligence().FetchEncryptedSentences(sid, p)
	if err != nil {
		return "", c.apiError(ctx, op, sid, k.info, err)
	}
	if res.Location == nil || *res.Location == "" {
		return "", c.newError(op, sid, 0, k.info.attempts, record.ErrNotFound, "", errors.New("the API returned no location (null)"))
	}
	return *res.Location, nil
}

// operatorResultLocations returns the presigned locations of a
// transcript's encrypted operator results (one object each), in the API's
// order. The locations are bearer credentials until they expire: they never
// leave fetch (OperatorResults holds them) and are never logged.
func (c *Client) operatorResultLocations(ctx context.Context, transcriptSID string) ([]string, error) {
	const op = "encrypted operator results locations"
	if !transcriptSIDPattern.MatchString(transcriptSID) {
		return nil, c.badSID(op, transcriptSID)
	}
	k := c.newCall(ctx)
	p := &intelligence.FetchEncryptedOperatorResultsParams{}
	if c.cfg.Unredacted {
		p.SetRedacted(false)
	}
	res, err := k.intelligence().FetchEncryptedOperatorResults(transcriptSID, p)
	if err != nil {
		return nil, c.apiError(ctx, op, transcriptSID, k.info, err)
	}
	// null is not "no results" (that is []): like a null location, the
	// content is not there now, which only the transcript can explain.
	if res.Locations == nil {
		return nil, c.newError(op, transcriptSID, 0, k.info.attempts, record.ErrNotFound, "", errors.New("the API returned no locations (null)"))
	}
	if n := len(*res.Locations); n > record.MaxOperatorResults {
		return nil, c.newError(op, transcriptSID, 0, k.info.attempts, nil, "",
			fmt.Errorf("the API listed %d operator result locations, more than the %d a transcript may have", n, record.MaxOperatorResults))
	}
	return *res.Locations, nil
}

// encryptedOperatorResult downloads the operator result at location (one
// of operatorResultLocations): when the object store refuses it (403: the
// presigned URL expired), the locations are asked for again, the same
// object found by its identity (objectKey, never by position) and tried
// once; a second 403 gives ErrExpired, an object no longer listed
// ErrNotFound. OperatorResults.Open does the same with a refresh shared
// among its results; this is its one-object form.
func (c *Client) encryptedOperatorResult(ctx context.Context, transcriptSID, location string) (crypto.Envelope, error) {
	if !transcriptSIDPattern.MatchString(transcriptSID) {
		return crypto.Envelope{}, c.badSID("download operator result", transcriptSID)
	}
	r := &OperatorResults{c: c, t: record.Transcript{SID: transcriptSID}, urls: map[string]string{}}
	r.merge([]string{location}, time.Now())
	r.expires = time.Time{} // tried first whatever it says, as the caller asks
	var out crypto.Envelope
	err := r.Open(ctx, 0, func(env crypto.Envelope) error { out = env; return nil })
	return out, err
}

// download GETs one presigned object with plain net/http: https only (http
// to loopback), no redirects, no Authorization. A 403 returns an error
// wrapping errLocationRefused, or ErrExpired when final.
func (c *Client) download(ctx context.Context, op, sid, location string, final bool) (crypto.Envelope, error) {
	u, err := url.Parse(location)
	if err != nil {
		return crypto.Envelope{}, c.newError(op, sid, 0, 0, nil, "", errors.New("location does not parse"))
	}
	if err := checkURL(u); err != nil {
		return crypto.Envelope{}, c.newError(op, sid, 0, 0, record.ErrInsecureURL, "", err)
	}
	callCtx, info := withCallInfo(ctx)
	callCtx, cancel := context.WithTimeout(callCtx, c.callTime) // the whole download, retries included
	defer cancel()
	req, err := http.NewRequestWithContext(callCtx, http.MethodGet, u.String(), nil)
	if err != nil {
		return crypto.Envelope{}, c.newError(op, sid, 0, 0, nil, "", err)
	}
	req.Header.Set("User-Agent", "intelligencefs")
	resp, err := c.objHTTP.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return crypto.Envelope{}, c.newError(op, sid, 0, info.attempts, nil, "", ctx.Err())
		}
		if isTLSFailure(err) {
			return crypto.Envelope{}, c.newErrorText(op, sid, 0, info.attempts, record.ErrUnavailable, "",
				tlsProblem(u.Hostname(), err), err)
		}
		return crypto.Envelope{}, c.newError(op, sid, info.status, info.attempts, record.ErrUnavailable, "", err)
	}
	body, err := bodyBytes(resp)
	if err != nil {
		return crypto.Envelope{}, c.newError(op, sid, resp.StatusCode, info.attempts, record.ErrUnavailable, "", err)
	}
	problem := ""
	if resp.StatusCode >= 400 {
		problem = problemText(resp.StatusCode, resp.Header, body)
	}
	fail := func(kind error, cause error) (crypto.Envelope, error) {
		return crypto.Envelope{}, c.newErrorText(op, sid, resp.StatusCode, info.attempts, kind, "", joinNonEmpty(problem, errText(cause)), cause)
	}
	switch s := resp.StatusCode; {
	case s == http.StatusOK:
	case s == http.StatusForbidden && !final:
		return crypto.Envelope{}, errLocationRefused
	case s == http.StatusForbidden:
		return fail(record.ErrExpired, errLocationRefused)
	case s == http.StatusNotFound:
		return fail(record.ErrNotFound, nil)
	case s >= 300 && s < 400:
		return fail(nil, errors.New("object store answered with a redirect, which is not followed"))
	case s == http.StatusTooManyRequests || s >= 500 && s != http.StatusNotImplemented:
		return fail(record.ErrUnavailable, nil)
	default:
		return fail(nil, fmt.Errorf("unexpected HTTP status %d", s))
	}
	env, err := crypto.ParseEnvelope(resp.Header.Get(crypto.HeaderWrappedKey), resp.Header.Get(crypto.HeaderIV), body)
	if err != nil {
		return crypto.Envelope{}, c.newError(op, sid, 0, info.attempts, nil, "", err)
	}
	return env, nil
}

// errText is err's text, or "".
func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// tlsProblem says in one line that the TLS handshake with an object store
// host failed, and why. A bucket whose name has dots, addressed
// virtual-hosted style (bucket.with.dots.s3.amazonaws.com), cannot match
// S3's wildcard certificate (*.s3.amazonaws.com covers one label only):
// Twilio's own example location, com.twilio.us1.sentences.s3.amazonaws.com,
// has that shape, so the error says so.
func tlsProblem(host string, err error) string {
	s := "TLS handshake with the object store " + host + " failed: " + describe(stripURLError(err))
	if bucket, ok := dottedS3Bucket(host); ok {
		s += fmt.Sprintf(" (the bucket name %q has dots, so in virtual-hosted style it does not match S3's wildcard certificate *.s3.amazonaws.com; a path-style location or a proxy that rewrites it is needed)", bucket)
	}
	return s
}

// dottedS3Bucket reports the bucket of a virtual-hosted S3 host name
// whose bucket part contains a dot.
func dottedS3Bucket(host string) (string, bool) {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	i := strings.Index(h, ".s3.")
	if i < 0 {
		i = strings.Index(h, ".s3-")
	}
	if i <= 0 || !strings.HasSuffix(h, ".amazonaws.com") {
		return "", false
	}
	bucket := h[:i]
	return bucket, strings.Contains(bucket, ".")
}
