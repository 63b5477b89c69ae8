package factory

import (
	"context"
	"errors"
	"log/slog"
	"regexp"
	"strings"

	"github.com/spf13/cobra"

	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/cmdutil"
	"github.com/intelligencefs/intelligencefs/crypto"
	"github.com/intelligencefs/intelligencefs/fetch"
)

// Environment variables read by every command that talks to Twilio. The
// secrets among them (auth token, API secret, key passphrase) are read only
// from the environment or an env file, never from flags, because any user
// can read a process's argv in /proc.
const (
	EnvAccountSID    = "TWILIO_ACCOUNT_SID"
	EnvAuthToken     = "TWILIO_AUTH_TOKEN"
	EnvAPIKey        = "TWILIO_API_KEY"
	EnvAPISecret     = "TWILIO_API_SECRET"
	EnvEdge          = "TWILIO_EDGE"
	EnvRegion        = "TWILIO_REGION"
	EnvAPIURL        = "INTELLIGENCEFS_API_URL"
	EnvKeyPassphrase = "INTELLIGENCEFS_KEY_PASSPHRASE"
)

// SecretEnv are the variables that hold secrets.
var SecretEnv = []string{EnvAuthToken, EnvAPISecret, EnvKeyPassphrase}

// ConnFlags are the connection settings shared by every command that talks
// to Twilio (mount, cat, doctor, keys, services): credentials, the API base
// URL and, for commands that decrypt, the private keys. Register them with
// AddConnFlags and turn them into a client and a keyring with Connect.
type ConnFlags struct {
	f *Factory

	// AccountSID is --account-sid, else TWILIO_ACCOUNT_SID (the fstab
	// form sets it from its SOURCE).
	AccountSID string
	apiKey     string // --api-key, else TWILIO_API_KEY
	envFile    string // --env-file: KEY=VALUE secrets file, mode 0600
	apiURL     string // --api-url, else INTELLIGENCEFS_API_URL
	unredacted bool   // --unredacted

	// Keys are the private-key flags; nil for commands that do not decrypt.
	Keys *KeyOptions
	// Sealed is --sealed-cache; nil for commands that do not decrypt.
	Sealed *SealedFlags

	// envVars caches the env file's variables once read.
	envVars map[string]string
}

// AddConnFlags registers the connection flags on cmd: credentials, API URL
// and, when withKeys (commands that read transcript content), --unredacted,
// the private-key flags and the sealed-cache flags.
func (f *Factory) AddConnFlags(cmd *cobra.Command, withKeys bool) *ConnFlags {
	c := &ConnFlags{f: f}
	fs := cmd.Flags()
	fs.StringVar(&c.AccountSID, "account-sid", "", "Twilio account SID (AC…); default $"+EnvAccountSID)
	fs.StringVar(&c.apiKey, "api-key", "", "Twilio API key SID (SK…) to authenticate with, its secret in $"+EnvAPISecret+"; default $"+EnvAPIKey)
	fs.StringVar(&c.envFile, "env-file", "", "read TWILIO_* and INTELLIGENCEFS_* variables (secrets included) from this file of KEY=VALUE lines; it must be mode 0600")
	fs.StringVar(&c.apiURL, "api-url", "", "send every Twilio REST call to this base URL instead of Twilio's hosts (proxies, tests); plain http only for loopback; default $"+EnvAPIURL)
	if withKeys {
		fs.BoolVar(&c.unredacted, "unredacted", false, "ask the API for unredacted content (PII not replaced), where the service keeps it")
		c.Keys = f.AddKeyFlags(fs)
		c.Keys.Lookup = c.Lookup // passphrases may come from the env file too
		c.Sealed = AddSealedFlags(fs)
	}
	return c
}

