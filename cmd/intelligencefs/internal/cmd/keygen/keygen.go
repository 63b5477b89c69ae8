// Package keygen is `keygen`: step 1 of the set-up, the RSA key pair
// (private_key.pem, public_key.pem) Twilio encrypts content keys to.
package keygen

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/cmdutil"
	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/factory"
	"github.com/intelligencefs/intelligencefs/crypto"
)

// NewCmd builds `keygen`: step 1 of the set-up, the RSA key pair
// Twilio encrypts content keys to.
func NewCmd(f *factory.Factory) *cobra.Command {
	opts := &Options{}
	cmd := &cobra.Command{
		Use:   "keygen [--bits 2048|3072|4096] [--out DIR] [--force] [--encrypt-key]",
		Short: "Generate the RSA key pair for Conversational Intelligence Encryption (private_key.pem, public_key.pem)",
		Long: `keygen writes a new RSA key pair, the one Twilio's set-up guide makes with
openssl genrsa and openssl rsa -pubout:

  DIR/private_key.pem  PKCS#8, mode 0600: keep it secret and backed up;
                       Twilio cannot decrypt anything without it
  DIR/public_key.pem   the public half, to register with Twilio
                       (intelligencefs keys register)

Existing files are never overwritten without --force. With --encrypt-key the
private key is encrypted with a passphrase (PKCS#8 PBES2, AES-256): it is read
from $` + factory.EnvKeyPassphrase + `, --passphrase-file, or prompted for twice on the
terminal; never from a flag value.`,
		Example: `  intelligencefs keygen --out ~/.config/intelligencefs
  intelligencefs keygen --bits 3072 --encrypt-key --out ./keys`,
		Args: cmdutil.ExactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return run(f, opts)
		},
	}
	fl := cmd.Flags()
	fl.IntVar(&opts.Bits, "bits", 2048, "RSA key size: 2048 (what Twilio's guide uses), 3072 or 4096")
	fl.StringVar(&opts.OutDir, "out", ".", "directory to write private_key.pem and public_key.pem in (created, mode 0700, if missing)")
	fl.BoolVar(&opts.Force, "force", false, "overwrite existing key files (the old private key is lost: anything encrypted to it becomes unreadable)")
	fl.BoolVar(&opts.EncryptKey, "encrypt-key", false, "encrypt the private key with a passphrase (PKCS#8 PBES2, AES-256)")
	fl.StringVar(&opts.PassphraseFile, "passphrase-file", "", "with --encrypt-key: read the new passphrase from this file (mode 0600) instead of $"+factory.EnvKeyPassphrase+" or a prompt")
	return cmd
}

// Options are the settings of one `keygen`.
type Options struct {
	Bits           int
	OutDir         string
	Force          bool
	EncryptKey     bool
	PassphraseFile string
}

// run checks the settings, gets the passphrase if one is wanted, and
// writes the key pair.
func run(f *factory.Factory, opts *Options) error {
	bits, outDir, force, encryptKey, passphraseFile := opts.Bits, opts.OutDir, opts.Force, opts.EncryptKey, opts.PassphraseFile
	switch bits {
	case 2048, 3072, 4096:
	default:
		return cmdutil.Usagef("--bits must be 2048, 3072 or 4096 (got %d)", bits)
	}
	var passphrase []byte
	if encryptKey {
		pw, err := newPassphrase(f, passphraseFile)
		if err != nil {
			return err
		}
		defer clear(pw)
		passphrase = pw
	} else if passphraseFile != "" {
		return cmdutil.Usagef("--passphrase-file only applies with --encrypt-key")
	}
	return runKeygen(f, bits, outDir, force, passphrase)
}

// runKeygen generates the key pair and writes it to dir, then prints where
// it went and the next step. passphrase nil writes an unencrypted key.
func runKeygen(f *factory.Factory, bits int, dir string, force bool, passphrase []byte) error {
	privPath := filepath.Join(dir, crypto.PrivateKeyFileName)
	pubPath := filepath.Join(dir, crypto.PublicKeyFileName)
	if !force {
		// Refuse before spending seconds on a 4096-bit key.
		for _, p := range []string{privPath, pubPath} {
			if _, err := os.Lstat(p); err == nil {
				return fmt.Errorf("%s already exists: not overwriting it (pass --force to replace the key pair; anything encrypted to the old key becomes unreadable without it)", p)
			}
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	key, err := crypto.GenerateKey(bits)
	if err != nil {
		return err
	}
	defer crypto.ZeroPrivateKey(key)
	privPath, pubPath, err = crypto.WriteKeyPair(dir, key, passphrase, force)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%w: pass --force to replace the key pair", err)
		}
		return err
	}
	form := "PKCS#8, unencrypted"
	if passphrase != nil {
		form = "PKCS#8, encrypted with your passphrase (AES-256)"
	}
	w := f.Stdout
	fmt.Fprintf(w, "Wrote %s (RSA %d bits, %s, mode 0600).\n", privPath, bits, form)
	fmt.Fprintf(w, "  Keep it secret and back it up: Twilio cannot decrypt anything without it.\n")
	fmt.Fprintf(w, "Wrote %s (the public key to register with Twilio).\n\n", pubPath)
	fmt.Fprintf(w, "Next: register the public key with Twilio (prints its CR… credential SID):\n")
	fmt.Fprintf(w, "  intelligencefs keys register --public-key %s --name NAME\n", cmdutil.ShellQuote(pubPath))
	return nil
}

// newPassphrase gets the passphrase for a new encrypted key: from file, else
// INTELLIGENCEFS_KEY_PASSPHRASE, else asked twice on the terminal. The
// caller zeroes the result.
func newPassphrase(f *factory.Factory, file string) ([]byte, error) {
	if file != "" {
		return factory.ReadPassphraseFile(file, false)
	}
	if v := f.Getenv(factory.EnvKeyPassphrase); v != "" {
		return []byte(v), nil
	}
	in := f.Stdin
	if in == nil || !term.IsTerminal(int(in.Fd())) {
		return nil, cmdutil.Usagef("--encrypt-key needs a passphrase: set %s or --passphrase-file FILE (stdin is not a terminal to prompt on)", factory.EnvKeyPassphrase)
	}
	read := func(prompt string) ([]byte, error) {
		fmt.Fprint(f.Stderr, prompt)
		pw, err := term.ReadPassword(int(in.Fd()))
		fmt.Fprintln(f.Stderr)
		if err != nil {
			return nil, fmt.Errorf("reading the passphrase: %w", err)
		}
		return pw, nil
	}
	pw, err := read("New passphrase for the private key: ")
	if err != nil {
		return nil, err
	}
	if len(pw) == 0 {
		return nil, errors.New("the passphrase is empty: give one, or leave out --encrypt-key")
	}
	again, err := read("Same passphrase again: ")
	defer clear(again)
	if err != nil {
		clear(pw)
		return nil, err
	}
	if !bytes.Equal(pw, again) {
		clear(pw)
		return nil, errors.New("the two passphrases do not match: nothing was written")
	}
	return pw, nil
}
