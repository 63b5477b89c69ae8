// Package root is the intelligencefs command tree: Run dispatches argv to
// the fstab form (package mountopts, then mount) or to the cobra commands,
// one package each under internal/cmd, and turns the outcome into the exit
// status and at most one line on stderr.
package root

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"

	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/cmd/cat"
	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/cmd/decrypt"
	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/cmd/demo"
	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/cmd/doctor"
	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/cmd/keygen"
	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/cmd/keys"
	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/cmd/man"
	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/cmd/mount"
	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/cmd/sealedcache"
	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/cmd/search"
	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/cmd/serve"
	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/cmd/services"
	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/cmd/transcripts"
	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/cmdutil"
	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/daemon"
	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/factory"
	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/mountopts"
)

// Run is the whole program: argv as os.Args gives it (argv[0] is the name it
// was invoked by). It returns the exit status: 0 on success, 2 for a usage
// error, 1 for any other failure, reported as one line on stderr.
func Run(ctx context.Context, argv []string, stdin *os.File, stdout, stderr io.Writer) int {
	f := &factory.Factory{Stdin: stdin, Stdout: stdout, Stderr: stderr, Getenv: os.Getenv, Argv: argv}
	child, err := daemon.InitChild(f.Getenv)
	if err != nil {
		return report(f, err)
	}
	f.Child = child
	// The daemon child's secrets came over the pipe, not the environment.
	f.Getenv = child.Getenv(f.Getenv)
	err = execute(ctx, f, argv)
	if f.Child != nil && err != nil {
		// Relay a failure before readiness to the waiting parent.
		f.Child.Fail(cmdutil.ExitCode(err), cmdutil.OneLine(cmdutil.ErrorLine(err)))
	}
	return report(f, err)
}

// execute dispatches argv to the fstab form or to the cobra command tree.
func execute(ctx context.Context, f *factory.Factory, argv []string) error {
	name, args := "intelligencefs", []string(nil)
	if len(argv) > 0 {
		name, args = argv[0], argv[1:]
	}
	root := NewCmd(f)
	if mountopts.IsFstabForm(name, args, commandNames(root)) {
		return mount.RunFstab(ctx, f, args)
	}
	root.SetArgs(args)
	return root.ExecuteContext(ctx)
}

// report prints err as one line and returns the exit status for it.
func report(f *factory.Factory, err error) int {
	if err == nil {
		return 0
	}
	if line := cmdutil.ErrorLine(err); line != "" {
		fmt.Fprintln(f.Stderr, "intelligencefs: "+cmdutil.OneLine(line))
	}
	return cmdutil.ExitCode(err)
}

// NewCmd builds the command tree.
func NewCmd(f *factory.Factory) *cobra.Command {
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
				return cmdutil.Usagef("unknown command %q (see intelligencefs --help)", args[0])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return cmd.Help()
		},
	}
	root.SetIn(f.Stdin)
	root.SetOut(f.Stdout)
	root.SetErr(f.Stderr)
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return cmdutil.UsageError{Err: err}
	})
	root.SetVersionTemplate("intelligencefs {{.Version}}\n")
	root.AddCommand(subcommands(f)...)
	return root
}

// subcommands are every command of the program, listed here rather than
// registered from each file's init, so the whole command set reads in one
// place and builds in a known order (--help sorts them by name anyway).
func subcommands(f *factory.Factory) []*cobra.Command {
	return []*cobra.Command{
		// The mount and what stands in for it without FUSE.
		mount.NewCmd(f),
		demo.NewCmd(f),
		serve.NewCmd(f), // servers to come are its subcommands: serve.NewCmd(f, webdav.NewCmd(f), …)
		// One transcript, or all of them, without a mount.
		cat.NewCmd(f),
		search.NewCmd(f),
		decrypt.NewCmd(f),
		// Setting the account up and checking it.
		keygen.NewCmd(f),
		keys.NewCmd(f),
		services.NewCmd(f),
		transcripts.NewCmd(f),
		doctor.NewCmd(f),
		sealedcache.NewCmd(f),
		// About the program itself.
		man.NewCmd(f),
		newVersionCmd(f),
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
func newVersionCmd(f *factory.Factory) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, module and VCS revision this binary was built from",
		Args:  cmdutil.ExactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := fmt.Fprintln(f.Stdout, "intelligencefs "+version())
			return err
		},
	}
}
