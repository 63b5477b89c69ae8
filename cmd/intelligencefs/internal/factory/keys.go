package factory

import (
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"runtime"
	"strings"

	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/cmdutil"
	"github.com/intelligencefs/intelligencefs/crypto"
)

// KeyOptions are the private-key settings: --private-key (repeatable,
// CR…=PATH binds a key to a credential SID), --passphrase-file and
// --allow-insecure-key-perms, with where passphrases come from. Register
// them with AddKeyFlags (AddConnFlags does for the commands that decrypt)
// and load the keys with LoadKeyring.
//
// A new key source (a token, a KMS) is one more form of --private-key
// value: ParseKeySpec recognises it and loadKey opens it.
type KeyOptions struct {
	f *Factory

	// PrivateKeys are the --private-key values as given.
	PrivateKeys        []string
	PassphraseFile     string
	AllowInsecurePerms bool

	// Lookup resolves INTELLIGENCEFS_KEY_PASSPHRASE: the environment, or
	// the env file for commands with the connection flags.
	Lookup func(string) (string, error)

	// Inherited holds passphrases the daemon parent prompted for, by key
	// path; Prompted records what this process prompted for, so a daemon
	// parent can hand it to its child over a pipe.
	Inherited map[string][]byte
	Prompted  map[string][]byte
}

// AddKeyFlags registers the private-key flags on fs.
func (f *Factory) AddKeyFlags(fs *pflag.FlagSet) *KeyOptions {
	k := &KeyOptions{f: f, Lookup: func(name string) (string, error) { return f.Getenv(name), nil }}
	fs.StringArrayVar(&k.PrivateKeys, "private-key", nil, "RSA private key PEM file to decrypt with (repeatable); CR…=PATH binds it to the Twilio credential SID that encrypted the content")
	fs.StringVar(&k.PassphraseFile, "passphrase-file", "", "read the passphrase of encrypted private keys from this file (else $"+EnvKeyPassphrase+", else a prompt on a terminal)")
	fs.BoolVar(&k.AllowInsecurePerms, "allow-insecure-key-perms", false, "accept key and passphrase files that group or others can read")
	return k
}

// KeySpec is one --private-key value: a path, optionally bound to the
// credential SID (CR…) whose public key encrypted the content.
type KeySpec struct {
	CredentialSID string
	Path          string
}

var keyBindingPattern = regexp.MustCompile(`^(CR[0-9a-zA-Z]{32})=(.+)$`)

// ParseKeySpec splits "CR…=PATH" or takes the whole value as a path.
func ParseKeySpec(s string) (KeySpec, error) {
	if s == "" {
		return KeySpec{}, cmdutil.Usagef("--private-key needs a file path")
	}
	if m := keyBindingPattern.FindStringSubmatch(s); m != nil {
		return KeySpec{CredentialSID: m[1], Path: m[2]}, nil
	}
	if strings.HasPrefix(s, "CR") && strings.Contains(s, "=") && !strings.ContainsRune(s, os.PathSeparator) {
		return KeySpec{}, cmdutil.Usagef("--private-key %q: a binding is CR followed by 32 characters, then =PATH", cmdutil.Truncate(s, 40))
	}
	return KeySpec{Path: s}, nil
}

