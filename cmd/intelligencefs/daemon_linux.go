//go:build linux

package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// The daemon: the parent (mount --daemon, or the fstab form without -f)
// checks what it can (flags, credentials, keys, prompting for passphrases on
// its terminal), then re-executes itself as a child in a new session with
// two extra descriptors:
//
//	fd 3: read end of a pipe carrying the passphrases the parent prompted
//	      for (never argv or environment, which other users can read)
//	fd 4: write end of a status pipe: "log LINE" lines while mounting,
//	      then "ready", or "error CODE LINE"
//	fd 5: with a /dev/fd/N mount point (mount.fuse3 -o drop_privileges
//	      mounted /dev/fuse and passed us descriptor N), that descriptor;
//	      the child's argv says /dev/fd/5 instead
//
// The parent relays the log lines to its stderr and exits 0 on "ready", or
// with the child's status and error line otherwise.
const (
	daemonChildEnv   = "_INTELLIGENCEFS_DAEMON_CHILD"
	daemonSecretsFD  = 3
	daemonStatusFD   = 4
	daemonFuseFD     = 5
	maxDaemonSecrets = 1 << 20
)

// daemonChild is the child's end of the hand-over.
type daemonChild struct {
	passphrases map[string][]byte // by key path, as the parent prompted them

	mu     sync.Mutex
	status *os.File // nil once "ready" or "error" was sent
}

// initDaemonChild recognises the daemon child (by the variable the parent
// sets), reads the passphrases and keeps the status pipe. It returns nil in
// any other process.
func (a *app) initDaemonChild() (*daemonChild, error) {
	if a.getenv(daemonChildEnv) != "1" {
		return nil, nil
	}
	os.Unsetenv(daemonChildEnv) // not for fusermount3 or anything we start
	secrets := os.NewFile(daemonSecretsFD, "daemon-secrets")
	status := os.NewFile(daemonStatusFD, "daemon-status")
	if secrets == nil || status == nil {
		return nil, errors.New("started as a daemon child without its pipes")
	}
	syscall.CloseOnExec(daemonSecretsFD)
	syscall.CloseOnExec(daemonStatusFD)
	data, err := io.ReadAll(io.LimitReader(secrets, maxDaemonSecrets))
	secrets.Close()
	if err != nil {
		return nil, fmt.Errorf("daemon: reading from the parent: %w", err)
	}
	pw, err := decodeSecrets(data)
	clear(data)
	if err != nil {
		return nil, err
	}
	return &daemonChild{passphrases: pw, status: status}, nil
}

// send writes one status line to the parent, if it still listens.
func (d *daemonChild) send(line string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.status != nil {
		_, _ = io.WriteString(d.status, line+"\n")
	}
}

// finish sends the last status line and closes the pipe.
func (d *daemonChild) finish(line string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.status != nil {
		_, _ = io.WriteString(d.status, line+"\n")
		d.status.Close()
		d.status = nil
	}
}

// listening reports whether the parent still waits.
func (d *daemonChild) listening() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.status != nil
}

// ready tells the parent the mount is up; it exits 0.
func (d *daemonChild) ready() {
	for k, v := range d.passphrases {
		clear(v)
		delete(d.passphrases, k)
	}
	d.finish("ready")
}

// daemonChildFailed relays a failure before readiness to the parent.
func (a *app) daemonChildFailed(err error) {
	if a.child == nil || err == nil {
		return
	}
	a.child.finish("error " + strconv.Itoa(exitCode(err)) + " " + oneLine(errorLine(err)))
}

