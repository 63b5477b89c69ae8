package factory

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"

	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/cmdutil"
	"github.com/intelligencefs/intelligencefs/crypto"
)

// maxEnvFileSize bounds how much of an env file is read; a real one is a few
// hundred bytes.
const maxEnvFileSize = 64 << 10

// readEnvFile reads an env file (--env-file, -o env_file=): KEY=VALUE lines
// holding the TWILIO_* and INTELLIGENCEFS_* settings, secrets included. The
// file must be a regular file of mode 0600 or stricter owned by the user
// running intelligencefs (on Unix), because it holds the auth token. Errors
// name the file and the line number, never a value.
func readEnvFile(path string) (map[string]string, error) {
	f, fi, err := crypto.OpenRegularFile(path)
	if errors.Is(err, crypto.ErrNotRegular) {
		return nil, fmt.Errorf("env file %s: not a regular file", path)
	}
	if err != nil {
		return nil, fmt.Errorf("env file: %w", err)
	}
	defer f.Close()
	if runtime.GOOS != "windows" {
		if perm := fi.Mode().Perm(); perm&0o077 != 0 {
			return nil, fmt.Errorf("env file %s holds secrets but has mode %04o: run chmod 600 %s", path, perm, path)
		}
		if uid, ok := fileOwner(fi); ok && uid != os.Geteuid() {
			return nil, fmt.Errorf("env file %s is owned by uid %d, not by the user running intelligencefs (uid %d)", path, uid, os.Geteuid())
		}
	}
	data, err := io.ReadAll(io.LimitReader(f, maxEnvFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("env file %s: %w", path, err)
	}
	if len(data) > maxEnvFileSize {
		return nil, fmt.Errorf("env file %s: larger than %d bytes", path, maxEnvFileSize)
	}
	vars, err := parseEnvFile(data)
	clear(data)
	if err != nil {
		return nil, fmt.Errorf("env file %s: %w", path, err)
	}
	return vars, nil
}

// parseEnvFile parses KEY=VALUE lines: blank lines and lines starting with #
// are skipped, an "export " prefix is allowed, a value may be wrapped in
// matching single or double quotes (taken literally, no escapes). Only
// TWILIO_* and INTELLIGENCEFS_* keys are accepted, so a typo or a file meant
// for something else is noticed. Errors never quote a value.
func parseEnvFile(data []byte) (map[string]string, error) {
	vars := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), maxEnvFileSize)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(strings.TrimSuffix(sc.Text(), "\r"))
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		key, value, ok := strings.Cut(line, "=")
		key = strings.TrimSpace(key)
		if !ok || key == "" {
			return nil, fmt.Errorf("line %d: expected KEY=VALUE", n)
		}
		if !validEnvKey(key) {
			return nil, fmt.Errorf("line %d: %q is not a TWILIO_* or INTELLIGENCEFS_* variable", n, cmdutil.Truncate(key, 40))
		}
		value = strings.TrimSpace(value)
		if len(value) >= 2 && (value[0] == '"' || value[0] == '\'') && value[len(value)-1] == value[0] {
			value = value[1 : len(value)-1]
		}
		vars[key] = value
	}
	if err := sc.Err(); err != nil {
		return nil, errors.New("cannot read lines (line too long?)")
	}
	return vars, nil
}

// validEnvKey accepts TWILIO_* and INTELLIGENCEFS_* names made of upper-case
// letters, digits and underscores.
func validEnvKey(k string) bool {
	if !strings.HasPrefix(k, "TWILIO_") && !strings.HasPrefix(k, "INTELLIGENCEFS_") {
		return false
	}
	for _, r := range k {
		if !(r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_') {
			return false
		}
	}
	return true
}
