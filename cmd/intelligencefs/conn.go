package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"runtime"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/intelligencefs/intelligencefs/crypto"
	"github.com/intelligencefs/intelligencefs/fetch"
)

// Environment variables read by every command that talks to Twilio. The
// secrets among them (auth token, API secret, key passphrase) are read only
// from the environment or an env file, never from flags, because any user
// can read a process's argv in /proc.
const (
	envAccountSID    = "TWILIO_ACCOUNT_SID"
	envAuthToken     = "TWILIO_AUTH_TOKEN"
	envAPIKey        = "TWILIO_API_KEY"
	envAPISecret     = "TWILIO_API_SECRET"
	envEdge          = "TWILIO_EDGE"
	envRegion        = "TWILIO_REGION"
	envAPIURL        = "INTELLIGENCEFS_API_URL"
	envKeyPassphrase = "INTELLIGENCEFS_KEY_PASSPHRASE"
)

// connFlags are the connection settings shared by every command that talks
// to Twilio (mount, cat, doctor, keys, services): credentials, the API base
// URL and, for commands that decrypt, the private keys. Register them with
// addConnFlags and turn them into a client and a keyring with connect.
type connFlags struct {
	app *app

	accountSID string // --account-sid, else TWILIO_ACCOUNT_SID
	apiKey     string // --api-key, else TWILIO_API_KEY
	envFile    string // --env-file: KEY=VALUE secrets file, mode 0600
	apiURL     string // --api-url, else INTELLIGENCEFS_API_URL
	unredacted bool   // --unredacted

	keys   *keyFlags    // nil for commands that do not decrypt
	sealed *sealedFlags // --sealed-cache; nil for commands that do not decrypt

	// envVars caches the env file's variables once read.
	envVars map[string]string
}

// keyFlags are the private-key settings: --private-key (repeatable,
// CR…=PATH binds a key to a credential SID), --passphrase-file and
// --allow-insecure-key-perms.
type keyFlags struct {
	app *app

	privateKeys        []string
	passphraseFile     string
	allowInsecurePerms bool

	// inherited holds passphrases the daemon parent prompted for, by key
	// path; prompted records what this process prompted for, so a daemon
	// parent can hand it to its child over a pipe.
	inherited map[string][]byte
	prompted  map[string][]byte
}

// addConnFlags registers the connection flags on cmd: credentials, API URL
// and, when withKeys (commands that read transcript content), --unredacted
// and the private-key flags.
func (a *app) addConnFlags(cmd *cobra.Command, withKeys bool) *connFlags {
	c := &connFlags{app: a}
	fs := cmd.Flags()
	fs.StringVar(&c.accountSID, "account-sid", "", "Twilio account SID (AC…); default $"+envAccountSID)
	fs.StringVar(&c.apiKey, "api-key", "", "Twilio API key SID (SK…) to authenticate with, its secret in $"+envAPISecret+"; default $"+envAPIKey)
	fs.StringVar(&c.envFile, "env-file", "", "read TWILIO_* and INTELLIGENCEFS_* variables (secrets included) from this file of KEY=VALUE lines; it must be mode 0600")
	fs.StringVar(&c.apiURL, "api-url", "", "send every Twilio REST call to this base URL instead of Twilio's hosts (proxies, tests); plain http only for loopback; default $"+envAPIURL)
	if withKeys {
		fs.BoolVar(&c.unredacted, "unredacted", false, "ask the API for unredacted content (PII not replaced), where the service keeps it")
		c.keys = a.addKeyFlags(fs)
		c.sealed = addSealedFlags(fs)
	}
	return c
}

// addKeyFlags registers the private-key flags on fs.
func (a *app) addKeyFlags(fs *pflag.FlagSet) *keyFlags {
	k := &keyFlags{app: a}
	fs.StringArrayVar(&k.privateKeys, "private-key", nil, "RSA private key PEM file to decrypt with (repeatable); CR…=PATH binds it to the Twilio credential SID that encrypted the content")
	fs.StringVar(&k.passphraseFile, "passphrase-file", "", "read the passphrase of encrypted private keys from this file (else $"+envKeyPassphrase+", else a prompt on a terminal)")
	fs.BoolVar(&k.allowInsecurePerms, "allow-insecure-key-perms", false, "accept key and passphrase files that group or others can read")
	return k
}

