package fetch

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"github.com/intelligencefs/intelligencefs/fetch/record"
	"net/url"

	"github.com/intelligencefs/intelligencefs/crypto"
	"github.com/intelligencefs/intelligencefs/fetch/sealedcache"
)

// sealedVersion is what keys t's entries in the sealed cache (bound to this
// Client's account and API origin, so that what a run against another API
// stored is never served here); false when
// there is no cache or t must not be cached: plain transcripts (their
// content would be plaintext on disk), unfinished ones, and those without
// a date_updated to tell a current entry from a stale one.
func (c *Client) sealedVersion(t record.Transcript) (sealedcache.Version, bool) {
	if c.cfg.SealedCache == nil || !t.Encrypted() || !t.Completed() || t.DateUpdated.IsZero() {
		return sealedcache.Version{}, false
	}
	account := c.accountSID
	if account == "" {
		account = t.AccountSID // an API key alone: the account the API named
	}
	return sealedcache.Version{Credential: t.EncryptionCredentialSID, Updated: t.DateUpdated, Unredacted: c.cfg.Unredacted,
		Account: account, Origin: c.origin}, true
}

// OpenSentences gets t's encrypted sentences and hands them to open: from
// the sealed cache when it holds a current entry (no request at all),
// otherwise through EncryptedSentences; an envelope downloaded that open
// accepts is then kept in the cache. It returns open's error, or the fetch
// error. t is the transcript as listed or fetched (its date_updated and
// credential say whether an entry is current).
//
// open opens one envelope (here and in OperatorResults.Open): fetch never
// decrypts, the caller's keys do. It must not keep env or modify its
// slices. A crypto error (crypto.ErrUnwrap, ErrAuth, ErrMalformed) or
// record.ErrWrongTranscript on an envelope that came from the sealed cache
// makes the method drop that entry and download the object again. It is a plain func type, so a
// Source interface of the transcript model (which does not import fetch)
// names the same signature.
func (c *Client) OpenSentences(ctx context.Context, t record.Transcript, open func(env crypto.Envelope) error) error {
	v, cached := c.sealedVersion(t)
	if cached {
		if env, _, ok := c.cfg.SealedCache.Get(t.SID, sealedcache.Sentences, v); ok {
			err := open(env)
			if !isRejected(err) {
				return err
			}
			c.sealedRejected(t.SID, sealedcache.Sentences, err)
		}
	}
	env, err := c.EncryptedSentences(ctx, t.SID)
	if err != nil {
		return err
	}
	if err := open(env); err != nil {
		return err
	}
	if cached {
		c.cfg.SealedCache.Put(t.SID, sealedcache.Sentences, v, env, "")
	}
	return nil
}

// DropSealed removes every sealed-cache entry of a transcript: it was
// deleted upstream (a full relist no longer lists it, its resource is 404,
// or `transcripts delete` erased it). Without a cache it does nothing.
func (c *Client) DropSealed(transcriptSID string) {
	if c.cfg.SealedCache == nil {
		return
	}
	if err := c.cfg.SealedCache.Drop(transcriptSID); err != nil {
		c.log.Warn("sealed cache: cannot remove a deleted transcript's entries", "transcript", transcriptSID, "err", err)
	}
}

// sealedRejected drops a cache entry whose envelope did not open or whose
// content open refused: damaged or planted, it costs a download.
func (c *Client) sealedRejected(sid string, obj sealedcache.Object, err error) {
	c.log.Warn("sealed cache: entry did not open; removed, downloading the object again", "transcript", sid, "err", err)
	c.cfg.SealedCache.Remove(sid, obj)
}

// isEnvelopeError reports an error of opening an envelope (as opposed to
// one of the caller, such as running out of cache memory).
func isEnvelopeError(err error) bool {
	return errors.Is(err, crypto.ErrUnwrap) || errors.Is(err, crypto.ErrAuth) || errors.Is(err, crypto.ErrMalformed)
}

// objectKey names an object by its location's path, hashed: stable across
// presignings of one object, and no part of a URL reaches the disk.
func objectKey(location string) string {
	p := location
	if u, err := url.Parse(location); err == nil {
		p = u.EscapedPath()
	}
	sum := sha256.Sum256([]byte(p))
	return hex.EncodeToString(sum[:16])
}