// relayWriter sends what a logger writes to the daemon parent until the
// mount is ready, then to after.
type relayWriter struct {
	child *daemonChild
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

// daemonize runs the parent's side: check, start the child, relay its
// status. prompted are the passphrases typed on the parent's terminal;
// mountPoint is the mount point as given (a /dev/fd/N one is handed on).
func (a *app) daemonize(ctx context.Context, prompted map[string][]byte, mountPoint string) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("daemon: cannot find my own executable: %w", err)
	}
	args := a.argv[1:]
	var fuseFile *os.File
	if isFDMountPoint(mountPoint) {
		fd, err := fdMountPoint(mountPoint)
		if err != nil {
			return err
		}
		// The child gets it as fd 5 only (3 and 4 are the pipes, where
		// mount.fuse3's descriptor usually is).
		syscall.CloseOnExec(fd)
		fuseFile = os.NewFile(uintptr(fd), mountPoint)
		args = replaceArg(args, mountPoint, "/dev/fd/"+strconv.Itoa(daemonFuseFD))
	}
	secretsR, secretsW, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("daemon: %w", err)
	}
	statusR, statusW, err := os.Pipe()
	if err != nil {
		secretsR.Close()
		secretsW.Close()
		return fmt.Errorf("daemon: %w", err)
	}
	defer statusR.Close()
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("daemon: %w", err)
	}
	defer devnull.Close()

	cmd := exec.Command(exe, args...)
	cmd.Args[0] = a.argv[0]
	cmd.Env = append(os.Environ(), daemonChildEnv+"=1")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = devnull, devnull, devnull
	cmd.ExtraFiles = []*os.File{secretsR, statusW} // fds 3 and 4
	if fuseFile != nil {
		cmd.ExtraFiles = append(cmd.ExtraFiles, fuseFile) // fd 5
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err = cmd.Start()
	secretsR.Close()
	statusW.Close()
	if err != nil {
		secretsW.Close()
		return fmt.Errorf("daemon: starting the child: %w", err)
	}
	data := encodeSecrets(prompted)
	_, werr := secretsW.Write(data)
	clear(data)
	secretsW.Close()
	if werr != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return fmt.Errorf("daemon: handing over to the child: %w", werr)
	}

	type outcome struct {
		ready bool
		code  int
		msg   string
	}
	done := make(chan outcome, 1)
	go func() {
		sc := bufio.NewScanner(statusR)
		sc.Buffer(make([]byte, 0, 4096), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "ready":
				done <- outcome{ready: true}
				return
			case strings.HasPrefix(line, "log "):
				fmt.Fprintln(a.stderr, line[4:])
			case strings.HasPrefix(line, "error "):
				codeStr, msg, _ := strings.Cut(line[6:], " ")
				code, err := strconv.Atoi(codeStr)
				if err != nil || code == 0 {
					code = 1
				}
				done <- outcome{code: code, msg: msg}
				return
			}
		}
		done <- outcome{code: 1}
	}()

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sig)
	select {
	case o := <-done:
		if o.ready {
			_ = cmd.Process.Release()
			return nil
		}
		werr := cmd.Wait()
		if o.msg == "" {
			return exitCodeError{code: 1, msg: fmt.Sprintf("the daemon exited before the mount was ready (%v)", werr)}
		}
		return exitCodeError{code: o.code, msg: o.msg}
	case <-sig:
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		return exitCodeError{code: 1, msg: "interrupted before the mount was ready"}
	case <-ctx.Done():
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		return ctx.Err()
	}
}

// replaceArg returns a copy of args with every argument equal to old
// replaced by new.
func replaceArg(args []string, old, new string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if a == old {
			a = new
		}
		out[i] = a
	}
	return out
}

// encodeSecrets frames path/passphrase pairs: for each, a 4-byte big-endian
// length and the path, then the same for the passphrase.
func encodeSecrets(m map[string][]byte) []byte {
	var b []byte
	for k, v := range m {
		b = binary.BigEndian.AppendUint32(b, uint32(len(k)))
		b = append(b, k...)
		b = binary.BigEndian.AppendUint32(b, uint32(len(v)))
		b = append(b, v...)
	}
	return b
}

// decodeSecrets undoes encodeSecrets; the values are copies the caller owns.
func decodeSecrets(b []byte) (map[string][]byte, error) {
	m := map[string][]byte{}
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
		if !ok1 || !ok2 {
			return nil, errors.New("daemon: garbled hand-over from the parent")
		}
		m[string(k)] = append([]byte(nil), v...)
	}
	return m, nil
}