// lookup returns a setting from the env file (--env-file) if it sets it,
// else from the process environment. An explicit file beats what the shell
// happens to have exported.
func (c *connFlags) lookup(name string) (string, error) {
	if c.envFile != "" && c.envVars == nil {
		vars, err := readEnvFile(c.envFile)
		if err != nil {
			return "", err
		}
		c.envVars = vars
	}
	if v, ok := c.envVars[name]; ok {
		return v, nil
	}
	return c.app.getenv(name), nil
}

// credentials are the Twilio credentials a command authenticates with:
// either the account SID and its auth token, or an API key SID and secret
// (with the account SID they belong to).
type credentials struct {
	AccountSID string
	AuthToken  string
	APIKey     string
	APISecret  string
}

// Kind names the kind of credential for messages, without any secret.
func (c credentials) Kind() string {
	if c.APIKey != "" {
		return "API key " + c.APIKey
	}
	return "auth token of " + c.AccountSID
}

// errNoCredentials is the one line printed when no credentials are set.
var errNoCredentials = errors.New("no Twilio credentials: set " + envAccountSID + " and " + envAuthToken +
	", or " + envAPIKey + ", " + envAPISecret + " and " + envAccountSID +
	" (in the environment or an --env-file)")

var (
	accountSIDPattern = regexp.MustCompile(`^AC[0-9a-fA-F]{32}$`)
	apiKeyPattern     = regexp.MustCompile(`^SK[0-9a-fA-F]{32}$`)
)

// credentials resolves the credentials from flags, the env file and the
// environment. Missing or malformed ones are usage errors (exit 2) naming
// the variables to set.
func (c *connFlags) credentials() (credentials, error) {
	var cr credentials
	var err error
	get := func(flag, name string) string {
		if err != nil {
			return ""
		}
		if flag != "" {
			return flag
		}
		var v string
		v, err = c.lookup(name)
		return strings.TrimSpace(v)
	}
	cr.AccountSID = get(c.accountSID, envAccountSID)
	cr.APIKey = get(c.apiKey, envAPIKey)
	if cr.APIKey != "" {
		cr.APISecret = get("", envAPISecret)
	} else {
		cr.AuthToken = get("", envAuthToken)
	}
	if err != nil {
		return credentials{}, usageError{err}
	}
	switch {
	case cr.AccountSID == "" && cr.AuthToken == "" && cr.APIKey == "":
		return credentials{}, usageError{errNoCredentials}
	case cr.APIKey != "" && cr.APISecret == "":
		return credentials{}, usagef("%s is set but %s is not: set it (in the environment or an --env-file) to use the API key", envAPIKey, envAPISecret)
	case cr.APIKey != "" && cr.AccountSID == "":
		return credentials{}, usagef("an API key needs the account SID it belongs to: set %s or --account-sid", envAccountSID)
	case cr.APIKey == "" && cr.AccountSID == "":
		return credentials{}, usagef("%s is set but %s is not: set both, or use an API key (%s, %s)", envAuthToken, envAccountSID, envAPIKey, envAPISecret)
	case cr.APIKey == "" && cr.AuthToken == "":
		return credentials{}, usagef("%s is set but %s is not: set it, or use an API key (%s, %s)", envAccountSID, envAuthToken, envAPIKey, envAPISecret)
	}
	if !accountSIDPattern.MatchString(cr.AccountSID) {
		return credentials{}, usagef("the account SID should be AC followed by 32 hex digits (got %d characters starting %q)", len(cr.AccountSID), truncate(cr.AccountSID, 2))
	}
	if cr.APIKey != "" && !apiKeyPattern.MatchString(cr.APIKey) {
		return credentials{}, usagef("the API key SID should be SK followed by 32 hex digits (got %d characters starting %q)", len(cr.APIKey), truncate(cr.APIKey, 2))
	}
	return cr, nil
}

