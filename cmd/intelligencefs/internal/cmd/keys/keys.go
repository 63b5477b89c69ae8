// Package keys is `keys register` and `keys list`: the Accounts v1
// PublicKey credentials (CR…) Twilio encrypts content keys to.
package keys

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/cmdutil"
	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/factory"
	"github.com/intelligencefs/intelligencefs/crypto"
	"github.com/intelligencefs/intelligencefs/fetch"
)

// maxFriendlyName is the Accounts API's limit on a PublicKey's FriendlyName.
const maxFriendlyName = 64

// NewCmd builds `keys` and its subcommands register and list: the
// Accounts v1 PublicKey credentials Twilio encrypts to.
func NewCmd(f *factory.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "Register and list the public keys (Twilio credentials CR…) content is encrypted to",
		Args:  cmdutil.ExactArgs(0, "a subcommand (register or list)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return cmd.Help()
		},
	}
	cmd.AddCommand(newRegisterCmd(f), newListCmd(f))
	return cmd
}

// registerOptions are the settings of one `keys register`.
type registerOptions struct {
	conn *factory.ConnFlags
	// publicKey is the PEM file to register; name its friendly name.
	publicKey, name string
}

// newRegisterCmd builds `keys register`: step 2 of the set-up.
func newRegisterCmd(f *factory.Factory) *cobra.Command {
	opts := &registerOptions{}
	cmd := &cobra.Command{
		Use:   "register --public-key public_key.pem --name NAME",
		Short: "Register a public key with Twilio (Accounts v1 PublicKey) and print its CR… credential SID",
		Long: `register uploads a PEM public key (the public_key.pem keygen wrote, or one
from openssl rsa -pubout) as an Accounts v1 PublicKey credential, the
Console's Account > Credentials > Create Credentials step, and prints the
credential SID (CR…) that services encrypt with. Only the public key is sent;
a private key given by mistake is refused before anything is sent.`,
		Example: `  intelligencefs keys register --public-key public_key.pem --name "intelligencefs prod"`,
		Args:    cmdutil.ExactArgs(0, "no arguments (the key is --public-key)"),
	}
	opts.conn = f.AddConnFlags(cmd, false)
	fl := cmd.Flags()
	fl.StringVar(&opts.publicKey, "public-key", "", "the PEM public key file to register (public_key.pem)")
	fl.StringVar(&opts.name, "name", "", "friendly name of the credential, up to 64 characters (shown in the Console and keys list)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return runRegister(cmd.Context(), f, opts)
	}
	return cmd
}

// runRegister checks the key file locally, then registers it.
func runRegister(ctx context.Context, f *factory.Factory, opts *registerOptions) error {
	pubPath, name := opts.publicKey, opts.name
	if pubPath == "" {
		return cmdutil.Usagef("--public-key is required: the public_key.pem to register")
	}
	if name == "" {
		return cmdutil.Usagef("--name is required: a friendly name for the credential (up to %d characters)", maxFriendlyName)
	}
	if n := utf8.RuneCountInString(name); n > maxFriendlyName {
		return cmdutil.Usagef("--name is %d characters; Twilio allows at most %d", n, maxFriendlyName)
	}
	pemBytes, bits, err := readPublicKeyFile(pubPath)
	if err != nil {
		return err
	}
	c, err := opts.conn.Connect(nil)
	if err != nil {
		return err
	}
	defer c.Client.Close()
	pk, err := c.Client.CreatePublicKey(ctx, name, pemBytes)
	if err != nil {
		return err
	}
	w := f.Stdout
	fmt.Fprintf(w, "Registered %s (RSA %d bits) as credential %s (%q).\n", pubPath, bits, pk.SID, pk.FriendlyName)
	fmt.Fprintln(w)
	fmt.Fprintf(w, "Next: encrypt a service's new transcripts with it:\n")
	fmt.Fprintf(w, "  intelligencefs services encrypt GA…|UNIQUE_NAME --credential %s\n", pk.SID)
	fmt.Fprintf(w, "then decrypt with --private-key %s=PATH/%s (see intelligencefs doctor).\n", pk.SID, crypto.PrivateKeyFileName)
	return nil
}

