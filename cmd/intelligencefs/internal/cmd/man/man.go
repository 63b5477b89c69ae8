// Package man is `man`: section 1 manual pages generated from the command
// tree, one per command.
package man

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/cmdutil"
	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/factory"
)

// NewCmd builds `man`: section 1 manual pages generated from the command
// tree, one per command. (cobra/doc would need go-md2man, which is not a
// dependency of this module; these few lines of roff do the same job.)
func NewCmd(f *factory.Factory) *cobra.Command {
	opts := &Options{}
	cmd := &cobra.Command{
		Use:   "man [--dir DIR]",
		Short: "Write the manual pages (section 1) into DIR (default: where man looks)",
		Long: `man writes one manual page per command into DIR. Without --dir it writes
them where man(1) finds them with no setting: /usr/local/share/man/man1 as
root, else ~/.local/share/man/man1 ($XDG_DATA_HOME/man/man1 when set), which
man-db searches when ~/.local/bin is on PATH.`,
		Example: `  intelligencefs man && man intelligencefs-mount
  intelligencefs man --dir /usr/local/share/man/man1 && mandb -q`,
		Args: cmdutil.ExactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return run(f, cmd.Root(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Dir, "dir", "", "directory to write the pages into (created if missing); default /usr/local/share/man/man1 as root, else ~/.local/share/man/man1")
	return cmd
}

// Options are the settings of one `man`.
type Options struct {
	// Dir is where to write the pages ("": where man looks by default).
	Dir string
}

// run writes a page for root and every command under it into opts.Dir.
func run(f *factory.Factory, root *cobra.Command, opts *Options) error {
	dir := opts.Dir
	if dir == "" {
		d, err := defaultManDir(os.Geteuid(), f.Getenv)
		if err != nil {
			return err
		}
		dir = d
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	n, err := writeManPages(root, dir)
	if err != nil {
		return err
	}
	fmt.Fprintf(f.Stdout, "wrote %d manual pages to %s\n", n, dir)
	return nil
}

// defaultManDir is where man finds pages without configuration: the
// system's local tree for root, the user's XDG data directory otherwise.
func defaultManDir(euid int, getenv func(string) string) (string, error) {
	if euid == 0 {
		return "/usr/local/share/man/man1", nil
	}
	if d := getenv("XDG_DATA_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "man", "man1"), nil
	}
	home := getenv("HOME")
	if !filepath.IsAbs(home) {
		return "", cmdutil.Usagef("man: no --dir given and no HOME to default to; pass --dir DIR")
	}
	return filepath.Join(home, ".local", "share", "man", "man1"), nil
}

// manEnvironment is the ENVIRONMENT section every page shares: variable,
// meaning.
var manEnvironment = [][2]string{
	{factory.EnvAccountSID + ", " + factory.EnvAuthToken, "The account and its auth token."},
	{factory.EnvAPIKey + ", " + factory.EnvAPISecret, "An API key and its secret, used instead of the auth token (with " + factory.EnvAccountSID + ")."},
	{factory.EnvEdge + ", " + factory.EnvRegion, "The Twilio edge and region, as twilio-go reads them."},
	{factory.EnvAPIURL, "Send every REST call to this base URL (--api-url)."},
	{factory.EnvKeyPassphrase, "The passphrase of encrypted private keys (else --passphrase-file, else a prompt)."},
	{"NOTIFY_SOCKET", "Set by systemd (Type=notify): mount signals READY=1 on it once mounted."},
}

// manEnvFile closes the ENVIRONMENT section.
const manEnvFile = "Every variable can also come from --env-file (or -o env_file=PATH), a file of KEY=VALUE lines of mode 0600; the file wins over the environment."

// manExitStatus is the EXIT STATUS section every page shares.
const manExitStatus = `0 success; 2 a usage error (a bad flag or argument, missing credentials); 1 any other failure, always with one line "intelligencefs: ..." on standard error. doctor exits 1 when a check failed.`

// manFstab is the section of the root and mount pages on the fstab form.
const manFstab = `mount(8) runs intelligencefs SOURCE MOUNTPOINT -o OPTIONS for a line of /etc/fstab (through mount.fuse3). Every mount flag is an -o key with dashes as underscores (cache_size=64MiB; a boolean alone means true); mount -o takes the same keys. Secrets are refused as options: use env_file=PATH. It daemonizes once mounted unless -f. For example:

  twilio  /mnt/ci  fuse.intelligencefs  env_file=/etc/intelligencefs/env,private_key=/etc/intelligencefs/key.pem,allow_other,_netdev,nofail  0  0`

// writeManPages writes a page for c and every visible subcommand under it.
func writeManPages(c *cobra.Command, dir string) (int, error) {
	n := 0
	if c.IsAvailableCommand() || !c.HasParent() {
		name := strings.ReplaceAll(c.CommandPath(), " ", "-")
		if err := os.WriteFile(filepath.Join(dir, name+".1"), manPage(c), 0o644); err != nil {
			return n, err
		}
		n++
	}
	for _, sub := range c.Commands() {
		if !sub.IsAvailableCommand() || sub.Name() == "help" {
			continue
		}
		k, err := writeManPages(sub, dir)
		n += k
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// manPage renders one command as roff (man(7) macros).
func manPage(c *cobra.Command) []byte {
	var b bytes.Buffer
	name := strings.ReplaceAll(c.CommandPath(), " ", "-")
	fmt.Fprintf(&b, ".TH %q 1 \"\" \"intelligencefs\" \"User Commands\"\n", strings.ToUpper(name))
	fmt.Fprintf(&b, ".SH NAME\n%s \\- %s\n", roff(name), roff(c.Short))
	fmt.Fprintf(&b, ".SH SYNOPSIS\n.B %s\n", roff(c.UseLine()))
	desc := c.Long
	if desc == "" {
		desc = c.Short
	}
	fmt.Fprintf(&b, ".SH DESCRIPTION\n%s\n", roffParagraphs(desc))
	writeFlags := func(title string, fs *pflag.FlagSet) {
		if !fs.HasAvailableFlags() {
			return
		}
		fmt.Fprintf(&b, ".SH %s\n", title)
		fs.VisitAll(func(f *pflag.Flag) {
			if f.Hidden {
				return
			}
			b.WriteString(".TP\n")
			if f.Shorthand != "" {
				fmt.Fprintf(&b, "\\fB\\-%s\\fR, ", roff(f.Shorthand))
			}
			fmt.Fprintf(&b, "\\fB\\-\\-%s\\fR", roff(f.Name))
			if t := f.Value.Type(); t != "bool" {
				fmt.Fprintf(&b, " \\fI%s\\fR", roff(t))
			}
			b.WriteString("\n" + roff(f.Usage))
			if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "[]" && f.DefValue != "0" {
				fmt.Fprintf(&b, " (default %s)", roff(f.DefValue))
			}
			b.WriteString("\n")
		})
	}
	writeFlags("OPTIONS", c.NonInheritedFlags())
	writeFlags("OPTIONS INHERITED FROM PARENT COMMANDS", c.InheritedFlags())
	if c.Example != "" {
		fmt.Fprintf(&b, ".SH EXAMPLE\n.nf\n%s\n.fi\n", roffLines(c.Example))
	}
	if !c.HasParent() || c.Name() == "mount" {
		fmt.Fprintf(&b, ".SH FSTAB\n%s\n", roffParagraphs(manFstab))
	}
	b.WriteString(".SH ENVIRONMENT\n")
	for _, e := range manEnvironment {
		fmt.Fprintf(&b, ".TP\n.B %s\n%s\n", roff(e[0]), roff(e[1]))
	}
	fmt.Fprintf(&b, "%s\n", roffParagraphs(manEnvFile))
	fmt.Fprintf(&b, ".SH EXIT STATUS\n%s\n", roffParagraphs(manExitStatus))
	var see []string
	if c.HasParent() {
		see = append(see, strings.ReplaceAll(c.Parent().CommandPath(), " ", "-")+"(1)")
	}
	for _, sub := range c.Commands() {
		if sub.IsAvailableCommand() && sub.Name() != "help" {
			see = append(see, strings.ReplaceAll(sub.CommandPath(), " ", "-")+"(1)")
		}
	}
	if len(see) > 0 {
		fmt.Fprintf(&b, ".SH SEE ALSO\n%s\n", roff(strings.Join(see, ", ")))
	}
	return b.Bytes()
}

// roff escapes text for a roff line: backslashes and hyphens.
func roff(s string) string {
	s = strings.ReplaceAll(s, `\`, `\e`)
	return strings.ReplaceAll(s, "-", `\-`)
}

// roffLines escapes each line and protects lines that start with a control
// character.
func roffLines(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		l = roff(l)
		if strings.HasPrefix(l, ".") || strings.HasPrefix(l, "'") {
			l = `\&` + l
		}
		lines[i] = l
	}
	return strings.Join(lines, "\n")
}

// roffParagraphs turns blank-line separated text into .PP paragraphs; lines
// indented by two spaces are kept as literal blocks.
func roffParagraphs(s string) string {
	var out []string
	for _, para := range strings.Split(strings.TrimSpace(s), "\n\n") {
		if strings.HasPrefix(para, "  ") || strings.Contains(para, "\n  ") {
			out = append(out, ".PP\n.nf\n"+roffLines(para)+"\n.fi")
			continue
		}
		out = append(out, ".PP\n"+roffLines(para))
	}
	return strings.Join(out, "\n")
}
