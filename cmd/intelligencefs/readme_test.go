package main

import (
	"io"
	"os"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/factory"
	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/mountopts"
	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/root"
)

// The README's fstab line, systemd unit and flags tables are checked
// against the real option parser and command tree, so the documentation
// cannot drift from the CLI unnoticed.

// readmeLines returns README.md's lines.
func readmeLines(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(string(data), "\n")
}

func TestREADMEFstabLine(t *testing.T) {
	var fields []string
	for _, l := range readmeLines(t) {
		if f := strings.Fields(l); len(f) == 6 && f[2] == "fuse.intelligencefs" {
			fields = f
		}
	}
	if fields == nil {
		t.Fatal("no fstab line (SOURCE MOUNTPOINT fuse.intelligencefs OPTIONS 0 0) in README.md")
	}
	// What mount(8) and mount.fuse3 pass for it (mount.fuse3 adds dev,suid).
	inv, err := mountopts.ParseFstabArgs([]string{fields[0], fields[1], "-o", fields[3] + ",dev,suid", "-t", fields[2]})
	if err != nil {
		t.Fatal(err)
	}
	cmd, _, err := readmeRoot().Find([]string{"mount"})
	if err != nil {
		t.Fatal(err)
	}
	if err := mountopts.Apply(cmd.Flags(), inv.Options); err != nil {
		t.Fatalf("README fstab options %q: %v", fields[3], err)
	}
	keys, _ := cmd.Flags().GetStringArray("private-key")
	allowOther, _ := cmd.Flags().GetBool("allow-other")
	if envFile, _ := cmd.Flags().GetString("env-file"); envFile == "" || len(keys) != 1 || !allowOther || inv.Foreground {
		t.Errorf("README fstab options %q: env-file %q, private-key %q, allow-other %v, foreground %v", fields[3], envFile, keys, allowOther, inv.Foreground)
	}
}

// readmeRoot is the command tree, for parsing documented command lines.
func readmeRoot() *cobra.Command {
	return root.NewCmd(&factory.Factory{Stdout: io.Discard, Stderr: io.Discard, Getenv: func(string) string { return "" }})
}

func TestREADMESystemdUnit(t *testing.T) {
	var exec string
	inUnit := false
	for _, l := range readmeLines(t) {
		switch {
		case l == "```ini":
			inUnit = true
		case l == "```":
			inUnit = false
		case inUnit && strings.HasPrefix(l, "NoNewPrivileges="):
			t.Errorf("the unit sets %s, which breaks fusermount3 for non-root users", l)
		case inUnit && strings.HasPrefix(l, "ExecStart="):
			exec = strings.TrimPrefix(l, "ExecStart=")
		}
	}
	argv := strings.Fields(exec)
	if len(argv) < 2 || !strings.HasSuffix(argv[0], "/intelligencefs") {
		t.Fatalf("no ExecStart running intelligencefs in the README's unit: %q", exec)
	}
	cmd, args, err := readmeRoot().Find(argv[1:])
	if err != nil || cmd.Name() != "mount" {
		t.Fatalf("ExecStart %q is not a mount command: %v", exec, err)
	}
	if err := cmd.ParseFlags(args); err != nil {
		t.Fatalf("ExecStart %q: %v", exec, err)
	}
	if d, _ := cmd.Flags().GetBool("daemon"); d || len(cmd.Flags().Args()) != 1 {
		t.Errorf("ExecStart %q: want a foreground mount of one mount point (Type=notify)", exec)
	}
}

// readmeFlag is one flag of a row of README.md's flags tables: the
// commands its table is about, its name and the row's default cell.
type readmeFlag struct {
	commands []string
	name     string
	def      string
	line     string
}

// readmeFlags parses the flags tables of README.md's ## Flags section. A
// flag in no known table has no commands.
func readmeFlags(t *testing.T) []readmeFlag {
	var flags []readmeFlag
	var check []string // the commands the current table is about
	section, tables := false, 0
	for _, l := range readmeLines(t) {
		switch {
		case strings.HasPrefix(l, "## "):
			section = l == "## Flags"
		case !section:
		case strings.HasPrefix(l, "Connection flags"):
			check = []string{"cat", "doctor"} // both also have the key flags
		case strings.HasPrefix(l, "Mount flags"):
			check = []string{"mount"}
		case strings.HasPrefix(l, "Search flags"):
			check = []string{"search"}
		case strings.HasPrefix(l, "Serve flags"):
			check = []string{"serve"}
		case strings.HasPrefix(l, "Delete flags"):
			check = []string{"transcripts delete"}
		case strings.HasPrefix(l, "| `--"):
			tables++
			// Cells split on | but not on an escaped \| ("auto\|off").
			cells := strings.Split(strings.ReplaceAll(l, `\|`, "\x00"), "|")
			for i := range cells {
				cells[i] = strings.ReplaceAll(cells[i], "\x00", "|")
			}
			cell := strings.Trim(cells[1], " `")
			def := strings.TrimSpace(cells[2])
			for _, part := range strings.Split(cell, "`, `") { // "`--uid N`, `--gid N`"
				name := strings.TrimPrefix(strings.Fields(part)[0], "--")
				if strings.HasPrefix(name, "-") { // "-F": the shorthand of the next
					continue
				}
				flags = append(flags, readmeFlag{commands: check, name: name, def: def, line: l})
			}
		}
	}
	if tables == 0 {
		t.Error("no flags tables found in README.md's ## Flags")
	}
	return flags
}

func TestREADMEFlagsExist(t *testing.T) {
	root := readmeRoot()
	for _, f := range readmeFlags(t) {
		if len(f.commands) == 0 {
			t.Errorf("README flag --%s is in no known table", f.name)
		}
		for _, c := range f.commands {
			if sub, _, err := root.Find(strings.Fields(c)); err != nil || sub.Flags().Lookup(f.name) == nil {
				t.Errorf("README flag --%s: not a flag of %s", f.name, c)
			}
		}
	}
}
