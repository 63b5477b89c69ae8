package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/intelligencefs/intelligencefs/crypto"
	"github.com/intelligencefs/intelligencefs/fetch"
)

// credentialSIDPattern is the form Twilio gives credential SIDs and the
// Service API's EncryptionCredentialSid accepts.
var credentialSIDPattern = regexp.MustCompile(`^CR[0-9a-fA-F]{32}$`)

// maxFriendlyName is the Accounts API's limit on a PublicKey's FriendlyName.
const maxFriendlyName = 64

// newKeysCmd builds `keys` and its subcommands register and list: the
// Accounts v1 PublicKey credentials Twilio encrypts to.
func (a *app) newKeysCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "Register and list the public keys (Twilio credentials CR…) content is encrypted to",
		Args:  exactArgs(0, "a subcommand (register or list)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return cmd.Help()
		},
	}
	cmd.AddCommand(a.newKeysRegisterCmd(), a.newKeysListCmd())
	return cmd
}

// newKeysRegisterCmd builds `keys register`: step 2 of the set-up.
func (a *app) newKeysRegisterCmd() *cobra.Command {
	var pubPath, name string
	cmd := &cobra.Command{
		Use:   "register --public-key public_key.pem --name NAME",
		Short: "Register a public key with Twilio (Accounts v1 PublicKey) and print its CR… credential SID",
		Long: `register uploads a PEM public key (the public_key.pem keygen wrote, or one
from openssl rsa -pubout) as an Accounts v1 PublicKey credential, the
Console's Account > Credentials > Create Credentials step, and prints the
credential SID (CR…) that services encrypt with. Only the public key is sent;
a private key given by mistake is refused before anything is sent.`,
		Example: `  intelligencefs keys register --public-key public_key.pem --name "intelligencefs prod"`,
		Args:    exactArgs(0, "no arguments (the key is --public-key)"),
	}
	conn := a.addConnFlags(cmd, false)
	f := cmd.Flags()
	f.StringVar(&pubPath, "public-key", "", "the PEM public key file to register (public_key.pem)")
	f.StringVar(&name, "name", "", "friendly name of the credential, up to 64 characters (shown in the Console and keys list)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if pubPath == "" {
			return usagef("--public-key is required: the public_key.pem to register")
		}
		if name == "" {
			return usagef("--name is required: a friendly name for the credential (up to %d characters)", maxFriendlyName)
		}
		if n := utf8.RuneCountInString(name); n > maxFriendlyName {
			return usagef("--name is %d characters; Twilio allows at most %d", n, maxFriendlyName)
		}
		pemBytes, bits, err := readPublicKeyFile(pubPath)
		if err != nil {
			return err
		}
		c, err := conn.connect(nil)
		if err != nil {
			return err
		}
		defer c.Client.Close()
		pk, err := c.Client.CreatePublicKey(cmd.Context(), name, pemBytes)
		if err != nil {
			return err
		}
		w := a.stdout
		fmt.Fprintf(w, "Registered %s (RSA %d bits) as credential %s (%q).\n", pubPath, bits, pk.SID, pk.FriendlyName)
		fmt.Fprintln(w)
		fmt.Fprintf(w, "Next: encrypt a service's new transcripts with it:\n")
		fmt.Fprintf(w, "  intelligencefs services encrypt GA…|UNIQUE_NAME --credential %s\n", pk.SID)
		fmt.Fprintf(w, "then decrypt with --private-key %s=PATH/%s (see intelligencefs doctor).\n", pk.SID, crypto.PrivateKeyFileName)
		return nil
	}
	return cmd
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

// newKeysListCmd builds `keys list`.
func (a *app) newKeysListCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the account's public key credentials (SID, friendly name, date created)",
		Args:  exactArgs(0, "no arguments"),
	}
	conn := a.addConnFlags(cmd, false)
	var asJSON bool
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON array of the credentials (sid, account_sid, friendly_name, date_created, date_updated, url) instead of the table")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		keys, err := fetchList(cmd.Context(), conn, (*fetch.Client).ListPublicKeys)
		if err != nil {
			return err
		}
		if asJSON {
			docs := make([]publicKeyJSON, len(keys))
			for i, k := range keys {
				docs[i] = publicKeyJSON{SID: k.SID, AccountSID: k.AccountSID, FriendlyName: k.FriendlyName,
					DateCreated: jsonDate(k.DateCreated), DateUpdated: jsonDate(k.DateUpdated), URL: k.URL}
			}
			return writeJSON(a.stdout, docs)
		}
		if len(keys) == 0 {
			fmt.Fprintln(a.stderr, "No public key credentials yet: register one with intelligencefs keys register.")
			return nil
		}
		rows := make([][]string, 0, len(keys))
		for _, k := range keys {
			rows = append(rows, []string{k.SID, orDash(k.FriendlyName), formatDate(k.DateCreated)})
		}
		return writeTable(a.stdout, []string{"SID", "FRIENDLY NAME", "CREATED"}, rows)
	}
	return cmd
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

// writeJSON writes v as indented JSON and a newline (--json output).
func writeJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// writeTable writes rows under header in columns aligned with spaces.
func writeTable(w io.Writer, header []string, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

// orDash shows an empty field as "-" so table columns stay aligned.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// formatDate shows a date as RFC 3339 UTC, or "-" when unknown.
func formatDate(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// checkCredentialSID validates a CR… SID locally, before any request.
func checkCredentialSID(flag, sid string) error {
	if sid == "" {
		return usagef("%s is required: the credential SID (CR…) from intelligencefs keys register or keys list", flag)
	}
	if !credentialSIDPattern.MatchString(sid) {
		return usagef("%s must be CR followed by 32 hex digits (see intelligencefs keys list), got %q", flag, truncate(sid, 40))
	}
	return nil
}
