package main

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/intelligencefs/intelligencefs/crypto"
	"github.com/intelligencefs/intelligencefs/fetch"
	"github.com/intelligencefs/intelligencefs/fetch/record"
)

// newServicesCmd builds `services` and its subcommands list and encrypt.
func (a *app) newServicesCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "services",
		Short: "List Intelligence Services and turn on encryption with your public key",
		Args:  exactArgs(0, "a subcommand (list or encrypt)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return cmd.Help()
		},
	}
	cmd.AddCommand(a.newServicesListCmd(), a.newServicesEncryptCmd())
	return cmd
}

// newServicesListCmd builds `services list`.
func (a *app) newServicesListCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List every Intelligence Service: encryption, auto-redaction, data logging",
		Long: `list shows every Intelligence Service of the account: SID, unique name,
language, whether new transcripts are encrypted and with which credential
(CR…), auto-redaction, and data logging. Where data logging is on, Twilio
keeps a copy of the service's transcripts that is NOT encrypted with your key
(used to train its models); a warning per such service follows the table.`,
		Args: exactArgs(0, "no arguments"),
	}
	conn := a.addConnFlags(cmd, false)
	var asJSON bool
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON array of the Service resources as the API returns them, instead of the table")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		svcs, err := fetchList(cmd.Context(), conn, (*fetch.Client).ListServices)
		if err != nil {
			return err
		}
		if asJSON {
			docs := make([]json.RawMessage, len(svcs))
			for i, s := range svcs {
				docs[i] = s.JSON()
			}
			return writeJSON(a.stdout, docs)
		}
		if len(svcs) == 0 {
			fmt.Fprintln(a.stderr, "No Intelligence Services in this account.")
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
			rows = append(rows, []string{s.SID, orDash(s.UniqueName), orDash(s.LanguageCode), enc, onOff(s.AutoRedaction), dl})
		}
		if err := writeTable(a.stdout, []string{"SID", "UNIQUE NAME", "LANGUAGE", "ENCRYPTION", "AUTO-REDACTION", "DATA LOGGING"}, rows); err != nil {
			return err
		}
		for _, s := range svcs {
			if s.DataLogging {
				fmt.Fprintln(a.stderr, "⚠ "+dataLoggingWarning(s))
			}
		}
		return nil
	}
	return cmd
}

// newServicesEncryptCmd builds `services encrypt`: step 3 of the set-up.
func (a *app) newServicesEncryptCmd() *cobra.Command {
	var credSID string
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
		Args:    exactArgs(1, "one service: its SID (GA…) or unique name"),
	}
	conn := a.addConnFlags(cmd, false)
	cmd.Flags().StringVar(&credSID, "credential", "", "the public key credential SID (CR…) to encrypt with (from keys register or keys list)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := checkCredentialSID("--credential", credSID); err != nil {
			return err
		}
		if args[0] == "" {
			return usagef("the service must be a SID (GA…) or a unique name")
		}
		c, err := conn.connect(nil)
		if err != nil {
			return err
		}
		defer c.Client.Close()
		ctx := cmd.Context()
		before, err := c.Client.FetchService(ctx, args[0])
		if errors.Is(err, record.ErrNotFound) {
			return fmt.Errorf("no Intelligence Service %q in this account (see intelligencefs services list)", args[0])
		}
		if err != nil {
			return err
		}
		w := a.stdout
		fmt.Fprintf(w, "Service %s (%s)\n", before.SID, orDash(before.UniqueName))
		if before.EncryptionCredentialSID == credSID {
			fmt.Fprintf(w, "  encryption: already on with %s; nothing changed.\n", credSID)
			a.warnDataLogging(before)
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
		a.warnDataLogging(after)
		return nil
	}
	return cmd
}

// warnDataLogging prints the data logging warning for s, if it applies.
func (a *app) warnDataLogging(s record.Service) {
	if s.DataLogging {
		fmt.Fprintln(a.stderr, "⚠ "+dataLoggingWarning(s))
	}
}

// dataLoggingWarning is the one-line warning for a service with data
// logging on.
func dataLoggingWarning(s record.Service) string {
	return fmt.Sprintf("service %s (%s): data logging is on: Twilio keeps a copy of its transcripts and operator results that is not encrypted with your key, to train its models; turn Data logging off in the Console (service Settings) or with the Service API (DataLogging=false)",
		orDash(s.UniqueName), s.SID)
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
