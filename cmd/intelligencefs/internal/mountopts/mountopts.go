// Package mountopts parses the mount.fuse3 / fstab form of the command line,
//
//	intelligencefs SOURCE MOUNTPOINT [-f] [-o OPTS]...
//
// which `mount -t fuse.intelligencefs` (through mount.fuse3, or a
// mount.fuse.intelligencefs link) runs for an /etc/fstab line, and the -o
// grammar that `mount -o` shares: comma-separated key[=value] entries, each
// a mount flag with dashes as underscores. It is pure parsing, fuzzed by
// FuzzParseMountOptions; Apply sets the parsed options on the flags of
// `mount`, refusing secrets and unknown keys.
package mountopts

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/pflag"

	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/cmdutil"
)

// Invocation is a parsed fstab-form command line.
type Invocation struct {
	// Source is fstab's first field: "twilio" (any word) or the account SID.
	Source string
	// MountPoint is a directory, or /dev/fd/N when a privileged parent
	// (mount.fuse3 -o drop_privileges) already opened /dev/fuse and mounted.
	MountPoint string
	// Foreground (-f) keeps the process attached instead of daemonizing
	// once mounted.
	Foreground bool
	// Debug (-d) is --debug-fuse plus -f, as for libfuse file systems.
	Debug bool
	// Options are the -o entries, in order.
	Options []Option
}

// Option is one comma-separated -o entry: key, or key=value.
type Option struct {
	Key      string
	Value    string
	HasValue bool
}

func (o Option) String() string {
	if o.HasValue {
		return o.Key + "=" + o.Value
	}
	return o.Key
}

// Kind says what to do with an -o entry.
type Kind int

const (
	// KindFlag is one of intelligencefs's own flags (cache_size → --cache-size).
	KindFlag Kind = iota
	// KindIgnored is a standard option meant for mount(8), systemd or the
	// kernel, or implied by what intelligencefs always does; it is accepted.
	// rw is one: mount.fuse3 adds it to every mount(8) mount by itself, and
	// the mount is read-only regardless.
	KindIgnored
	// KindSecret looks like a secret and is refused.
	KindSecret
)

// standardOptions are mount options intelligencefs accepts and leaves to
// mount(8), systemd, fusermount3 or the kernel (FUSE mounts are always
// nosuid,nodev for users; intelligencefs is always read-only).
var standardOptions = map[string]bool{
	"ro": true, "rw": true, "defaults": true, "nodev": true, "dev": true, "nosuid": true, "suid": true,
	"noexec": true, "exec": true, "noatime": true, "atime": true, "relatime": true,
	"strictatime": true, "nodiratime": true, "diratime": true, "lazytime": true,
	"_netdev": true, "user": true, "users": true, "nouser": true, "owner": true, "group": true,
	"auto": true, "noauto": true, "nofail": true, "async": true, "sync": true,
	"dirsync": true, "silent": true, "loud": true, "nomand": true, "mand": true,
	"drop_privileges": true, "fsname": true, "subtype": true, "setuid": true,
	"comment": true, "default_permissions": true,
}

// fstabOnlyKeys map -o keys that are not mount flags to what they mean.
var fstabOnlyKeys = map[string]string{
	"env_file": "env-file",
	// libfuse's name for mounting over a folder that is not empty.
	"nonempty": "allow-non-empty",
}

// secretWords are substrings of option names that hold secrets. Options
// are visible to every user in /proc/PID/cmdline (and some in /proc/mounts),
// so such an option is refused rather than used.
var secretWords = []string{"token", "secret", "password", "passwd", "passphrase", "pwd", "credential", "cek"}

// secretNames are exact option names refused for the same reason.
var secretNames = map[string]bool{"pass": true, "pw": true, "key": true, "auth": true, "private_key_pem": true}

// nonSecretNames contain a secret word but name a file or an identifier,
// not the secret itself.
var nonSecretNames = map[string]bool{"passphrase_file": true}

// Classify decides what an -o entry is. For KindFlag it returns
// the flag name. It never looks at the value, so nothing it returns can
// contain one.
func Classify(o Option) (kind Kind, flag string) {
	k := strings.ToLower(o.Key)
	if !nonSecretNames[k] {
		if secretNames[k] {
			return KindSecret, ""
		}
		for _, w := range secretWords {
			if strings.Contains(k, w) {
				return KindSecret, ""
			}
		}
	}
	switch {
	case standardOptions[k], strings.HasPrefix(k, "x-"), strings.HasPrefix(k, "comment="):
		return KindIgnored, ""
	}
	if f, ok := fstabOnlyKeys[k]; ok {
		return KindFlag, f
	}
	return KindFlag, strings.ReplaceAll(k, "_", "-")
}

// errSecretOption explains why a secret-looking option is refused; it names
// the key only.
func errSecretOption(key string) error {
	return cmdutil.Usagef("-o %s: secrets are not accepted as mount options (every user can read them in /proc/PID/cmdline); put TWILIO_AUTH_TOKEN, TWILIO_API_SECRET or INTELLIGENCEFS_KEY_PASSPHRASE in a file of mode 0600 and pass -o env_file=PATH", cmdutil.Truncate(key, 40))
}

