// Package doctor is `doctor`: the whole set-up checked, one line each
// (credentials, each key file, the sealed cache, a trial decrypt per
// encrypted service, FUSE, RLIMIT_MEMLOCK), with what to do.
package doctor

import (
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/cmd/services"
	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/cmdutil"
	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/factory"
	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/keycheck"
	"github.com/intelligencefs/intelligencefs/crypto"
	"github.com/intelligencefs/intelligencefs/fetch"
	"github.com/intelligencefs/intelligencefs/fetch/record"
	"github.com/intelligencefs/intelligencefs/fs/defaults"
)

// Marks that start every doctor line (its tests look for them).
const (
	MarkOK   = "✔"
	MarkFail = "✘"
	MarkWarn = "⚠"
	MarkInfo = "·"
)

// doctorReport prints doctor's lines and counts failures and warnings.
type doctorReport struct {
	w              io.Writer
	failed, warned int
	passed         int
}

// line prints one check line: the mark, then the message folded onto one line.
func (r *doctorReport) line(mark, format string, args ...any) {
	fmt.Fprintln(r.w, mark+" "+cmdutil.OneLine(fmt.Sprintf(format, args...)))
}

// ok prints a passed check.
func (r *doctorReport) ok(format string, args ...any) { r.passed++; r.line(MarkOK, format, args...) }

// fail prints a failed check (doctor exits non-zero).
func (r *doctorReport) fail(format string, args ...any) {
	r.failed++
	r.line(MarkFail, format, args...)
}

// warn prints a warning (exit status unaffected).
func (r *doctorReport) warn(format string, args ...any) {
	r.warned++
	r.line(MarkWarn, format, args...)
}

// info prints a line that is neither a pass nor a problem.
func (r *doctorReport) info(format string, args ...any) { r.line(MarkInfo, format, args...) }

// doctorKey is one --private-key that loaded, kept to tell which file fits
// which credential when a trial decrypt fails.
type doctorKey struct {
	spec factory.KeySpec
	key  *rsa.PrivateKey
}

// NewCmd builds `doctor`.
func NewCmd(f *factory.Factory) *cobra.Command {
	opts := &Options{CacheSize: cmdutil.ByteSize(defaults.CacheSize)}
	cmd := &cobra.Command{
		Use:   "doctor [--private-key [CR…=]PATH]... [--allow-other] [--cache-size SIZE]",
		Short: "Check the whole set-up: credentials, key files, that your keys open each encrypted service, FUSE",
		Long: `doctor checks, one line each, ✔ or ✘ with what to do:

  - the Twilio credentials are accepted;
  - each --private-key file loads, is RSA of at least 2048 bits and is not
    readable by group or others (unless --allow-insecure-key-perms);
  - for each encrypted service, a key opens a real encrypted object of it
    (the sentences of its newest completed encrypted transcript are fetched
    and decrypted; only the result is shown, the plaintext is zeroed);
  - FUSE is usable here (/dev/fuse, fusermount3 or root, user_allow_other in
    /etc/fuse.conf with --allow-other).

Warnings (⚠) do not change the exit status: services with data logging on
(Twilio keeps a copy not encrypted with your key), RLIMIT_MEMLOCK too small
to lock a --cache-size cache in RAM. The exit status is 1 if any check failed.
Give it the same flags and environment as mount.`,
		Example: `  intelligencefs doctor --private-key CR0123456789abcdef0123456789abcdef=~/.config/intelligencefs/private_key.pem`,
		Args:    cmdutil.ExactArgs(0, "no arguments"),
	}
	opts.Conn = f.AddConnFlags(cmd, true)
	fl := cmd.Flags()
	fl.BoolVar(&opts.AllowOther, "allow-other", false, "check that mounting with --allow-other will work (user_allow_other in /etc/fuse.conf)")
	fl.Var(&opts.CacheSize, "cache-size", "the mount's --cache-size, to check RLIMIT_MEMLOCK can lock all of it")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return run(cmd.Context(), f, opts)
	}
	return cmd
}

// Options are the settings of one `doctor`: mount's, as far as they can
// be checked.
type Options struct {
	// Conn are the connection and key flags.
	Conn *factory.ConnFlags
	// AllowOther checks that --allow-other will work.
	AllowOther bool
	// CacheSize is the mount's --cache-size, for the memlock check.
	CacheSize cmdutil.ByteSize
}

// run prints every check's line to f.Stdout and the summary; it fails
// (exit 1) when any check failed.
func run(ctx context.Context, f *factory.Factory, opts *Options) error {
	r := &doctorReport{w: f.Stdout}
	runDoctor(ctx, r, opts.Conn)
	checkFUSE(r, opts.AllowOther)
	checkMemlock(r, int64(opts.CacheSize))
	if r.failed > 0 {
		fmt.Fprintf(f.Stdout, "\n%d check(s) failed, %d warning(s).\n", r.failed, r.warned)
		return cmdutil.ExitCodeError{Code: 1, Msg: fmt.Sprintf("doctor: %d check(s) failed", r.failed)}
	}
	fmt.Fprintf(f.Stdout, "\nAll %d checks passed, %d warning(s).\n", r.passed, r.warned)
	return nil
}

