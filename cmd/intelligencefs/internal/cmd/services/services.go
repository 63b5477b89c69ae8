// Package services is `services list` and `services encrypt`: the
// account's Intelligence Services, and turning on encryption with a
// registered public key.
package services

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/cmdutil"
	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/factory"
	"github.com/intelligencefs/intelligencefs/crypto"
	"github.com/intelligencefs/intelligencefs/fetch"
	"github.com/intelligencefs/intelligencefs/fetch/record"
)

// NewCmd builds `services` and its subcommands list and encrypt.
func NewCmd(f *factory.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "services",
		Short: "List Intelligence Services and turn on encryption with your public key",
		Args:  cmdutil.ExactArgs(0, "a subcommand (list or encrypt)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return cmd.Help()
		},
	}
	cmd.AddCommand(newListCmd(f), newEncryptCmd(f))
	return cmd
}

// listOptions are the settings of one `services list`.
type listOptions struct {
	conn   *factory.ConnFlags
	asJSON bool // --json
}

// newListCmd builds `services list`.
func newListCmd(f *factory.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List every Intelligence Service: encryption, auto-redaction, data logging",
		Long: `list shows every Intelligence Service of the account: SID, unique name,
language, whether new transcripts are encrypted and with which credential
(CR…), auto-redaction, and data logging. Where data logging is on, Twilio
keeps a copy of the service's transcripts that is NOT encrypted with your key
(used to train its models); a warning per such service follows the table.`,
		Args: cmdutil.ExactArgs(0, "no arguments"),
	}
	opts := &listOptions{conn: f.AddConnFlags(cmd, false)}
	cmd.Flags().BoolVar(&opts.asJSON, "json", false, "print a JSON array of the Service resources as the API returns them, instead of the table")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return runList(cmd.Context(), f, opts)
	}
	return cmd
}

// runList lists the services as a table (data-logging warnings after it),
// or JSON with --json.
func runList(ctx context.Context, f *factory.Factory, opts *listOptions) error {
	svcs, err := factory.FetchList(ctx, opts.conn, (*fetch.Client).ListServices)
	if err != nil {
		return err
	}
	if opts.asJSON {
		docs := make([]json.RawMessage, len(svcs))
		for i, s := range svcs {
			docs[i] = s.JSON()
		}
		return cmdutil.WriteJSON(f.Stdout, docs)
	}
	if len(svcs) == 0 {
		fmt.Fprintln(f.Stderr, "No Intelligence Services in this account.")
		return nil
	}
	rows := make([][]string, 0, len(svcs))
	for _, s := range svcs {
		enc := "off"
		if s.Encrypted() {
			enc = "on " + s.EncryptionCredentialSID
		}
		dl := "off"
		if s.DataLogging {
			dl = "ON ⚠"
		}
		rows = append(rows, []string{s.SID, cmdutil.OrDash(s.UniqueName), cmdutil.OrDash(s.LanguageCode), enc, onOff(s.AutoRedaction), dl})
	}
	if err := cmdutil.WriteTable(f.Stdout, []string{"SID", "UNIQUE NAME", "LANGUAGE", "ENCRYPTION", "AUTO-REDACTION", "DATA LOGGING"}, rows); err != nil {
		return err
	}
	for _, s := range svcs {
		if s.DataLogging {
			fmt.Fprintln(f.Stderr, "⚠ "+DataLoggingWarning(s))
		}
	}
	return nil
}

// encryptOptions are the settings of one `services encrypt`.
type encryptOptions struct {
	conn *factory.ConnFlags
	// credential is --credential (CR…); service the GA… SID or unique name.
	credential, service string
}

// newEncryptCmd builds `services encrypt`: step 3 of the set-up.
func newEncryptCmd(f *factory.Factory) *cobra.Command {
	opts := &encryptOptions{}
	cmd := &cobra.Command{
		Use:   "encrypt GA…|UNIQUE_NAME --credential CR…",
		Short: "Encrypt a service's new transcripts and operator results with a registered public key",
		Long: `encrypt sets the service's EncryptionCredentialSid to the credential (CR…)
that keys register printed, as the Console's service Settings > encryption
public key does. The update is conditional (If-Match with the ETag just
read), so a concurrent change is never overwritten. It prints the setting
before and after.

From then on Twilio encrypts the service's new transcripts and operator
results with that public key; transcripts made before stay as they were.
Switching from one credential to another leaves older transcripts encrypted
with the old one: keep its private key to read them.`,
		Example: `  intelligencefs services encrypt call-centre --credential CR0123456789abcdef0123456789abcdef`,
		Args:    cmdutil.ExactArgs(1, "one service: its SID (GA…) or unique name"),
	}
	opts.conn = f.AddConnFlags(cmd, false)
	cmd.Flags().StringVar(&opts.credential, "credential", "", "the public key credential SID (CR…) to encrypt with (from keys register or keys list)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		opts.service = args[0]
		return runEncrypt(cmd.Context(), f, opts)
	}
	return cmd
}

