package doctor

import (
	"errors"

	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/cmdutil"
	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/factory"
	"github.com/intelligencefs/intelligencefs/crypto"
	"github.com/intelligencefs/intelligencefs/fetch/sealedcache"
)

// doctorSealedCache reports the sealed cache's state, and warns about
// entries sealed to a credential none of the given keys opens (they can
// never be read with these keys: purge them or add the key). Only entries
// whose MAC holds under the given keys are reported by credential; the
// others (written under other keys, damaged or planted) are counted, as
// their headers prove nothing.
func doctorSealedCache(r *doctorReport, s *factory.SealedFlags, ring *crypto.Keyring) {
	if s == nil || s.Dir == "" {
		return
	}
	key := factory.SealKey(ring)
	defer clear(key)
	store, err := sealedcache.Open(sealedcache.Options{Dir: s.Dir, MustExist: true, SealKey: key})
	if err != nil {
		if errors.Is(err, sealedcache.ErrNotExist) {
			r.info("sealed cache: %s does not exist yet (created 0700 by the first mount or cat)", s.Dir)
			return
		}
		r.fail("%v", err)
		return
	}
	defer store.Close()
	u, err := store.Usage()
	if err != nil {
		r.fail("%v", err)
		return
	}
	r.ok("sealed cache %s: %d entries of %d transcripts, %s of %s", store.Dir(), u.Entries, u.Transcripts, cmdutil.FormatSize(u.Bytes), cmdutil.FormatSize(int64(s.Size)))
	groups, unverified, err := store.ByCredential()
	if err != nil {
		r.fail("%v", err)
		return
	}
	if unverified > 0 {
		r.warn("sealed cache: %d entries are not sealed with the given keys (written under other keys, damaged, or planted: what their headers say proves nothing); they are never served, and are removed when read; intelligencefs sealed-cache purge removes them now", unverified)
	}
	for _, g := range groups {
		plain, err := ring.Open(g.Credential, g.Sample, nil)
		clear(plain)
		switch {
		case errors.Is(err, crypto.ErrUnwrap):
			r.warn("sealed cache: %d entries are sealed to credential %s, which none of the given keys opens: add --private-key %s=PATH, or remove them with intelligencefs sealed-cache purge", g.Entries, g.Credential, g.Credential)
		case err != nil:
			r.info("sealed cache: an entry of %s does not open (%v); it is removed and downloaded again when read", g.SampleSID, err)
		}
	}
}
