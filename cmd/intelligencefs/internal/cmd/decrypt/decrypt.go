// Package decrypt is `decrypt`: one encrypted object downloaded from
// Twilio's presigned location, opened with a private key the way Twilio's
// documentation describes, without FUSE or network.
package decrypt

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/cmdutil"
	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/factory"
	"github.com/intelligencefs/intelligencefs/crypto"
)

// maxEncryptedFileSize bounds the encrypted object decrypt reads into memory.
const maxEncryptedFileSize = 1 << 30

// Options are the settings of one `decrypt`.
type Options struct {
	// Keys are the --private-key flags.
	Keys *factory.KeyOptions
	// WrappedKey and IV are --encrypted-key and --iv (base64), or Headers
	// names a header dump holding both.
	WrappedKey, IV, Headers string
	// Output is -o: the file to write the plaintext to ("" for stdout).
	Output string
	// Input is the encrypted body's file, "-" for stdin.
	Input string
}

// NewCmd builds `decrypt`: one encrypted object, decrypted the way
// Twilio's documentation describes, without FUSE or network.
func NewCmd(f *factory.Factory) *cobra.Command {
	opts := &Options{}
	cmd := &cobra.Command{
		Use:   "decrypt --private-key PATH (--encrypted-key B64 --iv B64 | --headers FILE) [-o OUT] FILE",
		Short: "Decrypt one encrypted object downloaded from Twilio's presigned location",
		Long: `decrypt opens one object that Twilio sealed with your public key: FILE is the
body downloaded from an encrypted Sentences or OperatorResults location
("-" reads stdin); the wrapped content key and IV are the response headers
x-amz-meta-x-amz-key and x-amz-meta-x-amz-iv, given as flags or read from a
header dump saved with curl -D FILE.

The plaintext goes to stdout, or to OUT, written with mode 0600 and
atomically: OUT appears complete or not at all. Nothing is written unless
the content authenticates.`,
		Example: `  curl -sS -D headers.txt -o body.bin "$LOCATION"
  intelligencefs decrypt --private-key private_key.pem --headers headers.txt body.bin | jq .`,
		Args: cmdutil.ExactArgs(1, "one FILE (the encrypted body, or - for stdin)"),
	}
	opts.Keys = f.AddKeyFlags(cmd.Flags())
	fs := cmd.Flags()
	fs.StringVar(&opts.WrappedKey, "encrypted-key", "", "the wrapped content key, base64 (header "+crypto.HeaderWrappedKey+")")
	fs.StringVar(&opts.IV, "iv", "", "the IV, base64 (header "+crypto.HeaderIV+")")
	fs.StringVar(&opts.Headers, "headers", "", "read both values from a response header dump (curl -D FILE)")
	fs.StringVarP(&opts.Output, "output", "o", "", "write the plaintext to this file (mode 0600, atomically) instead of stdout")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		opts.Input = args[0]
		return run(f, opts)
	}
	return cmd
}

