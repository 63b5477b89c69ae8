package daemon

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
)

// Request is what the parent hands over to the child it starts.
type Request struct {
	// Argv is the command line to run again, as the program got it
	// (argv[0] included); the child runs the same command.
	Argv []string
	// Prompted are the passphrases typed on the parent's terminal, by key
	// path (nil: none).
	Prompted map[string][]byte
	// SecretEnv names the variables that hold secrets (an auth token, an
	// API secret, a key passphrase): they are left out of the child's
	// environment, which /proc/PID/environ shows for the daemon's whole
	// life, and handed over on the pipe instead (Child.Getenv).
	SecretEnv []string
	// Fuse, when set, is an open /dev/fuse descriptor the child serves (a
	// /dev/fd/N mount point); FuseArg is the argument of Argv naming it,
	// which the child sees as FuseFDPath.
	Fuse    *os.File
	FuseArg string
	// Stderr receives the child's log lines until it is ready.
	Stderr io.Writer
}

// Start runs the parent's side: start the child in a new session, hand it
// the passphrases, relay its log lines and wait for its outcome. It returns
// nil once the child said "ready" (the child runs on), an *ExitError when
// it failed or was interrupted by SIGINT, SIGTERM or SIGHUP before that
// (it is stopped), or ctx's error when ctx ended first.
func Start(ctx context.Context, req Request) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("daemon: cannot find my own executable: %w", err)
	}
	args := req.Argv[1:]
	if req.Fuse != nil {
		// The child gets it as fd 5 only (3 and 4 are the pipes, where
		// mount.fuse3's descriptor usually is).
		syscall.CloseOnExec(int(req.Fuse.Fd()))
		args = replaceArg(args, req.FuseArg, FuseFDPath)
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
	cmd.Args[0] = req.Argv[0]
	env, secrets := splitEnv(os.Environ(), req.SecretEnv)
	cmd.Env = append(env, childEnv+"=1")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = devnull, devnull, devnull
	cmd.ExtraFiles = []*os.File{secretsR, statusW} // fds 3 and 4
	if req.Fuse != nil {
		cmd.ExtraFiles = append(cmd.ExtraFiles, req.Fuse) // fd 5
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err = cmd.Start()
	secretsR.Close()
	statusW.Close()
	if err != nil {
		secretsW.Close()
		return fmt.Errorf("daemon: starting the child: %w", err)
	}
	data := encodeSecrets(req.Prompted, secrets)
	_, werr := secretsW.Write(data)
	clear(data)
	secretsW.Close()
	if werr != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return fmt.Errorf("daemon: handing over to the child: %w", werr)
	}

	done := make(chan outcome, 1)
	go func() { done <- readStatus(statusR, req.Stderr) }()

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
			return &ExitError{Code: 1, Msg: fmt.Sprintf("the daemon exited before the mount was ready (%v)", werr)}
		}
		return &ExitError{Code: o.code, Msg: o.msg}
	case <-sig:
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		return &ExitError{Code: 1, Msg: "interrupted before the mount was ready"}
	case <-ctx.Done():
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		return ctx.Err()
	}
}

// outcome is how the child's status pipe ended.
type outcome struct {
	ready bool
	code  int
	msg   string
}

// readStatus reads the child's status lines, writing its log lines to
// logTo, until "ready", "error CODE LINE" or the end of the pipe (a child
// that died: code 1, no line).
func readStatus(r io.Reader, logTo io.Writer) outcome {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "ready":
			return outcome{ready: true}
		case strings.HasPrefix(line, "log "):
			fmt.Fprintln(logTo, line[4:])
		case strings.HasPrefix(line, "error "):
			codeStr, msg, _ := strings.Cut(line[6:], " ")
			code, err := strconv.Atoi(codeStr)
			if err != nil || code == 0 {
				code = 1
			}
			return outcome{code: code, msg: msg}
		}
	}
	return outcome{code: 1}
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
