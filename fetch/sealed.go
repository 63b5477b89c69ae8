package fetch

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/intelligencefs/intelligencefs/fetch/record"
	"net/url"

	"github.com/intelligencefs/intelligencefs/crypto"
	"github.com/intelligencefs/intelligencefs/fetch/sealedcache"
)

// sealedVersion is what keys t's entries in the sealed cache; false when
// there is no cache or t must not be cached: plain transcripts (their
// content would be plaintext on disk), unfinished ones, and those without
// a date_updated to tell a current entry from a stale one.
func (c *Client) sealedVersion(t record.Transcript) (sealedcache.Version, bool) {
	if c.cfg.SealedCache == nil || !t.Encrypted() || !t.Completed() || t.DateUpdated.IsZero() {
		return sealedcache.Version{}, false
	}
	return sealedcache.Version{Credential: t.EncryptionCredentialSID, Updated: t.DateUpdated, Unredacted: c.cfg.Unredacted}, true
}

// OpenSentences gets t's encrypted sentences and hands them to open: from
// the sealed cache when it holds a current entry (no request at all),
// otherwise through EncryptedSentences; an envelope downloaded that open
// accepts is then kept in the cache. It returns open's error, or the fetch
// error. t is the transcript as listed or fetched (its date_updated and
// credential say whether an entry is current).
//
// open opens one envelope (here and in OpenOperatorResult): fetch never
// decrypts, the caller's keys do. It must not keep env or modify its
// slices. A crypto error (crypto.ErrUnwrap, ErrAuth, ErrMalformed) on an
// envelope that came from the sealed cache makes the method drop that
// entry and download the object again. It is a plain func type, so a
// Source interface of the transcript model (which does not import fetch)
// names the same signature.
func (c *Client) OpenSentences(ctx context.Context, t record.Transcript, open func(env crypto.Envelope) error) error {
	v, cached := c.sealedVersion(t)
	if cached {
		if env, _, ok := c.cfg.SealedCache.Get(t.SID, sealedcache.Sentences, v); ok {
			err := open(env)
			if !isEnvelopeError(err) {
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

// OperatorResultLocations returns one location per encrypted operator
// result of t, in the order of the first answer. When the sealed cache
// holds t's current count it makes no request and the locations are ""
// (OpenOperatorResult then serves the entries, or asks for real locations
// if one is missing). Otherwise it asks the API and records the count and
// each object's key (a hash of its path) in the cache.
func (c *Client) OperatorResultLocations(ctx context.Context, t record.Transcript) ([]string, error) {
	v, cached := c.sealedVersion(t)
	if cached {
		if keys, ok := c.cfg.SealedCache.Count(t.SID, v); ok {
			return make([]string, len(keys)), nil
		}
	}
	locs, err := c.EncryptedOperatorResultLocations(ctx, t.SID)
	if err != nil {
		return nil, err
	}
	if cached {
		keys := make([]string, len(locs))
		for i, l := range locs {
			keys[i] = objectKey(l)
		}
		c.cfg.SealedCache.PutCount(t.SID, v, keys)
	}
	return locs, nil
}

// OpenOperatorResult gets operator result index (from 0, the position in
// the first answer of OperatorResultLocations) of t and hands it to open,
// from the sealed cache when it holds a current entry. location is that
// result's location, or "" when OperatorResultLocations answered from the
// cache: then the locations are asked for, and the result is found in the
// answer by its object key (so a list in another order still gives this
// result), by position when the key is not known. fresh is passed on to
// EncryptedOperatorResult (a refused location's replacement).
func (c *Client) OpenOperatorResult(ctx context.Context, t record.Transcript, index int, location string, fresh func(context.Context) (string, error), open func(env crypto.Envelope) error) error {
	const op = "download operator result"
	v, cached := c.sealedVersion(t)
	obj := sealedcache.OperatorResult(index)
	if cached {
		if env, _, ok := c.cfg.SealedCache.Get(t.SID, obj, v); ok {
			err := open(env)
			if !isEnvelopeError(err) {
				return err
			}
			c.sealedRejected(t.SID, obj, err)
		}
	}
	pos := index
	if location == "" {
		locs, err := c.EncryptedOperatorResultLocations(ctx, t.SID)
		if err != nil {
			return err
		}
		pos = -1
		var keys []string
		if cached {
			keys, _ = c.cfg.SealedCache.Count(t.SID, v)
		}
		if index < len(keys) {
			for i, l := range locs {
				if objectKey(l) == keys[index] {
					pos = i
					break
				}
			}
		} else if index >= 0 && index < len(locs) {
			pos = index
		}
		if pos < 0 {
			// The answer no longer holds the object the cache listed at
			// this position: the count is wrong; ask afresh next time.
			c.DropSealed(t.SID)
			return c.newError(op, t.SID, 0, 0, record.ErrUnavailable, "",
				fmt.Errorf("operator result %d of the cached list is no longer listed", index+1))
		}
		location = locs[pos]
	}
	env, err := c.EncryptedOperatorResult(ctx, t.SID, location, fresh)
	if err != nil {
		return err
	}
	if err := open(env); err != nil {
		return err
	}
	if cached {
		c.cfg.SealedCache.Put(t.SID, obj, v, env, objectKey(location))
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

// sealedRejected drops a cache entry whose envelope did not open: damaged
// or planted, it costs a download, never an error.
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