// Parse splits one -o argument into entries: comma-separated,
// key or key=value (split at the first "="), a backslash escapes the next
// character (so "\," is a comma inside a value), empty entries are skipped.
// Keys are trimmed of spaces and must be non-empty and printable.
func Parse(s string) ([]Option, error) {
	var (
		opts []Option
		cur  strings.Builder
	)
	flush := func() error {
		entry := cur.String()
		cur.Reset()
		if strings.TrimSpace(entry) == "" {
			return nil
		}
		k, v, has := cutUnescaped(entry)
		k = strings.TrimSpace(unescape(k))
		if k == "" {
			return errors.New("-o: an option has a value but no name")
		}
		for _, r := range k {
			if r < 0x21 || r == 0x7f {
				return fmt.Errorf("-o: option name %q has a space or control character", cmdutil.Truncate(k, 40))
			}
		}
		opts = append(opts, Option{Key: k, Value: unescape(v), HasValue: has})
		return nil
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s):
			cur.WriteByte(c)
			cur.WriteByte(s[i+1])
			i++
		case c == ',':
			if err := flush(); err != nil {
				return nil, err
			}
		default:
			cur.WriteByte(c)
		}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return opts, nil
}

// cutUnescaped splits entry at the first "=" not preceded by a backslash.
// Both halves keep their escapes.
func cutUnescaped(entry string) (k, v string, found bool) {
	for i := 0; i < len(entry); i++ {
		switch entry[i] {
		case '\\':
			i++
		case '=':
			return entry[:i], entry[i+1:], true
		}
	}
	return entry, "", false
}

// unescape removes the backslash before each escaped character.
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// IsFstabForm reports whether argv is the mount.fuse3 form: invoked through
// a mount.* name, or with a first argument that is neither a command nor a
// long flag and exactly two positional arguments (SOURCE MOUNTPOINT).
func IsFstabForm(argv0 string, args []string, commands map[string]bool) bool {
	if len(args) == 0 {
		return false
	}
	if strings.HasPrefix(filepath.Base(argv0), "mount.") {
		return true
	}
	if commands[args[0]] || strings.HasPrefix(args[0], "--") {
		return false
	}
	pos, err := scanFstabArgs(args, func(string, string) error { return nil })
	return err == nil && len(pos) == 2
}

// scanFstabArgs walks an fstab-form command line, options before or after
// the positionals as mount(8) and mount.fuse3 pass them: it calls option
// for each option (with its value for -o, -t and -N, and for -oOPTS as
// "-o") and returns the positional arguments.
func scanFstabArgs(args []string, option func(name, value string) error) ([]string, error) {
	var pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		var err error
		switch {
		case a == "-o" || a == "-t" || a == "-N":
			if i+1 >= len(args) {
				return nil, cmdutil.Usagef("%s needs a value", a)
			}
			i++
			err = option(a, args[i])
		case strings.HasPrefix(a, "-o") && len(a) > 2:
			err = option("-o", a[2:])
		case a == "--":
			return append(pos, args[i+1:]...), nil
		case strings.HasPrefix(a, "-") && len(a) > 1:
			err = option(a, "")
		default:
			pos = append(pos, a)
		}
		if err != nil {
			return nil, err
		}
	}
	return pos, nil
}

// ParseFstabArgs parses `SOURCE MOUNTPOINT [-f] [-d] [-s] [-n] [-v]
// [-o OPTS]... [-t TYPE]`.
func ParseFstabArgs(args []string) (Invocation, error) {
	var inv Invocation
	pos, err := scanFstabArgs(args, func(name, value string) error {
		switch name {
		case "-o":
			opts, err := Parse(value)
			if err != nil {
				return cmdutil.UsageError{Err: err}
			}
			inv.Options = append(inv.Options, opts...)
		case "-t", "-N":
			// the file system type and a mount namespace: nothing to do here.
		case "-f":
			inv.Foreground = true
		case "-d":
			inv.Debug, inv.Foreground = true, true
		case "-s", "-n", "-v":
			// single-threaded, no mtab, verbose: nothing to do here.
		default:
			return cmdutil.Usagef("unknown option %q in the fstab form (use -o key=value)", cmdutil.Truncate(name, 40))
		}
		return nil
	})
	if err != nil {
		return inv, err
	}
	if len(pos) != 2 {
		return inv, cmdutil.Usagef("the fstab form is: intelligencefs SOURCE MOUNTPOINT -o OPTIONS (got %d positional argument(s))", len(pos))
	}
	inv.Source, inv.MountPoint = pos[0], pos[1]
	return inv, nil
}

// fstabRefusedFlags are mount flags that make no sense as -o keys.
var fstabRefusedFlags = map[string]string{
	"daemon":  "the fstab form daemonizes once mounted unless -f is given",
	"help":    "",
	"options": "",
}

// Apply sets the flag of each -o entry on flags (cache_size=64MiB
// → --cache-size 64MiB; a boolean flag alone means true), accepts the
// standard mount options, and refuses secrets and unknown keys with a usage
// error naming the key only.
func Apply(flags *pflag.FlagSet, opts []Option) error {
	for _, o := range opts {
		kind, name := Classify(o)
		switch kind {
		case KindSecret:
			return errSecretOption(o.Key)
		case KindIgnored:
			continue
		}
		if why, refused := fstabRefusedFlags[name]; refused {
			if why == "" {
				why = "not a mount option"
			}
			return cmdutil.Usagef("-o %s: %s", cmdutil.Truncate(o.Key, 40), why)
		}
		f := flags.Lookup(name)
		if f == nil {
			return cmdutil.Usagef("unknown mount option -o %s (every mount flag works as an -o key, dashes as underscores: cache_size=64MiB)", cmdutil.Truncate(o.Key, 40))
		}
		value := o.Value
		if !o.HasValue {
			if f.Value.Type() != "bool" {
				return cmdutil.Usagef("-o %s needs a value (%s=…)", o.Key, o.Key)
			}
			value = "true"
		}
		if err := flags.Set(name, value); err != nil {
			// pflag's message quotes the value; options are not secret (those
			// were refused above), but keep it short.
			return cmdutil.Usagef("-o %s: invalid value %q", o.Key, cmdutil.Truncate(value, 60))
		}
	}
	return nil
}