// runDoctor runs the account and key checks: credentials, each key file,
// and a trial decrypt per encrypted service.
func runDoctor(ctx context.Context, r *doctorReport, conn *factory.ConnFlags) {
	// The keys are checked one by one below, so that every bad file gets
	// its own line; connect only builds the client.
	noKeys := *conn
	noKeys.Keys = nil
	noKeys.Sealed = nil // checked below, on its own line
	var client *fetch.Client
	c, err := noKeys.Connect(nil)
	if err != nil {
		r.fail("credentials: %v", err)
	} else {
		defer c.Client.Close()
		switch err := c.Client.ValidateCredentials(ctx); {
		case errors.Is(err, record.ErrForbidden):
			r.fail("credentials: Twilio accepted the %s but forbade the request: give the API key Intelligence permission, or ask Twilio to enable the feature (%v)",
				c.Credentials, err)
		case errors.Is(err, record.ErrAuth):
			r.fail("credentials: Twilio rejected the %s: check %s and %s (or %s and %s), e.g. in the Console under Account > API keys & tokens (%v)",
				c.Credentials, factory.EnvAccountSID, factory.EnvAuthToken, factory.EnvAPIKey, factory.EnvAPISecret, err)
		case err != nil:
			r.fail("credentials: could not check them with Twilio: %v", err)
		default:
			r.ok("credentials: accepted (%s)", c.Credentials)
			client = c.Client
		}
	}

	ring, keys := doctorKeys(r, conn.Keys)
	defer func() {
		for _, k := range keys {
			crypto.ZeroPrivateKey(k.key)
		}
	}()
	doctorSealedCache(r, conn.Sealed, ring)
	if client == nil {
		r.info("services: not checked (no working credentials)")
		return
	}
	given := 0
	if conn.Keys != nil {
		given = len(conn.Keys.PrivateKeys)
	}
	doctorServices(ctx, r, client, ring, keys, given)
}

// doctorKeys checks each --private-key on its own line and returns the
// keyring of those that loaded.
func doctorKeys(r *doctorReport, k *factory.KeyOptions) (*crypto.Keyring, []doctorKey) {
	ring := crypto.NewKeyring()
	specs, err := k.Specs()
	if err != nil {
		r.fail("keys: %v", err)
		return ring, nil
	}
	if len(specs) == 0 {
		r.info("keys: no --private-key given (needed for encrypted services)")
	}
	var keys []doctorKey
	for _, s := range specs {
		name := s.Path
		if s.CredentialSID != "" {
			name = s.CredentialSID + "=" + s.Path
		}
		fi, err := os.Stat(s.Path)
		if err != nil {
			r.fail("key %s: %v", name, unwrapPathError(err))
			continue
		}
		insecure := runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0
		if insecure && !k.AllowInsecurePerms {
			// Without the flag the loader stops at the mode, before any
			// passphrase; it first tells a public key from a private one.
			if _, err := crypto.LoadPrivateKeyFile(s.Path, crypto.LoadOptions{}); errors.Is(err, crypto.ErrPublicKeyGiven) {
				r.fail("key %s: %s", name, keyFix(err))
				continue
			}
			r.fail("key %s: mode %04o gives group or others access: run chmod 600 %s (or pass --allow-insecure-key-perms)", name, fi.Mode().Perm(), cmdutil.ShellQuote(s.Path))
			continue
		}
		var handed [][]byte
		key, err := crypto.LoadPrivateKeyFile(s.Path, crypto.LoadOptions{
			Passphrase:         k.PassphraseSource(s.Path, &handed),
			AllowInsecurePerms: true, // checked above, with a better message
		})
		for _, b := range handed {
			clear(b)
		}
		if err != nil {
			r.fail("key %s: %s", name, keyFix(err))
			continue
		}
		bound := "unbound: matched to credentials by trial"
		if s.CredentialSID != "" {
			bound = "for credential " + s.CredentialSID
		}
		r.ok("key %s: RSA %d bits, mode %04o, %s", name, key.N.BitLen(), fi.Mode().Perm(), bound)
		if insecure {
			r.warn("key %s: group or others can read it (accepted by --allow-insecure-key-perms): run chmod 600 %s", name, cmdutil.ShellQuote(s.Path))
		}
		ring.Add(key, s.CredentialSID)
		keys = append(keys, doctorKey{spec: s, key: key})
	}
	return ring, keys
}

