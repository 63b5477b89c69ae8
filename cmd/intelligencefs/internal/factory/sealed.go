package factory

import (
	"log/slog"

	"github.com/spf13/pflag"

	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/cmdutil"
	"github.com/intelligencefs/intelligencefs/crypto"
	"github.com/intelligencefs/intelligencefs/fetch/sealedcache"
)

// FlagSealedCache is the flag (and, as sealed_cache, the -o key) naming the
// sealed-object cache directory.
const FlagSealedCache = "sealed-cache"

// SealedFlags are --sealed-cache and --sealed-cache-size, registered once
// (by AddConnFlags) on every command that decrypts: mount and its fstab
// form, cat, doctor, search.
type SealedFlags struct {
	Dir  string
	Size cmdutil.ByteSize
}

// AddSealedFlags registers the sealed-cache flags on fs.
func AddSealedFlags(fs *pflag.FlagSet) *SealedFlags {
	s := &SealedFlags{Size: sealedcache.DefaultMaxBytes}
	fs.StringVar(&s.Dir, FlagSealedCache, "", "keep the sealed objects of encrypted transcripts (ciphertext as Twilio sealed it, never plaintext) in this directory across runs; created 0700, refused if group or others can access it (default: off)")
	fs.Var(&s.Size, "sealed-cache-size", "bound of --sealed-cache on disk, least recently used out first (K/M/G/T are powers of 1024)")
	return s
}

// Open opens the store named by --sealed-cache, or returns nil without it.
// log receives its one warning should writing fail (full disk, read-only);
// ring's keys authenticate the entries.
func (s *SealedFlags) Open(log *slog.Logger, maxEntry int64, ring *crypto.Keyring) (*sealedcache.Store, error) {
	if s == nil || s.Dir == "" {
		return nil, nil
	}
	if s.Size < 1<<20 {
		return nil, cmdutil.Usagef("--sealed-cache-size must be at least 1MiB")
	}
	key := SealKey(ring)
	defer clear(key)
	return sealedcache.Open(sealedcache.Options{Dir: s.Dir, MaxBytes: int64(s.Size), MaxEntryBytes: maxEntry, Logger: log, SealKey: key})
}

// SealKey is the secret that authenticates sealed-cache entries for the
// keys of ring (sealedcache.Options.SealKey): the one place every command
// derives it, so mount, cat, search and doctor agree. The caller zeroes it.
func SealKey(ring *crypto.Keyring) []byte {
	return ring.DeriveSecret(sealedcache.SealKeyLabel)
}
