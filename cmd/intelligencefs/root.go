package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"

	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/daemon"
)

// app is what every command is handed: the process's standard streams and
// environment. Commands read nothing global, so tests can run them
// in-process and the daemon child can be given different streams.
type app struct {
	stdin  *os.File
	stdout io.Writer
	stderr io.Writer
	// getenv reads the process environment (os.Getenv outside tests).
	getenv func(string) string
	// argv is the command line as the program got it; the daemon re-executes
	// itself with it.
	argv []string
	// child is set in the daemon child: its pipes to the waiting parent.
	child *daemon.Child
}

// usageError is a mistake in how the program was invoked (a bad flag,
// missing arguments, missing credentials): exit status 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// usagef returns a usageError with a formatted message.
func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// exitCodeError ends the program with a given status and, if msg is not
// empty, that line (the daemon parent relays its child's outcome this way).
type exitCodeError struct {
	code int
	msg  string
}

func (e exitCodeError) Error() string { return e.msg }

// run is the whole program: argv as os.Args gives it (argv[0] is the name it
// was invoked by). It returns the exit status: 0 on success, 2 for a usage
// error, 1 for any other failure, reported as one line on stderr.
func run(ctx context.Context, argv []string, stdin *os.File, stdout, stderr io.Writer) int {
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr, getenv: os.Getenv, argv: argv}
	child, err := daemon.InitChild(a.getenv)
	if err != nil {
		return a.report(err)
	}
	a.child = child
	err = a.execute(ctx, argv)
	if a.child != nil && err != nil {
		// Relay a failure before readiness to the waiting parent.
		a.child.Fail(exitCode(err), oneLine(errorLine(err)))
	}
	return a.report(err)
}

// execute dispatches argv to the fstab form or to the cobra command tree.
func (a *app) execute(ctx context.Context, argv []string) error {
	name, args := "intelligencefs", []string(nil)
	if len(argv) > 0 {
		name, args = argv[0], argv[1:]
	}
	root := a.newRootCmd()
	if isFstabForm(name, args, commandNames(root)) {
		return a.runFstab(ctx, args)
	}
	root.SetArgs(args)
	return root.ExecuteContext(ctx)
}

// report prints err as one line and returns the exit status for it.
func (a *app) report(err error) int {
	if err == nil {
		return 0
	}
	if line := errorLine(err); line != "" {
		fmt.Fprintln(a.stderr, "intelligencefs: "+oneLine(line))
	}
	return exitCode(err)
}

// exitCode maps an error to the exit status: 2 for usage errors, the
// carried status for exitCodeError, 1 otherwise.
func exitCode(err error) int {
	var ec exitCodeError
	if errors.As(err, &ec) {
		return ec.code
	}
	var ue usageError
	if errors.As(err, &ue) {
		return 2
	}
	return 1
}

// errorLine is the message printed for err (empty: print nothing).
func errorLine(err error) string {
	var ec exitCodeError
	if errors.As(err, &ec) {
		return ec.msg
	}
	return err.Error()
}

// oneLine folds a message onto a single line, so every failure is exactly
// one line on stderr whatever a library put in its error.
func oneLine(s string) string {
	s = strings.TrimSpace(s)
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", "; ")), " ")
}

// newRootCmd builds the command tree.
func (a *app) newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "intelligencefs",
		Short: "Mount Twilio Conversational Intelligence transcripts as read-only files, decrypted in memory",
		Long: `intelligencefs mounts a Twilio account's Conversational Intelligence data
(services, transcripts, sentences, operator results) as a read-only
filesystem. Transcripts that Twilio encrypted with your public key are
fetched and decrypted lazily, on read; the plaintext lives only in memory.

The mount.fuse3 / fstab form is also accepted:
  intelligencefs SOURCE MOUNTPOINT -o OPTS`,
		Version:       version(),
		SilenceErrors: true,
		SilenceUsage:  true,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("unknown command %q (see intelligencefs --help)", args[0])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return cmd.Help()
		},
	}
	root.SetIn(a.stdin)
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return usageError{err}
	})
	root.SetVersionTemplate("intelligencefs {{.Version}}\n")
	root.AddCommand(a.subcommands()...)
	return root
}

// subcommands are every command of the program, listed here rather than
// registered from each file's init, so the whole command set reads in one
// place and builds in a known order (--help sorts them by name anyway).
func (a *app) subcommands() []*cobra.Command {
	return []*cobra.Command{
		// The mount and what stands in for it without FUSE.
		a.newMountCmd(),
		a.newDemoCmd(),
		a.newServeCmd(),
		// One transcript, or all of them, without a mount.
		a.newCatCmd(),
		a.newSearchCmd(),
		a.newDecryptCmd(),
		// Setting the account up and checking it.
		a.newKeygenCmd(),
		a.newKeysCmd(),
		a.newServicesCmd(),
		a.newTranscriptsCmd(),
		a.newDoctorCmd(),
		a.newSealedCacheCmd(),
		// About the program itself.
		a.newManCmd(),
		a.newVersionCmd(),
	}
}

// commandNames lists the names and aliases of root's subcommands, plus
// cobra's own (help, completion and its hidden completion helpers).
func commandNames(root *cobra.Command) map[string]bool {
	names := map[string]bool{
		"help": true, "completion": true,
		cobra.ShellCompRequestCmd: true, cobra.ShellCompNoDescRequestCmd: true,
	}
	for _, c := range root.Commands() {
		names[c.Name()] = true
		for _, al := range c.Aliases {
			names[al] = true
		}
	}
	return names
}

// version reports the module version and VCS revision the binary was built
// from, as far as the build recorded them: "v1.2.3 (module
// github.com/…, revision 0123456789ab, modified, go1.26.8)". A `go build`
// from a checkout says "(devel)" with the revision; `go install …@v1.2.3`
// the version without one.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown (no build information)"
	}
	v := bi.Main.Version
	if v == "" {
		v = "(devel)"
	}
	details := []string{}
	if bi.Main.Path != "" {
		details = append(details, "module "+bi.Main.Path)
	}
	for _, s := range bi.Settings {
		switch {
		case s.Key == "vcs.revision" && len(s.Value) >= 12:
			details = append(details, "revision "+s.Value[:12])
		case s.Key == "vcs.modified" && s.Value == "true":
			details = append(details, "modified")
		}
	}
	details = append(details, bi.GoVersion)
	return v + " (" + strings.Join(details, ", ") + ")"
}

// newVersionCmd builds `version`: what --version prints, as a command.
func (a *app) newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, module and VCS revision this binary was built from",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := fmt.Fprintln(a.stdout, "intelligencefs "+version())
			return err
		},
	}
}

// exactArgs is cobra.ExactArgs with a usage error naming what is expected.
func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usagef("%s expects %s (got %d argument(s)); see %s --help", cmd.CommandPath(), what, len(args), cmd.CommandPath())
		}
		return nil
	}
}