// unwrapPathError drops the "stat PATH:" prefix the caller already shows.
func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// keyFix describes a key-loading failure with what to do about it.
func keyFix(err error) string {
	cause := unwrapPathError(err)
	switch {
	case errors.Is(err, crypto.ErrKeyTooShort):
		return fmt.Sprintf("%v: use a key of at least %d bits (intelligencefs keygen), register it and encrypt the service with it", cause, crypto.MinRSABits)
	case errors.Is(err, crypto.ErrPublicKeyGiven):
		return fmt.Sprintf("%v: give the private_key.pem, not the public key registered with Twilio", cause)
	case errors.Is(err, crypto.ErrWrongPassphrase):
		return fmt.Sprintf("%v: check %s or --passphrase-file", cause, factory.EnvKeyPassphrase)
	case errors.Is(err, crypto.ErrPassphraseRequired):
		return fmt.Sprintf("%v: set %s or --passphrase-file, or run doctor on a terminal", cause, factory.EnvKeyPassphrase)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Sprintf("cannot read it (%v): run doctor as the user that mounts, who should own the file (mode 0600)", cause)
	case errors.Is(err, crypto.ErrNotPEM), errors.Is(err, crypto.ErrNotRSA), errors.Is(err, crypto.ErrInvalidKey):
		return fmt.Sprintf("%v: give the RSA private key PEM (private_key.pem from keygen or openssl genrsa)", cause)
	}
	return cause.Error()
}

// doctorServices lists the services, warns where data logging is on and, for
// each encrypted service, decrypts one real encrypted object with ring.
func doctorServices(ctx context.Context, r *doctorReport, client *fetch.Client, ring *crypto.Keyring, keys []doctorKey, given int) {
	svcs, err := client.ListServices(ctx)
	if err != nil {
		r.fail("services: could not list them: %v", err)
		return
	}
	if len(svcs) == 0 {
		r.info("services: none in this account")
	}
	for _, s := range svcs {
		name := fmt.Sprintf("service %s (%s)", cmdutil.OrDash(s.UniqueName), s.SID)
		if !s.Encrypted() {
			r.info("%s: not encrypted with your key (intelligencefs services encrypt turns it on)", name)
		} else {
			trialDecrypt(ctx, r, client, ring, keys, given, name, s)
		}
		if s.DataLogging {
			r.warn("%s", services.DataLoggingWarning(s))
		}
	}
}

// trialDecrypt finds the newest completed encrypted transcript of s and
// opens its sentences with ring, reporting the result only. The plaintext is
// decrypted in place and zeroed. given is how many --private-key were
// given (some may have failed to load).
func trialDecrypt(ctx context.Context, r *doctorReport, client *fetch.Client, ring *crypto.Keyring, keys []doctorKey, given int, name string, s record.Service) {
	pick, err := keycheck.Transcript(ctx, client, s.SID)
	if err != nil {
		r.fail("%s: could not list its transcripts: %v", name, err)
		return
	}
	if pick.SID == "" {
		r.warn("%s: encrypted with %s, but it has no completed encrypted transcript yet to try the keys on: run doctor again once one exists", name, s.EncryptionCredentialSID)
		return
	}
	cred := pick.EncryptionCredentialSID
	obj := fmt.Sprintf("transcript %s (encrypted with %s)", pick.SID, cred)
	if len(keys) == 0 {
		if given > 0 {
			r.fail("%s: the --private-key given did not load (see above), so %s cannot be read: pass --private-key %s=PATH with the private key registered as %s", name, obj, cred, cred)
			return
		}
		r.fail("%s: no --private-key given, so %s cannot be read: pass --private-key %s=PATH with the private key registered as %s", name, obj, cred, cred)
		return
	}
	var fix string
	err = keycheck.Open(ctx, client, ring, pick, func(env crypto.Envelope) { fix = unwrapFix(env, cred, keys) })
	if errors.Is(err, keycheck.ErrDownload) {
		r.fail("%s: could not download the encrypted sentences of %s: %v", name, obj, err)
		return
	}
	switch {
	case err == nil:
		r.ok("%s: your keys open %s", name, obj)
		if cred != s.EncryptionCredentialSID {
			r.warn("%s: new transcripts are encrypted with %s, not %s: make sure its private key is given too", name, s.EncryptionCredentialSID, cred)
		}
	case errors.Is(err, crypto.ErrUnwrap):
		r.fail("%s: none of your keys opens %s: %s", name, obj, fix)
	case errors.Is(err, crypto.ErrAuth):
		r.fail("%s: %s failed authentication (damaged or altered in transit): run doctor again; if it persists, report it to Twilio", name, obj)
	default:
		r.fail("%s: could not open %s: %v", name, obj, err)
	}
}

// unwrapFix says what to do when no key on the ring opens an object
// encrypted with cred: tries each key alone to find one that fits but is
// bound to another credential. A trial's plaintext is zeroed at once.
func unwrapFix(env crypto.Envelope, cred string, keys []doctorKey) string {
	for _, k := range keys {
		if k.spec.CredentialSID == "" || k.spec.CredentialSID == cred {
			continue
		}
		out, err := crypto.Open(k.key, env, make([]byte, 0, max(env.PlaintextLen(), 0)))
		clear(out)
		if !errors.Is(err, crypto.ErrUnwrap) {
			return fmt.Sprintf("key %s fits but is bound to %s: bind it as --private-key %s=%s", k.spec.Path, k.spec.CredentialSID, cred, cmdutil.ShellQuote(k.spec.Path))
		}
	}
	return fmt.Sprintf("give the private key whose public half was registered as %s (--private-key %s=PATH; intelligencefs keys list shows the credentials)", cred, cred)
}