// Specs parses every --private-key value.
func (k *KeyOptions) Specs() ([]KeySpec, error) {
	var out []KeySpec
	for _, v := range k.PrivateKeys {
		s, err := ParseKeySpec(v)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// LoadedKey describes a key put on the keyring, for log lines.
type LoadedKey struct {
	Path          string
	CredentialSID string
	Bits          int
}

// LoadKeyring loads every --private-key of opts into a new keyring,
// checking each (PEM, RSA ≥ 2048 bits, passphrase, file permissions) before
// anything is mounted or fetched. With no --private-key the keyring is
// empty: plain transcripts still read, and encrypted ones fail with EACCES.
// Errors are one line naming the file.
func LoadKeyring(opts *KeyOptions) (*crypto.Keyring, []LoadedKey, error) {
	specs, err := opts.Specs()
	if err != nil {
		return nil, nil, err
	}
	ring := crypto.NewKeyring()
	var loaded []LoadedKey
	for _, s := range specs {
		key, err := opts.loadKey(s)
		if err != nil {
			ring.Zero() // the keys loaded before this one
			return nil, nil, keyError(err)
		}
		ring.Add(key, s.CredentialSID)
		loaded = append(loaded, LoadedKey{Path: s.Path, CredentialSID: s.CredentialSID, Bits: key.N.BitLen()})
	}
	return ring, loaded, nil
}

// loadKey opens the key s names: today a PEM file, its passphrase from
// PassphraseSource (zeroed once the key is parsed).
func (k *KeyOptions) loadKey(s KeySpec) (*rsa.PrivateKey, error) {
	var handed [][]byte
	key, err := crypto.LoadPrivateKeyFile(s.Path, crypto.LoadOptions{
		Passphrase:         k.PassphraseSource(s.Path, &handed),
		AllowInsecurePerms: k.AllowInsecurePerms,
	})
	for _, b := range handed {
		clear(b)
	}
	return key, err
}

// keyError adds what to do to the crypto package's key-loading errors.
func keyError(err error) error {
	switch {
	case errors.Is(err, crypto.ErrInsecurePermissions):
		return fmt.Errorf("%w: run chmod 600 on it, or pass --allow-insecure-key-perms", err)
	case errors.Is(err, crypto.ErrPublicKeyGiven):
		return fmt.Errorf("%w: --private-key takes the private_key.pem, not the public key registered with Twilio", err)
	}
	return err
}

// PassphraseSource returns the passphrase callback for the key at path: the
// one the daemon parent handed over, else --passphrase-file, else
// INTELLIGENCEFS_KEY_PASSPHRASE, else a prompt when stdin is a terminal.
// Every slice it hands out is appended to handed so the caller can zero it
// once the key is parsed.
func (k *KeyOptions) PassphraseSource(path string, handed *[][]byte) func() ([]byte, error) {
	give := func(b []byte) ([]byte, error) {
		*handed = append(*handed, b)
		return b, nil
	}
	return func() ([]byte, error) {
		if pw, ok := k.Inherited[path]; ok {
			return give(append([]byte(nil), pw...))
		}
		if k.PassphraseFile != "" {
			pw, err := ReadPassphraseFile(k.PassphraseFile, k.AllowInsecurePerms)
			if err != nil {
				return nil, err
			}
			return give(pw)
		}
		v, err := k.Lookup(EnvKeyPassphrase)
		if err != nil {
			return nil, err
		}
		if v != "" {
			return give([]byte(v))
		}
		in := k.f.Stdin
		if in == nil || !term.IsTerminal(int(in.Fd())) {
			return nil, fmt.Errorf("give the passphrase with --passphrase-file FILE or %s (stdin is not a terminal to prompt on)", EnvKeyPassphrase)
		}
		fmt.Fprintf(k.f.Stderr, "Passphrase for %s: ", path)
		pw, err := term.ReadPassword(int(in.Fd()))
		fmt.Fprintln(k.f.Stderr)
		if err != nil {
			return nil, fmt.Errorf("reading the passphrase: %w", err)
		}
		if k.Prompted == nil {
			k.Prompted = map[string][]byte{}
		}
		k.Prompted[path] = append([]byte(nil), pw...)
		return give(pw)
	}
}

// ReadPassphraseFile reads a passphrase file: its content less one trailing
// newline (LF or CRLF). Like key files, it must not be readable by group or
// others unless allowInsecure.
func ReadPassphraseFile(path string, allowInsecure bool) ([]byte, error) {
	f, fi, err := crypto.OpenRegularFile(path)
	if errors.Is(err, crypto.ErrNotRegular) {
		return nil, fmt.Errorf("passphrase file %s: not a regular file", path)
	}
	if err != nil {
		return nil, fmt.Errorf("passphrase file: %w", err)
	}
	defer f.Close()
	if runtime.GOOS != "windows" && !allowInsecure && fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("passphrase file %s has mode %04o: run chmod 600 on it, or pass --allow-insecure-key-perms", path, fi.Mode().Perm())
	}
	pw, err := io.ReadAll(io.LimitReader(f, 4096))
	if err != nil {
		return nil, fmt.Errorf("passphrase file %s: %w", path, err)
	}
	n := len(pw)
	if n > 0 && pw[n-1] == '\n' {
		n--
		if n > 0 && pw[n-1] == '\r' {
			n--
		}
	}
	clear(pw[n:])
	if n == 0 {
		return nil, fmt.Errorf("passphrase file %s is empty", path)
	}
	return pw[:n], nil
}