// resolvedAPIURL is --api-url, else INTELLIGENCEFS_API_URL ("" means
// Twilio's own hosts).
func (c *connFlags) resolvedAPIURL() (string, error) {
	if c.apiURL != "" {
		return c.apiURL, nil
	}
	return c.lookup(envAPIURL)
}

// keySpec is one --private-key value: a path, optionally bound to the
// credential SID (CR…) whose public key encrypted the content.
type keySpec struct {
	CredentialSID string
	Path          string
}

var keyBindingPattern = regexp.MustCompile(`^(CR[0-9a-zA-Z]{32})=(.+)$`)

// parseKeySpec splits "CR…=PATH" or takes the whole value as a path.
func parseKeySpec(s string) (keySpec, error) {
	if s == "" {
		return keySpec{}, usagef("--private-key needs a file path")
	}
	if m := keyBindingPattern.FindStringSubmatch(s); m != nil {
		return keySpec{CredentialSID: m[1], Path: m[2]}, nil
	}
	if strings.HasPrefix(s, "CR") && strings.Contains(s, "=") && !strings.ContainsRune(s, os.PathSeparator) {
		return keySpec{}, usagef("--private-key %q: a binding is CR followed by 32 characters, then =PATH", truncate(s, 40))
	}
	return keySpec{Path: s}, nil
}