// run decrypts opts.Input and writes the plaintext to f.Stdout or
// opts.Output, only once it authenticated.
func run(f *factory.Factory, opts *Options) error {
	keys := opts.Keys
	wrappedKey, iv, headers, out := opts.WrappedKey, opts.IV, opts.Headers, opts.Output
	if len(keys.PrivateKeys) == 0 {
		return cmdutil.Usagef("decrypt needs --private-key PATH")
	}
	if headers != "" && (wrappedKey != "" || iv != "") {
		return cmdutil.Usagef("decrypt takes either --headers FILE or --encrypted-key B64 --iv B64, not both")
	}
	if headers != "" {
		data, err := os.ReadFile(headers)
		if err != nil {
			return fmt.Errorf("headers: %w", err)
		}
		hk, hiv, err := parseEnvelopeHeaders(data)
		if err != nil {
			return fmt.Errorf("headers file %s: %w", headers, err)
		}
		wrappedKey, iv = hk, hiv
	}
	if wrappedKey == "" || iv == "" {
		return cmdutil.Usagef("decrypt needs the wrapped key and IV: --encrypted-key B64 --iv B64, or --headers FILE")
	}
	body, err := readBody(opts.Input, f.Stdin)
	if err != nil {
		return err
	}
	env, err := crypto.ParseEnvelope(wrappedKey, iv, body)
	if err != nil {
		return err
	}
	// Keys are tried in turn (a CR…= binding means nothing here: the
	// object does not say which credential sealed it).
	for i, v := range keys.PrivateKeys {
		if s, err := factory.ParseKeySpec(v); err == nil {
			keys.PrivateKeys[i] = s.Path
		}
	}
	ring, _, err := factory.LoadKeyring(keys)
	if err != nil {
		return err
	}
	defer ring.Zero()
	plain, err := ring.Open("", env, make([]byte, 0, max(env.PlaintextLen(), 0)))
	if err != nil {
		return decryptError(err)
	}
	defer clear(plain)
	if out == "" {
		if _, err := f.Stdout.Write(plain); err != nil {
			return fmt.Errorf("writing to stdout: %w", err)
		}
		return nil
	}
	return writeFileAtomic(out, plain, 0o600)
}

// decryptError says what a failed Open means for someone holding one file.
func decryptError(err error) error {
	switch {
	case errors.Is(err, crypto.ErrUnwrap):
		return errors.New("cannot unwrap the content key: the private key does not match the public key that sealed this object, or the encrypted key is damaged")
	case errors.Is(err, crypto.ErrAuth):
		return errors.New("the content failed authentication: the body, IV or encrypted key do not belong together or were altered (nothing written)")
	}
	return err
}

// readBody reads the encrypted body from path, or stdin for "-".
func readBody(path string, stdin io.Reader) ([]byte, error) {
	var r io.Reader = stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	body, err := io.ReadAll(io.LimitReader(r, maxEncryptedFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if len(body) > maxEncryptedFileSize {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, maxEncryptedFileSize)
	}
	if len(body) == 0 {
		return nil, fmt.Errorf("%s is empty: expected the encrypted body (ciphertext and tag)", path)
	}
	return body, nil
}

// parseEnvelopeHeaders finds the wrapped key and IV in an HTTP response
// header dump such as `curl -D` writes: "Name: value" lines, names
// case-insensitive, CRLF or LF endings. When the dump holds several
// responses (redirects), the last value wins. Errors never quote a value.
func parseEnvelopeHeaders(data []byte) (wrappedKey, iv string, err error) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		value = strings.TrimSpace(value)
		switch strings.ToLower(strings.TrimSpace(name)) {
		case crypto.HeaderWrappedKey:
			wrappedKey = value
		case crypto.HeaderIV:
			iv = value
		}
	}
	if sc.Err() != nil {
		return "", "", errors.New("cannot read header lines (line too long?)")
	}
	var missing []string
	if wrappedKey == "" {
		missing = append(missing, crypto.HeaderWrappedKey)
	}
	if iv == "" {
		missing = append(missing, crypto.HeaderIV)
	}
	if len(missing) > 0 {
		return "", "", fmt.Errorf("no %s header (was it saved with curl -D?)", strings.Join(missing, " or "))
	}
	return wrappedKey, iv, nil
}

// writeFileAtomic writes data to path with mode perm so that path holds
// either its old content or all of data, never a part: a temporary file in
// the same directory, fsync, rename, then fsync of the directory. On any
// failure the temporary file is removed.
func writeFileAtomic(path string, data []byte, perm os.FileMode) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("output: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err = tmp.Chmod(perm); err != nil {
		return fmt.Errorf("output: %w", err)
	}
	if _, err = tmp.Write(data); err != nil {
		return fmt.Errorf("output: %w", err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("output: %w", err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("output: %w", err)
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("output: %w", err)
	}
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync() // best effort: not every filesystem syncs directories
		d.Close()
	}
	return nil
}
