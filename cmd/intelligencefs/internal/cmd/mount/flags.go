package mount

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/cmdutil"
	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/factory"
	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/mountopts"
	"github.com/intelligencefs/intelligencefs/fs/defaults"
)

// Options are the settings of `mount` (and of demo and the fstab form,
// which take the same flags). They are defined on every platform so --help
// reads the same everywhere; only Linux mounts.
type Options struct {
	conn *factory.ConnFlags

	*factory.CacheFlags
	dirCacheTime time.Duration
	fullRelist   time.Duration
	prefetch     int
	*factory.LimitFlags
	allowOther bool
	uid, gid   int
	umask      octalMode
	// LogLevel and LogFormat are --log-level and --log-format (demo
	// --serve hands them to the viewer).
	LogLevel      string
	LogFormat     string
	logFile       string
	debugFUSE     bool
	metricsAddr   string
	statsInterval time.Duration
	// Daemon is --daemon (demo refuses it).
	Daemon        bool
	allowNonEmpty bool
	// options are the -o arguments, applied over the flags by
	// applyOptions (the fstab form's keys, on the subcommand).
	options []string
	flagSet *pflag.FlagSet
}

// AddFlags registers the mount flags on cmd. conn is the command's
// connection flags (nil for demo, whose simulator needs none).
func AddFlags(cmd *cobra.Command, conn *factory.ConnFlags) *Options {
	m := &Options{conn: conn, flagSet: cmd.Flags()}
	fs := cmd.Flags()
	m.LimitFlags = factory.AddLimitFlags(fs)
	m.CacheFlags = factory.AddCacheFlags(fs)
	fs.DurationVar(&m.dirCacheTime, "dir-cache-time", defaults.DirCacheTime, "trust a folder listing this long before asking the API what is new")
	fs.DurationVar(&m.fullRelist, "full-relist", defaults.FullRelist, "relist folders completely this often (notices deletions)")
	fs.IntVar(&m.prefetch, "prefetch", defaults.Prefetch, "fetch and decrypt the next N transcripts of a walk (any stat, open or listing of content) in the background, widening while the walk goes on (0: off)")
	fs.BoolVar(&m.allowOther, "allow-other", false, "let other users in (FUSE allow_other; needs user_allow_other in /etc/fuse.conf unless root)")
	fs.IntVar(&m.uid, "uid", -1, "owner of every file (default: the mounting user)")
	fs.IntVar(&m.gid, "gid", -1, "group of every file (default: the mounting user's group)")
	fs.Var(&m.umask, "umask", "share with a group: modes become 0666/0777 minus this octal mask (e.g. 0027 with --gid and --allow-other); default private 0600/0700 (the mount stays read-only)")
	fs.StringVar(&m.LogLevel, "log-level", cmdutil.DefaultLogLevel, "debug, info, warn or error")
	fs.StringVar(&m.LogFormat, "log-format", cmdutil.DefaultLogFormat, "text or json")
	fs.StringVar(&m.logFile, "log-file", "", "append log lines to this file (mode 0600) instead of stderr; a daemon without it logs nowhere once mounted")
	fs.BoolVar(&m.debugFUSE, "debug-fuse", false, "log every FUSE request (metadata only, never file content), whatever --log-level says")
	fs.StringVar(&m.metricsAddr, "metrics-addr", "", "serve Prometheus metrics on this address (e.g. 127.0.0.1:9464)")
	fs.DurationVar(&m.statsInterval, "stats-interval", 5*time.Minute, "log a line of cache and fetch counters this often (and on SIGUSR1); 0: only on SIGUSR1")
	fs.BoolVar(&m.Daemon, "daemon", false, "detach once the mount is ready (the command returns 0 only when mounted)")
	fs.BoolVar(&m.allowNonEmpty, "allow-non-empty", false, "mount over a folder that is not empty (its files are hidden while mounted)")
	fs.StringArrayVarP(&m.options, "options", "o", nil, "mount options as in fstab, comma-separated: every flag above is a key, dashes as underscores (-o cache_size=64MiB,allow_other); applied after the flags")
	_ = cmd.RegisterFlagCompletionFunc("mlock", cobra.FixedCompletions([]string{"auto", "required", "off"}, cobra.ShellCompDirectiveNoFileComp))
	cmdutil.CompleteLogFlags(cmd)
	return m
}

// applyOptions applies the -o arguments over the flags, as the fstab form
// applies its options: mount -o cache_size=64MiB,allow_other MNT.
func (m *Options) applyOptions() error {
	for _, arg := range m.options {
		opts, err := mountopts.Parse(arg)
		if err != nil {
			return cmdutil.UsageError{Err: err}
		}
		if err := mountopts.Apply(m.flagSet, opts); err != nil {
			return err
		}
	}
	m.options = nil // applied once (the daemon parent and child both run this)
	return nil
}

// Validate checks the values flags cannot check themselves.
func (m *Options) Validate() error {
	if err := m.LimitFlags.Validate(); err != nil {
		return err
	}
	if err := m.CacheFlags.Validate(); err != nil {
		return err
	}
	switch {
	case m.prefetch < 0:
		return cmdutil.Usagef("--prefetch must be 0 or more")
	case m.dirCacheTime < 0 || m.fullRelist < 0 || m.statsInterval < 0:
		return cmdutil.Usagef("durations must not be negative")
	case m.uid < -1 || m.gid < -1 || m.uid >= math.MaxUint32 || m.gid >= math.MaxUint32:
		// 4294967295 is (uid_t)-1, "no owner": the kernel refuses it.
		return cmdutil.Usagef("--uid and --gid take a numeric id below 4294967295")
	}
	if _, err := cmdutil.ParseLogLevel(m.LogLevel); err != nil {
		return err
	}
	if m.LogFormat != "text" && m.LogFormat != "json" {
		return cmdutil.Usagef("--log-format must be text or json (got %q)", cmdutil.Truncate(m.LogFormat, 20))
	}
	return nil
}

// octalMode is an optional octal permission mask flag (--umask 0027).
type octalMode struct {
	v   uint32
	set bool
}

func (o *octalMode) String() string {
	if !o.set {
		return ""
	}
	return fmt.Sprintf("%04o", o.v)
}

// Type names the flag's value in --help.
func (o *octalMode) Type() string { return "octal" }

// Set parses an octal mask of at most 0777.
func (o *octalMode) Set(s string) error {
	v, err := strconv.ParseUint(strings.TrimSpace(s), 8, 32)
	if err != nil || v > 0o777 {
		return errors.New("want an octal mask such as 0027")
	}
	o.v, o.set = uint32(v), true
	return nil
}

// ptr returns the mask or nil when unset.
func (o *octalMode) ptr() *uint32 {
	if !o.set {
		return nil
	}
	v := o.v
	return &v
}