// specs parses every --private-key value.
func (k *keyFlags) specs() ([]keySpec, error) {
	var out []keySpec
	for _, v := range k.privateKeys {
		s, err := parseKeySpec(v)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// loadedKey describes a key put on the keyring, for log lines.
type loadedKey struct {
	Path          string
	CredentialSID string
	Bits          int
}

// loadKeyring loads every --private-key into a new keyring, checking each
// (PEM, RSA ≥ 2048 bits, passphrase, file permissions) before anything is
// mounted or fetched. lookup resolves INTELLIGENCEFS_KEY_PASSPHRASE. With no
// --private-key the keyring is empty: plain transcripts still read, and
// encrypted ones fail with EACCES. Errors are one line naming the file.
func (k *keyFlags) loadKeyring(lookup func(string) (string, error)) (*crypto.Keyring, []loadedKey, error) {
	specs, err := k.specs()
	if err != nil {
		return nil, nil, err
	}
	ring := crypto.NewKeyring()
	var loaded []loadedKey
	for _, s := range specs {
		var handed [][]byte
		src := k.passphraseSource(s.Path, lookup, &handed)
		key, err := crypto.LoadPrivateKeyFile(s.Path, crypto.LoadOptions{
			Passphrase:         src,
			AllowInsecurePerms: k.allowInsecurePerms,
		})
		for _, b := range handed {
			clear(b)
		}
		if err != nil {
			ring.Zero() // the keys loaded before this one
			return nil, nil, keyError(err)
		}
		ring.Add(key, s.CredentialSID)
		loaded = append(loaded, loadedKey{Path: s.Path, CredentialSID: s.CredentialSID, Bits: key.N.BitLen()})
	}
	return ring, loaded, nil
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

// passphraseSource returns the passphrase callback for the key at path: the
// one the daemon parent handed over, else --passphrase-file, else
// INTELLIGENCEFS_KEY_PASSPHRASE, else a prompt when stdin is a terminal.
// Every slice it hands out is appended to handed so the caller can zero it
// once the key is parsed.
func (k *keyFlags) passphraseSource(path string, lookup func(string) (string, error), handed *[][]byte) func() ([]byte, error) {
	give := func(b []byte) ([]byte, error) {
		*handed = append(*handed, b)
		return b, nil
	}
	return func() ([]byte, error) {
		if pw, ok := k.inherited[path]; ok {
			return give(append([]byte(nil), pw...))
		}
		if k.passphraseFile != "" {
			pw, err := readPassphraseFile(k.passphraseFile, k.allowInsecurePerms)
			if err != nil {
				return nil, err
			}
			return give(pw)
		}
		v, err := lookup(envKeyPassphrase)
		if err != nil {
			return nil, err
		}
		if v != "" {
			return give([]byte(v))
		}
		in := k.app.stdin
		if in == nil || !term.IsTerminal(int(in.Fd())) {
			return nil, fmt.Errorf("give the passphrase with --passphrase-file FILE or %s (stdin is not a terminal to prompt on)", envKeyPassphrase)
		}
		fmt.Fprintf(k.app.stderr, "Passphrase for %s: ", path)
		pw, err := term.ReadPassword(int(in.Fd()))
		fmt.Fprintln(k.app.stderr)
		if err != nil {
			return nil, fmt.Errorf("reading the passphrase: %w", err)
		}
		if k.prompted == nil {
			k.prompted = map[string][]byte{}
		}
		k.prompted[path] = append([]byte(nil), pw...)
		return give(pw)
	}
}

// readPassphraseFile reads a passphrase file: its content less one trailing
// newline (LF or CRLF). Like key files, it must not be readable by group or
// others unless allowInsecure.
func readPassphraseFile(path string, allowInsecure bool) ([]byte, error) {
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

// connection is what connect hands a command: the Twilio client, the
// keyring (empty for commands registered without key flags) and what was
// loaded, for log lines.
type connection struct {
	Client      *fetch.Client
	Keys        *crypto.Keyring
	LoadedKeys  []loadedKey
	Credentials string // the kind of credential, for messages (no secret)
}

// connect resolves credentials (a usage error, exit 2, when missing), loads
// and checks every private key, and builds the Twilio client, in that order
// and before anything is mounted, so a bad setting fails fast with one line.
// tune, if not nil, adjusts the client configuration (concurrency, rate
// limit, logger) before the client is built. It makes no request; call
// conn.Client.ValidateCredentials to check the credentials with Twilio.
func (c *connFlags) connect(tune func(*fetch.Config)) (*connection, error) {
	cr, err := c.credentials()
	if err != nil {
		return nil, err
	}
	apiURL, err := c.resolvedAPIURL()
	if err != nil {
		return nil, err
	}
	edge, err := c.lookup(envEdge)
	if err != nil {
		return nil, err
	}
	region, err := c.lookup(envRegion)
	if err != nil {
		return nil, err
	}
	ring := crypto.NewKeyring()
	var loaded []loadedKey
	if c.keys != nil {
		if ring, loaded, err = c.keys.loadKeyring(c.lookup); err != nil {
			return nil, err
		}
	}
	cfg := fetch.Config{
		AccountSID: cr.AccountSID,
		AuthToken:  cr.AuthToken,
		APIKey:     cr.APIKey,
		APISecret:  cr.APISecret,
		APIURL:     apiURL,
		Edge:       edge,
		Region:     region,
		Unredacted: c.unredacted,
		// The sealed documents carry word timestamps; plain transcripts
		// should read the same.
		WordTimestamps: true,
	}
	if tune != nil {
		tune(&cfg)
	}
	log := cfg.Logger
	if log == nil { // cat, search: the cache's one warning goes to stderr
		log = slog.New(slog.NewTextHandler(c.app.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	if cfg.SealedCache, err = c.sealed.open(log, cfg.MaxBodyBytes, ring); err != nil {
		ring.Zero()
		return nil, err
	}
	client, err := fetch.New(cfg)
	if err != nil {
		ring.Zero()
		if cfg.SealedCache != nil {
			cfg.SealedCache.Close()
		}
		return nil, usageError{err}
	}
	return &connection{Client: client, Keys: ring, LoadedKeys: loaded, Credentials: cr.Kind()}, nil
}

// fetchList connects with conn's flags, makes the one list call and
// disconnects: what the list commands need.
func fetchList[T any](ctx context.Context, conn *connFlags, list func(*fetch.Client, context.Context) ([]T, error)) ([]T, error) {
	c, err := conn.connect(nil)
	if err != nil {
		return nil, err
	}
	defer c.Client.Close()
	return list(c.Client, ctx)
}
