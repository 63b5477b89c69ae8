// Package sealedcache is `sealed-cache du` and `sealed-cache purge`: what
// the on-disk cache of sealed objects (--sealed-cache) holds, and emptying
// it.
package sealedcache

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/cmdutil"
	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/factory"
	sealed "github.com/intelligencefs/intelligencefs/fetch/sealedcache"
)

// NewCmd builds `sealed-cache du|purge`.
func NewCmd(f *factory.Factory) *cobra.Command {
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
		Args: cmdutil.ExactArgs(0, "a subcommand: du or purge"),
	}
	opts := &Options{}
	du := &cobra.Command{
		Use:   "du --sealed-cache DIR",
		Short: "Show how much the sealed cache holds",
		Args:  cmdutil.ExactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDu(f, opts)
		},
	}
	purge := &cobra.Command{
		Use:   "purge --sealed-cache DIR [GT…]",
		Short: "Remove every entry of the sealed cache, or those of the transcripts given",
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Transcripts = args
			return runPurge(f, opts)
		},
	}
	dirFlag := func(c *cobra.Command) {
		c.Flags().StringVar(&opts.Dir, factory.FlagSealedCache, "", "the cache directory (as given to mount)")
	}
	dirFlag(du)
	dirFlag(purge)
	cmd.AddCommand(du, purge)
	return cmd
}

// Options are the settings of `sealed-cache du` and `purge`.
type Options struct {
	// Dir is --sealed-cache: the cache directory.
	Dir string
	// Transcripts are purge's GT… arguments (none: every entry).
	Transcripts []string
}

// open opens the existing cache directory.
func (o *Options) open() (*sealed.Store, error) {
	if o.Dir == "" {
		return nil, cmdutil.Usagef("--sealed-cache DIR is required")
	}
	return sealed.Open(sealed.Options{Dir: o.Dir, MustExist: true})
}

// runDu prints what the cache holds.
func runDu(f *factory.Factory, opts *Options) error {
	s, err := opts.open()
	if err != nil {
		return err
	}
	defer s.Close()
	u, err := s.Usage()
	if err != nil {
		return err
	}
	fmt.Fprintf(f.Stdout, "%s\n  entries      %d (of %d transcripts)\n  bytes        %s\n", s.Dir(), u.Entries, u.Transcripts, cmdutil.FormatSize(u.Bytes))
	if !u.Oldest.IsZero() {
		fmt.Fprintf(f.Stdout, "  oldest use   %s (%s ago)\n", u.Oldest.UTC().Format(time.DateTime+" UTC"), time.Since(u.Oldest).Round(time.Second))
	}
	return nil
}

// runPurge removes the entries and says how many files went.
func runPurge(f *factory.Factory, opts *Options) error {
	s, err := opts.open()
	if err != nil {
		return err
	}
	defer s.Close()
	n, err := s.Purge(opts.Transcripts...)
	if err != nil {
		return cmdutil.UsageError{Err: err}
	}
	fmt.Fprintf(f.Stdout, "removed %d file(s) from %s\n", n, s.Dir())
	return nil
}