// readPublicKeyFile reads an RSA public key PEM file and returns it
// re-encoded as the PKIX "PUBLIC KEY" block Twilio takes, with its size. A
// private key is refused without its content ever leaving this function.
func readPublicKeyFile(path string) ([]byte, int, error) {
	f, _, err := crypto.OpenRegularFile(path)
	if errors.Is(err, crypto.ErrNotRegular) {
		return nil, 0, fmt.Errorf("public key %s: not a regular file", path)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("public key: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, 1<<20))
	defer clear(data) // in case it is a private key after all
	if err != nil {
		return nil, 0, fmt.Errorf("public key %s: %w", path, err)
	}
	if bytes.Contains(data, []byte("PRIVATE KEY-----")) {
		return nil, 0, fmt.Errorf("%s holds a private key: register the public key (%s, or openssl rsa -in KEY -pubout); the private key never leaves this machine", path, crypto.PublicKeyFileName)
	}
	pub, err := crypto.ParsePublicKeyPEM(data)
	if err != nil {
		return nil, 0, fmt.Errorf("public key %s: %w", path, err)
	}
	if bits := pub.N.BitLen(); bits < crypto.MinRSABits {
		return nil, 0, fmt.Errorf("public key %s is RSA %d bits: use at least %d (intelligencefs keygen)", path, bits, crypto.MinRSABits)
	}
	out, err := crypto.MarshalPublicKeyPEM(pub)
	if err != nil {
		return nil, 0, fmt.Errorf("public key %s: %w", path, err)
	}
	return out, pub.N.BitLen(), nil
}

// listOptions are the settings of one `keys list`.
type listOptions struct {
	conn   *factory.ConnFlags
	asJSON bool // --json
}

// newListCmd builds `keys list`.
func newListCmd(f *factory.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the account's public key credentials (SID, friendly name, date created)",
		Args:  cmdutil.ExactArgs(0, "no arguments"),
	}
	opts := &listOptions{conn: f.AddConnFlags(cmd, false)}
	cmd.Flags().BoolVar(&opts.asJSON, "json", false, "print a JSON array of the credentials (sid, account_sid, friendly_name, date_created, date_updated, url) instead of the table")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return runList(cmd.Context(), f, opts)
	}
	return cmd
}

// runList lists the credentials as a table, or JSON with --json.
func runList(ctx context.Context, f *factory.Factory, opts *listOptions) error {
	keys, err := factory.FetchList(ctx, opts.conn, (*fetch.Client).ListPublicKeys)
	if err != nil {
		return err
	}
	if opts.asJSON {
		docs := make([]publicKeyJSON, len(keys))
		for i, k := range keys {
			docs[i] = publicKeyJSON{SID: k.SID, AccountSID: k.AccountSID, FriendlyName: k.FriendlyName,
				DateCreated: jsonDate(k.DateCreated), DateUpdated: jsonDate(k.DateUpdated), URL: k.URL}
		}
		return cmdutil.WriteJSON(f.Stdout, docs)
	}
	if len(keys) == 0 {
		fmt.Fprintln(f.Stderr, "No public key credentials yet: register one with intelligencefs keys register.")
		return nil
	}
	rows := make([][]string, 0, len(keys))
	for _, k := range keys {
		rows = append(rows, []string{k.SID, cmdutil.OrDash(k.FriendlyName), cmdutil.FormatDate(k.DateCreated)})
	}
	return cmdutil.WriteTable(f.Stdout, []string{"SID", "FRIENDLY NAME", "CREATED"}, rows)
}

// publicKeyJSON is the PublicKey credential resource as the Accounts API
// names its fields.
type publicKeyJSON struct {
	SID          string  `json:"sid"`
	AccountSID   string  `json:"account_sid"`
	FriendlyName string  `json:"friendly_name"`
	DateCreated  *string `json:"date_created"`
	DateUpdated  *string `json:"date_updated"`
	URL          string  `json:"url"`
}

// jsonDate is t as the API writes dates (RFC 3339, UTC), or null.
func jsonDate(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := t.UTC().Format(time.RFC3339)
	return &s
}
