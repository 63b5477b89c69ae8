package main

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/intelligencefs/intelligencefs/crypto"
	"github.com/intelligencefs/intelligencefs/fetch/sealedcache"
)

// flagSealedCache is the flag (and, as sealed_cache, the -o key) naming the
// sealed-object cache directory.
const flagSealedCache = "sealed-cache"

// sealedFlags are --sealed-cache and --sealed-cache-size, registered once
// (by addConnFlags) on every command that decrypts: mount and its fstab
// form, cat, doctor, search.
type sealedFlags struct {
	dir  string
	size byteSize
}

// addSealedFlags registers the sealed-cache flags on fs.
func addSealedFlags(fs *pflag.FlagSet) *sealedFlags {
	s := &sealedFlags{size: sealedcache.DefaultMaxBytes}
	fs.StringVar(&s.dir, flagSealedCache, "", "keep the sealed objects of encrypted transcripts (ciphertext as Twilio sealed it, never plaintext) in this directory across runs; created 0700, refused if group or others can access it (default: off)")
	fs.Var(&s.size, "sealed-cache-size", "bound of --sealed-cache on disk, least recently used out first (K/M/G/T are powers of 1024)")
	return s
}

// open opens the store named by --sealed-cache, or returns nil without it.
// log receives its one warning should writing fail (full disk, read-only);
// ring's keys authenticate the entries.
func (s *sealedFlags) open(log *slog.Logger, maxEntry int64, ring *crypto.Keyring) (*sealedcache.Store, error) {
	if s == nil || s.dir == "" {
		return nil, nil
	}
	if s.size < 1<<20 {
		return nil, usagef("--sealed-cache-size must be at least 1MiB")
	}
	key := ring.DeriveSecret(sealedcache.SealKeyLabel)
	defer clear(key)
	return sealedcache.Open(sealedcache.Options{Dir: s.dir, MaxBytes: int64(s.size), MaxEntryBytes: maxEntry, Logger: log, SealKey: key})
}

// newSealedCacheCmd builds `sealed-cache du|purge`.
func (a *app) newSealedCacheCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sealed-cache du|purge --sealed-cache DIR",
		Short: "Show or empty the on-disk cache of sealed objects (--sealed-cache)",
		Long: `The sealed cache (--sealed-cache DIR on mount, cat, search) keeps the
objects of encrypted transcripts exactly as Twilio sealed them: ciphertext,
wrapped content key and IV, which only your private key opens. Never
plaintext, never plain services' content, transcript metadata, URLs or
credentials.

  du      entries, transcripts, bytes, and when the least recently used entry
          was last used
  purge   remove every entry, or those of the transcripts given (GT…); the
          content is ciphertext, so plain removal is enough`,
		Args: exactArgs(0, "a subcommand: du or purge"),
	}
	var dir string
	dirFlag := func(c *cobra.Command) {
		c.Flags().StringVar(&dir, flagSealedCache, "", "the cache directory (as given to mount)")
	}
	openDir := func() (*sealedcache.Store, error) {
		if dir == "" {
			return nil, usagef("--sealed-cache DIR is required")
		}
		return sealedcache.Open(sealedcache.Options{Dir: dir, MustExist: true})
	}
	du := &cobra.Command{
		Use:   "du --sealed-cache DIR",
		Short: "Show how much the sealed cache holds",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := openDir()
			if err != nil {
				return err
			}
			defer s.Close()
			u, err := s.Usage()
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "%s\n  entries      %d (of %d transcripts)\n  bytes        %s\n", s.Dir(), u.Entries, u.Transcripts, formatSize(u.Bytes))
			if !u.Oldest.IsZero() {
				fmt.Fprintf(a.stdout, "  oldest use   %s (%s ago)\n", u.Oldest.UTC().Format(time.DateTime+" UTC"), time.Since(u.Oldest).Round(time.Second))
			}
			return nil
		},
	}
	purge := &cobra.Command{
		Use:   "purge --sealed-cache DIR [GT…]",
		Short: "Remove every entry of the sealed cache, or those of the transcripts given",
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := openDir()
			if err != nil {
				return err
			}
			defer s.Close()
			n, err := s.Purge(args...)
			if err != nil {
				return usageError{err}
			}
			fmt.Fprintf(a.stdout, "removed %d file(s) from %s\n", n, s.Dir())
			return nil
		},
	}
	dirFlag(du)
	dirFlag(purge)
	cmd.AddCommand(du, purge)
	return cmd
}

// doctorSealedCache reports the sealed cache's state, and warns about
// entries sealed to a credential none of the given keys opens (they can
// never be read with these keys: purge them or add the key).
func doctorSealedCache(r *doctorReport, s *sealedFlags, ring *crypto.Keyring) {
	if s == nil || s.dir == "" {
		return
	}
	store, err := sealedcache.Open(sealedcache.Options{Dir: s.dir, MustExist: true})
	if err != nil {
		if errors.Is(err, sealedcache.ErrNotExist) {
			r.info("sealed cache: %s does not exist yet (created 0700 by the first mount or cat)", s.dir)
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
	r.ok("sealed cache %s: %d entries of %d transcripts, %s of %s", store.Dir(), u.Entries, u.Transcripts, formatSize(u.Bytes), formatSize(int64(s.size)))
	groups, err := store.ByCredential()
	if err != nil {
		r.fail("%v", err)
		return
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