// runEncrypt sets the service's encryption credential, conditionally on
// the ETag just read, and prints the setting before and after.
func runEncrypt(ctx context.Context, f *factory.Factory, opts *encryptOptions) error {
	credSID, service := opts.credential, opts.service
	if err := checkCredentialSID("--credential", credSID); err != nil {
		return err
	}
	if service == "" {
		return cmdutil.Usagef("the service must be a SID (GA…) or a unique name")
	}
	c, err := opts.conn.Connect(nil)
	if err != nil {
		return err
	}
	defer c.Client.Close()
	before, err := c.Client.FetchService(ctx, service)
	if errors.Is(err, record.ErrNotFound) {
		return fmt.Errorf("no Intelligence Service %q in this account (see intelligencefs services list)", service)
	}
	if err != nil {
		return err
	}
	w := f.Stdout
	fmt.Fprintf(w, "Service %s (%s)\n", before.SID, cmdutil.OrDash(before.UniqueName))
	if before.EncryptionCredentialSID == credSID {
		fmt.Fprintf(w, "  encryption: already on with %s; nothing changed.\n", credSID)
		warnDataLogging(f, before)
		return nil
	}
	after, err := c.Client.UpdateServiceEncryption(ctx, before.SID, credSID, before.ETag)
	if errors.Is(err, record.ErrConflict) {
		return fmt.Errorf("service %s changed while it was being updated (ETag mismatch); nothing was changed: run the command again", before.SID)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "  encryption before: %s\n", encryptionState(before))
	fmt.Fprintf(w, "  encryption after:  %s\n", encryptionState(after))
	if after.EncryptionCredentialSID != credSID {
		return fmt.Errorf("Twilio answered the update but the service's credential is %q, not %s", after.EncryptionCredentialSID, credSID)
	}
	fmt.Fprintf(w, "New transcripts and operator results of this service are encrypted with %s; earlier ones stay as they were.\n", credSID)
	if before.Encrypted() {
		fmt.Fprintf(w, "Transcripts encrypted before now still need the private key of %s: keep it and pass it too (--private-key %s=PATH).\n", before.EncryptionCredentialSID, before.EncryptionCredentialSID)
	}
	fmt.Fprintf(w, "Decrypt with: --private-key %s=PATH/%s; check the set-up with intelligencefs doctor.\n", credSID, crypto.PrivateKeyFileName)
	warnDataLogging(f, after)
	return nil
}

// warnDataLogging prints the data logging warning for s, if it applies.
func warnDataLogging(f *factory.Factory, s record.Service) {
	if s.DataLogging {
		fmt.Fprintln(f.Stderr, "⚠ "+DataLoggingWarning(s))
	}
}

// DataLoggingWarning is the one-line warning for a service with data
// logging on (services list and doctor print it).
func DataLoggingWarning(s record.Service) string {
	return fmt.Sprintf("service %s (%s): data logging is on: Twilio keeps a copy of its transcripts and operator results that is not encrypted with your key, to train its models; turn Data logging off in the Console (service Settings) or with the Service API (DataLogging=false)",
		cmdutil.OrDash(s.UniqueName), s.SID)
}

// encryptionState describes a service's encryption setting.
func encryptionState(s record.Service) string {
	if s.Encrypted() {
		return "on, credential " + s.EncryptionCredentialSID
	}
	return "off (Twilio's default encryption at rest only)"
}

// onOff renders a boolean setting.
func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// checkCredentialSID validates a CR… SID locally, before any request.
func checkCredentialSID(flag, sid string) error {
	if sid == "" {
		return cmdutil.Usagef("%s is required: the credential SID (CR…) from intelligencefs keys register or keys list", flag)
	}
	if !record.IsSID(sid, "CR") {
		return cmdutil.Usagef("%s must be CR followed by 32 hex digits (see intelligencefs keys list), got %q", flag, cmdutil.Truncate(sid, 40))
	}
	return nil
}
