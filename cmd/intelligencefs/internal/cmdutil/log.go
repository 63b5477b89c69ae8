package cmdutil

import (
	"io"
	"log/slog"
	"strings"

	"github.com/spf13/cobra"
)

// The defaults of --log-level and --log-format, on mount and on serve.
const (
	DefaultLogLevel  = "info"
	DefaultLogFormat = "text"
)

// ParseLogLevel maps --log-level to slog.
func ParseLogLevel(s string) (slog.Level, error) {
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
	return 0, Usagef("--log-level must be debug, info, warn or error (got %q)", Truncate(s, 20))
}

// NewLogger builds a logger from --log-level and --log-format, lines to w.
func NewLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	lv, err := ParseLogLevel(level)
	if err != nil {
		return nil, err
	}
	opts := &slog.HandlerOptions{Level: lv}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return slog.New(slog.NewTextHandler(w, opts)), nil
}

// CompleteLogFlags registers shell completions for --log-level and
// --log-format on cmd.
func CompleteLogFlags(cmd *cobra.Command) {
	_ = cmd.RegisterFlagCompletionFunc("log-level", cobra.FixedCompletions([]string{"debug", "info", "warn", "error"}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("log-format", cobra.FixedCompletions([]string{"text", "json"}, cobra.ShellCompDirectiveNoFileComp))
}
