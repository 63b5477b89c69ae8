package fetch

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"

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
		return "", c.newError(op, sid, 0, k.info.attempts, ErrNotFound, "", errors.New("the API returned no location"))
	}
	return *res.Location, nil
}

// EncryptedOperatorResultLocations returns the presigned locations of a
// transcript's encrypted operator results (one object each), in the API's
// order. The locations are bearer credentials until they expire: do not log
// them.
func (c *Client) EncryptedOperatorResultLocations(ctx context.Context, transcriptSID string) ([]string, error) {
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
	if res.Locations == nil {
		return []string{}, nil
	}
	if n := len(*res.Locations); n > MaxOperatorResults {
		return nil, c.newError(op, transcriptSID, 0, k.info.attempts, nil, "",
			fmt.Errorf("the API listed %d operator result locations, more than the %d a transcript may have", n, MaxOperatorResults))
	}
	return *res.Locations, nil
}

// MaxOperatorResults bounds the operator results of one transcript (one
// per operator attached to its service: a handful in practice). A server
// listing 200,000 must not become 200,000 files and downloads.
const MaxOperatorResults = 1000

// EncryptedOperatorResult downloads the operator result at location, which
// is element index (0-based) of EncryptedOperatorResultLocations. An expired
// location makes it ask for the locations again once and take [index]; a
// second 403 gives ErrExpired, and an index no longer present ErrNotFound.
func (c *Client) EncryptedOperatorResult(ctx context.Context, transcriptSID string, index int, location string) (crypto.Envelope, error) {
	const op = "download operator result"
	if !transcriptSIDPattern.MatchString(transcriptSID) {
		return crypto.Envelope{}, c.badSID(op, transcriptSID)
	}
	env, err := c.download(ctx, op, transcriptSID, location, false)
	if !errors.Is(err, errLocationRefused) {
		return env, err
	}
	c.log.Debug("fetch: presigned location refused, asking for fresh ones", "transcript", transcriptSID, "index", index)
	locs, err := c.EncryptedOperatorResultLocations(ctx, transcriptSID)
	if err != nil {
		return crypto.Envelope{}, err
	}
	if index < 0 || index >= len(locs) {
		return crypto.Envelope{}, c.newError(op, transcriptSID, 0, 0, ErrNotFound, "",
			fmt.Errorf("operator result %d of %d no longer listed", index, len(locs)))
	}
	return c.download(ctx, op, transcriptSID, locs[index], true)
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
		return crypto.Envelope{}, c.newError(op, sid, 0, 0, ErrInsecureURL, "", err)
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
		return crypto.Envelope{}, c.newError(op, sid, info.status, info.attempts, ErrUnavailable, "", err)
	}
	body, err := bodyBytes(resp)
	if err != nil {
		return crypto.Envelope{}, c.newError(op, sid, resp.StatusCode, info.attempts, ErrUnavailable, "", err)
	}
	switch s := resp.StatusCode; {
	case s == http.StatusOK:
	case s == http.StatusForbidden && !final:
		return crypto.Envelope{}, errLocationRefused
	case s == http.StatusForbidden:
		return crypto.Envelope{}, c.newError(op, sid, s, info.attempts, ErrExpired, "", errLocationRefused)
	case s == http.StatusNotFound:
		return crypto.Envelope{}, c.newError(op, sid, s, info.attempts, ErrNotFound, "", nil)
	case s >= 300 && s < 400:
		return crypto.Envelope{}, c.newError(op, sid, s, info.attempts, nil, "",
			errors.New("object store answered with a redirect, which is not followed"))
	case s == http.StatusTooManyRequests || s >= 500:
		return crypto.Envelope{}, c.newError(op, sid, s, info.attempts, ErrUnavailable, "", nil)
	default:
		return crypto.Envelope{}, c.newError(op, sid, s, info.attempts, nil, "", fmt.Errorf("unexpected HTTP status %d", s))
	}
	env, err := crypto.ParseEnvelope(resp.Header.Get(crypto.HeaderWrappedKey), resp.Header.Get(crypto.HeaderIV), body)
	if err != nil {
		return crypto.Envelope{}, c.newError(op, sid, 0, info.attempts, nil, "", err)
	}
	return env, nil
}
