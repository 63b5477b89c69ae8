package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/intelligencefs/intelligencefs/fs/defaults"
)

// mountFlags are the settings of `mount` (and of demo and the fstab form,
// which take the same flags). They are defined on every platform so --help
// reads the same everywhere; only Linux mounts.
type mountFlags struct {
	conn *connFlags

	*cacheFlags
	dirCacheTime time.Duration
	fullRelist   time.Duration
	prefetch     int
	*limitFlags
	allowOther    bool
	uid, gid      int
	umask         octalMode
	logLevel      string
	logFormat     string
	logFile       string
	debugFUSE     bool
	metricsAddr   string
	statsInterval time.Duration
	daemon        bool
	allowNonEmpty bool
	// options are the -o arguments, applied over the flags by
	// applyOptions (the fstab form's keys, on the subcommand).
	options []string
	flagSet *pflag.FlagSet
}

// addMountFlags registers the mount flags on cmd. conn is the command's
// connection flags (nil for demo, whose simulator needs none).
func addMountFlags(cmd *cobra.Command, conn *connFlags) *mountFlags {
	m := &mountFlags{conn: conn, flagSet: cmd.Flags()}
	fs := cmd.Flags()
	m.limitFlags = addLimitFlags(fs)
	m.cacheFlags = addCacheFlags(fs)
	fs.DurationVar(&m.dirCacheTime, "dir-cache-time", defaults.DirCacheTime, "trust a folder listing this long before asking the API what is new")
	fs.DurationVar(&m.fullRelist, "full-relist", defaults.FullRelist, "relist folders completely this often (notices deletions)")
	fs.IntVar(&m.prefetch, "prefetch", defaults.Prefetch, "fetch and decrypt the next N transcripts of a walk (any stat, open or listing of content) in the background, widening while the walk goes on (0: off)")
	fs.BoolVar(&m.allowOther, "allow-other", false, "let other users in (FUSE allow_other; needs user_allow_other in /etc/fuse.conf unless root)")
	fs.IntVar(&m.uid, "uid", -1, "owner of every file (default: the mounting user)")
	fs.IntVar(&m.gid, "gid", -1, "group of every file (default: the mounting user's group)")
	fs.Var(&m.umask, "umask", "share with a group: modes become 0666/0777 minus this octal mask (e.g. 0027 with --gid and --allow-other); default private 0600/0700 (the mount stays read-only)")
	fs.StringVar(&m.logLevel, "log-level", defaultLogLevel, "debug, info, warn or error")
	fs.StringVar(&m.logFormat, "log-format", defaultLogFormat, "text or json")
	fs.StringVar(&m.logFile, "log-file", "", "append log lines to this file (mode 0600) instead of stderr; a daemon without it logs nowhere once mounted")
	fs.BoolVar(&m.debugFUSE, "debug-fuse", false, "log every FUSE request (metadata only, never file content), whatever --log-level says")
	fs.StringVar(&m.metricsAddr, "metrics-addr", "", "serve Prometheus metrics on this address (e.g. 127.0.0.1:9464)")
	fs.DurationVar(&m.statsInterval, "stats-interval", 5*time.Minute, "log a line of cache and fetch counters this often (and on SIGUSR1); 0: only on SIGUSR1")
	fs.BoolVar(&m.daemon, "daemon", false, "detach once the mount is ready (the command returns 0 only when mounted)")
	fs.BoolVar(&m.allowNonEmpty, "allow-non-empty", false, "mount over a folder that is not empty (its files are hidden while mounted)")
	fs.StringArrayVarP(&m.options, "options", "o", nil, "mount options as in fstab, comma-separated: every flag above is a key, dashes as underscores (-o cache_size=64MiB,allow_other); applied after the flags")
	_ = cmd.RegisterFlagCompletionFunc("mlock", cobra.FixedCompletions([]string{"auto", "required", "off"}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("log-level", cobra.FixedCompletions([]string{"debug", "info", "warn", "error"}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("log-format", cobra.FixedCompletions([]string{"text", "json"}, cobra.ShellCompDirectiveNoFileComp))
	return m
}

// applyOptions applies the -o arguments over the flags, as the fstab form
// applies its options: mount -o cache_size=64MiB,allow_other MNT.
func (m *mountFlags) applyOptions() error {
	for _, arg := range m.options {
		opts, err := ParseMountOptions(arg)
		if err != nil {
			return usageError{err}
		}
		if err := applyMountOptions(m.flagSet, opts); err != nil {
			return err
		}
	}
	m.options = nil // applied once (the daemon parent and child both run this)
	return nil
}

// validate checks the values flags cannot check themselves.
func (m *mountFlags) validate() error {
	if err := m.limitFlags.validate(); err != nil {
		return err
	}
	if err := m.cacheFlags.validate(); err != nil {
		return err
	}
	switch {
	case m.prefetch < 0:
		return usagef("--prefetch must be 0 or more")
	case m.dirCacheTime < 0 || m.fullRelist < 0 || m.statsInterval < 0:
		return usagef("durations must not be negative")
	case m.uid < -1 || m.gid < -1 || m.uid >= math.MaxUint32 || m.gid >= math.MaxUint32:
		// 4294967295 is (uid_t)-1, "no owner": the kernel refuses it.
		return usagef("--uid and --gid take a numeric id below 4294967295")
	}
	if _, err := parseLogLevel(m.logLevel); err != nil {
		return err
	}
	if m.logFormat != "text" && m.logFormat != "json" {
		return usagef("--log-format must be text or json (got %q)", truncate(m.logFormat, 20))
	}
	return nil
}

// The defaults of --log-level and --log-format, on mount and on serve.
const (
	defaultLogLevel  = "info"
	defaultLogFormat = "text"
)

// parseLogLevel maps --log-level to slog.
func parseLogLevel(s string) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug, nil
	case "info", "":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, usagef("--log-level must be debug, info, warn or error (got %q)", truncate(s, 20))
}

// newLogger builds the logger of a mount: level and format from the flags,
// lines to w.
func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	lv, err := parseLogLevel(level)
	if err != nil {
		return nil, err
	}
	opts := &slog.HandlerOptions{Level: lv}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return slog.New(slog.NewTextHandler(w, opts)), nil
}

// byteSize is a size flag: a number of bytes with an optional binary suffix
// (K, M, G, T, with or without "i" and "B"; all powers of 1024).
type byteSize int64

func (b *byteSize) String() string { return formatSize(int64(*b)) }

// Type names the flag's value in --help.
func (b *byteSize) Type() string { return "size" }

// Set parses s.
func (b *byteSize) Set(s string) error {
	n, err := parseSize(s)
	if err != nil {
		return err
	}
	*b = byteSize(n)
	return nil
}

// parseSize parses "256MiB", "1G", "64M", "1.5GiB", "4096".
func parseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && (t[i] >= '0' && t[i] <= '9' || t[i] == '.') {
		i++
	}
	num, unit := t[:i], strings.ToUpper(strings.TrimSpace(t[i:]))
	if num == "" {
		return 0, fmt.Errorf("%q is not a size (e.g. 64MiB, 1G)", truncate(s, 20))
	}
	unit = strings.TrimSuffix(unit, "B")
	unit = strings.TrimSuffix(unit, "I")
	mult := map[string]float64{"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}[unit]
	if mult == 0 {
		return 0, fmt.Errorf("%q: unknown size unit (use K, M, G or T, e.g. 64MiB)", truncate(s, 20))
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a size (e.g. 64MiB, 1G)", truncate(s, 20))
	}
	v := f * mult
	if v >= math.MaxInt64/2 {
		return 0, fmt.Errorf("%q is too large", truncate(s, 20))
	}
	return int64(v), nil
}

// formatSize prints n with the largest binary unit that divides it.
func formatSize(n int64) string {
	for _, u := range []struct {
		s string
		v int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n >= u.v && n%u.v == 0 {
			return strconv.FormatInt(n/u.v, 10) + u.s
		}
	}
	return strconv.FormatInt(n, 10)
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
