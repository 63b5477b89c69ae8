// Package daemon detaches a mount from the terminal that started it, without
// letting the command return before the mount is there.
//
// The parent (mount --daemon, or the fstab form without -f) checks what it
// can (flags, credentials, keys, prompting for passphrases on its terminal),
// then Start re-executes the program as a child in a new session with two or
// three extra descriptors:
//
//	fd 3: read end of a pipe carrying the passphrases the parent prompted
//	      for and the secret environment variables (Request.SecretEnv:
//	      never argv or environment, which /proc/PID/environ shows for the
//	      daemon's whole life; the child's environment lacks them)
//	fd 4: write end of a status pipe: "log LINE" lines while mounting,
//	      then "ready", or "error CODE LINE"
//	fd 5: with a /dev/fd/N mount point (mount.fuse3 -o drop_privileges
//	      mounted /dev/fuse and passed us descriptor N), that descriptor;
//	      the child's argv says /dev/fd/5 instead
//
// The child finds its end with InitChild, relays its log lines through
// Child.LogWriter, and ends the hand-over with Child.Ready or Child.Fail.
// The parent relays the log lines to its stderr and returns nil on "ready",
// or an *ExitError with the child's status and error line otherwise.
package daemon

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
)

// The hand-over's constants: the variable that marks the child, its
// descriptors, and the most passphrase bytes a child reads.
const (
	childEnv   = "_INTELLIGENCEFS_DAEMON_CHILD"
	secretsFD  = 3
	statusFD   = 4
	fuseFD     = 5
	maxSecrets = 1 << 20
)

// FuseFDPath is the mount point the child is given in place of the
// parent's /dev/fd/N one.
const FuseFDPath = "/dev/fd/5"

// ExitError is a child that did not get to "ready": the status the parent
// should exit with and the line to print (empty: print nothing).
type ExitError struct {
	Code int
	Msg  string
}

func (e *ExitError) Error() string { return e.Msg }

// Child is the daemon child's end of the hand-over.
type Child struct {
	passphrases map[string][]byte // by key path, as the parent prompted them
	env         map[string]string // the secret variables, by name

	mu     sync.Mutex
	status io.WriteCloser // nil once "ready" or "error" was sent
}

// Passphrases are the passphrases the parent prompted for, by key path.
// Ready zeroes them.
func (c *Child) Passphrases() map[string][]byte { return c.passphrases }

// Getenv reads a variable as the child's command must see it: a secret
// the parent handed over, else getenv (the environment). A nil Child
// (not the daemon child) reads getenv alone.
func (c *Child) Getenv(getenv func(string) string) func(string) string {
	if c == nil || len(c.env) == 0 {
		return getenv
	}
	return func(name string) string {
		if v, ok := c.env[name]; ok {
			return v
		}
		return getenv(name)
	}
}

// send writes one status line to the parent, if it still listens.
func (c *Child) send(line string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.status != nil {
		_, _ = io.WriteString(c.status, line+"\n")
	}
}

// finish sends the last status line and closes the pipe.
func (c *Child) finish(line string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.status != nil {
		_, _ = io.WriteString(c.status, line+"\n")
		c.status.Close()
		c.status = nil
	}
}

// listening reports whether the parent still waits.
func (c *Child) listening() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.status != nil
}

// Ready tells the parent the mount is up (it exits 0) and zeroes the
// passphrases it handed over.
func (c *Child) Ready() {
	for k, v := range c.passphrases {
		clear(v)
		delete(c.passphrases, k)
	}
	c.finish("ready")
}

// Fail tells the parent the mount failed before it was ready: the parent
// exits with code and prints line (one line; newlines are folded).
func (c *Child) Fail(code int, line string) {
	if code == 0 {
		code = 1
	}
	c.finish(fmt.Sprintf("error %d %s", code, strings.Join(strings.Fields(line), " ")))
}

// LogWriter is where the child's logger writes: to the parent, line by
// line, until Ready or Fail; then to after.
func (c *Child) LogWriter(after io.Writer) io.Writer {
	return &relayWriter{child: c, after: after}
}

// relayWriter sends what a logger writes to the daemon parent until the
// mount is ready, then to after.
type relayWriter struct {
	child *Child
	after io.Writer
}

func (w *relayWriter) Write(p []byte) (int, error) {
	if w.child.listening() {
		for _, line := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
			w.child.send("log " + line)
		}
		return len(p), nil
	}
	return w.after.Write(p)
}

// The kinds of hand-over entries: a passphrase by key path, a secret
// variable by name.
const (
	kindPassphrase = 'p'
	kindEnv        = 'e'
)

// encodeSecrets frames the hand-over: for each passphrase and each
// variable, a 4-byte big-endian length and the kind byte plus the key
// (path or name), then the same for the value.
func encodeSecrets(passphrases map[string][]byte, env map[string]string) []byte {
	var b []byte
	put := func(kind byte, k string, v []byte) {
		b = binary.BigEndian.AppendUint32(b, uint32(len(k)+1))
		b = append(b, kind)
		b = append(b, k...)
		b = binary.BigEndian.AppendUint32(b, uint32(len(v)))
		b = append(b, v...)
	}
	for k, v := range passphrases {
		put(kindPassphrase, k, v)
	}
	for k, v := range env {
		put(kindEnv, k, []byte(v))
	}
	return b
}

// decodeSecrets undoes encodeSecrets; the values are copies the caller owns.
func decodeSecrets(b []byte) (map[string][]byte, map[string]string, error) {
	pw, env := map[string][]byte{}, map[string]string{}
	next := func() ([]byte, bool) {
		if len(b) < 4 {
			return nil, false
		}
		n := binary.BigEndian.Uint32(b)
		if uint64(n) > uint64(len(b)-4) {
			return nil, false
		}
		v := b[4 : 4+n]
		b = b[4+n:]
		return v, true
	}
	for len(b) > 0 {
		k, ok1 := next()
		v, ok2 := next()
		if !ok1 || !ok2 || len(k) == 0 {
			return nil, nil, errors.New("daemon: garbled hand-over from the parent")
		}
		switch k[0] {
		case kindPassphrase:
			pw[string(k[1:])] = append([]byte(nil), v...)
		case kindEnv:
			env[string(k[1:])] = string(v)
		default:
			return nil, nil, errors.New("daemon: garbled hand-over from the parent")
		}
	}
	return pw, env, nil
}

// newChild reads the passphrases from secrets (closing nothing) and keeps
// status for the hand-over's status lines.
func newChild(secrets io.Reader, status io.WriteCloser) (*Child, error) {
	data, err := io.ReadAll(io.LimitReader(secrets, maxSecrets))
	if err != nil {
		return nil, fmt.Errorf("daemon: reading from the parent: %w", err)
	}
	pw, env, err := decodeSecrets(data)
	clear(data)
	if err != nil {
		return nil, err
	}
	return &Child{passphrases: pw, env: env, status: status}, nil
}

// splitEnv separates environ ("NAME=value" entries) into what the child
// inherits and the secret variables named in secret, by name.
func splitEnv(environ, secret []string) (rest []string, secrets map[string]string) {
	secrets = map[string]string{}
	for _, kv := range environ {
		name, value, _ := strings.Cut(kv, "=")
		if slices.Contains(secret, name) {
			secrets[name] = value
			continue
		}
		rest = append(rest, kv)
	}
	return rest, secrets
}