// Lookup returns a setting from the env file (--env-file) if it sets it,
// else from the process environment. An explicit file beats what the shell
// happens to have exported.
func (c *ConnFlags) Lookup(name string) (string, error) {
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
	return c.f.Getenv(name), nil
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
var errNoCredentials = errors.New("no Twilio credentials: set " + EnvAccountSID + " and " + EnvAuthToken +
	", or " + EnvAPIKey + ", " + EnvAPISecret + " and " + EnvAccountSID +
	" (in the environment or an --env-file)")

var (
	// AccountSIDPattern is a well-formed account SID (AC…); the fstab
	// form takes its SOURCE as the account when it is one.
	AccountSIDPattern = regexp.MustCompile(`^AC[0-9a-fA-F]{32}$`)
	apiKeyPattern     = regexp.MustCompile(`^SK[0-9a-fA-F]{32}$`)
)

// credentials resolves the credentials from flags, the env file and the
// environment. Missing or malformed ones are usage errors (exit 2) naming
// the variables to set.
func (c *ConnFlags) credentials() (credentials, error) {
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
		v, err = c.Lookup(name)
		return strings.TrimSpace(v)
	}
	cr.AccountSID = get(c.AccountSID, EnvAccountSID)
	cr.APIKey = get(c.apiKey, EnvAPIKey)
	if cr.APIKey != "" {
		cr.APISecret = get("", EnvAPISecret)
	} else {
		cr.AuthToken = get("", EnvAuthToken)
	}
	if err != nil {
		return credentials{}, cmdutil.UsageError{Err: err}
	}
	switch {
	case cr.AccountSID == "" && cr.AuthToken == "" && cr.APIKey == "":
		return credentials{}, cmdutil.UsageError{Err: errNoCredentials}
	case cr.APIKey != "" && cr.APISecret == "":
		return credentials{}, cmdutil.Usagef("%s is set but %s is not: set it (in the environment or an --env-file) to use the API key", EnvAPIKey, EnvAPISecret)
	case cr.APIKey != "" && cr.AccountSID == "":
		return credentials{}, cmdutil.Usagef("an API key needs the account SID it belongs to: set %s or --account-sid", EnvAccountSID)
	case cr.APIKey == "" && cr.AccountSID == "":
		return credentials{}, cmdutil.Usagef("%s is set but %s is not: set both, or use an API key (%s, %s)", EnvAuthToken, EnvAccountSID, EnvAPIKey, EnvAPISecret)
	case cr.APIKey == "" && cr.AuthToken == "":
		return credentials{}, cmdutil.Usagef("%s is set but %s is not: set it, or use an API key (%s, %s)", EnvAccountSID, EnvAuthToken, EnvAPIKey, EnvAPISecret)
	}
	if !AccountSIDPattern.MatchString(cr.AccountSID) {
		return credentials{}, cmdutil.Usagef("the account SID should be AC followed by 32 hex digits (got %d characters starting %q)", len(cr.AccountSID), cmdutil.Truncate(cr.AccountSID, 2))
	}
	if cr.APIKey != "" && !apiKeyPattern.MatchString(cr.APIKey) {
		return credentials{}, cmdutil.Usagef("the API key SID should be SK followed by 32 hex digits (got %d characters starting %q)", len(cr.APIKey), cmdutil.Truncate(cr.APIKey, 2))
	}
	return cr, nil
}

// resolvedAPIURL is --api-url, else INTELLIGENCEFS_API_URL ("" means
// Twilio's own hosts).
func (c *ConnFlags) resolvedAPIURL() (string, error) {
	if c.apiURL != "" {
		return c.apiURL, nil
	}
	return c.Lookup(EnvAPIURL)
}

// Connection is what Connect hands a command: the Twilio client, the
// keyring (empty for commands registered without key flags) and what was
// loaded, for log lines.
type Connection struct {
	Client      *fetch.Client
	Keys        *crypto.Keyring
	LoadedKeys  []LoadedKey
	Credentials string // the kind of credential, for messages (no secret)
}

// Connect resolves credentials (a usage error, exit 2, when missing), loads
// and checks every private key, and builds the Twilio client, in that order
// and before anything is mounted, so a bad setting fails fast with one line.
// tune, if not nil, adjusts the client configuration (concurrency, rate
// limit, logger) before the client is built. It makes no request; call
// conn.Client.ValidateCredentials to check the credentials with Twilio.
func (c *ConnFlags) Connect(tune func(*fetch.Config)) (*Connection, error) {
	cr, err := c.credentials()
	if err != nil {
		return nil, err
	}
	apiURL, err := c.resolvedAPIURL()
	if err != nil {
		return nil, err
	}
	edge, err := c.Lookup(EnvEdge)
	if err != nil {
		return nil, err
	}
	region, err := c.Lookup(EnvRegion)
	if err != nil {
		return nil, err
	}
	ring := crypto.NewKeyring()
	var loaded []LoadedKey
	if c.Keys != nil {
		if ring, loaded, err = LoadKeyring(c.Keys); err != nil {
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
		log = slog.New(slog.NewTextHandler(c.f.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	if cfg.SealedCache, err = c.Sealed.Open(log, cfg.MaxBodyBytes, ring); err != nil {
		ring.Zero()
		return nil, err
	}
	client, err := fetch.New(cfg)
	if err != nil {
		ring.Zero()
		if cfg.SealedCache != nil {
			cfg.SealedCache.Close()
		}
		return nil, cmdutil.UsageError{Err: err}
	}
	return &Connection{Client: client, Keys: ring, LoadedKeys: loaded, Credentials: cr.Kind()}, nil
}

// FetchList connects with conn's flags, makes the one list call and
// disconnects: what the list commands need.
func FetchList[T any](ctx context.Context, conn *ConnFlags, list func(*fetch.Client, context.Context) ([]T, error)) ([]T, error) {
	c, err := conn.Connect(nil)
	if err != nil {
		return nil, err
	}
	defer c.Client.Close()
	return list(c.Client, ctx)
}
