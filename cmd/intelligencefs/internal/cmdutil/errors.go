// Package cmdutil holds the small helpers every intelligencefs command
// shares: the usage and exit-status errors, argument checks, one-line
// messages, sizes, tables and JSON output, and the log flags' parsing.
package cmdutil

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/intelligencefs/intelligencefs/fetch/record"
)

// UsageError is a mistake in how the program was invoked (a bad flag,
// missing arguments, missing credentials): exit status 2.
type UsageError struct{ Err error }

func (e UsageError) Error() string { return e.Err.Error() }
func (e UsageError) Unwrap() error { return e.Err }

// Usagef returns a UsageError with a formatted message.
func Usagef(format string, args ...any) error {
	return UsageError{fmt.Errorf(format, args...)}
}

// ExitCodeError ends the program with a given status and, if Msg is not
// empty, that line (the daemon parent relays its child's outcome this way).
type ExitCodeError struct {
	Code int
	Msg  string
}

func (e ExitCodeError) Error() string { return e.Msg }

// ExitCode maps an error to the exit status: 2 for usage errors, the
// carried status for ExitCodeError, 1 otherwise.
func ExitCode(err error) int {
	var ec ExitCodeError
	if errors.As(err, &ec) {
		return ec.Code
	}
	var ue UsageError
	if errors.As(err, &ue) {
		return 2
	}
	return 1
}

// ErrorLine is the message printed for err (empty: print nothing).
func ErrorLine(err error) string {
	var ec ExitCodeError
	if errors.As(err, &ec) {
		return ec.Msg
	}
	return err.Error()
}

// OneLine folds a message onto a single line, so every failure is exactly
// one line on stderr whatever a library put in its error, with no control
// character left raw (record.SafeText: a server's words reach the terminal
// in errors).
func OneLine(s string) string {
	s = strings.TrimSpace(s)
	return record.SafeText(strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", "; ")), " "))
}

// Truncate shortens s to at most n bytes for an error message.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// ExactArgs is cobra.ExactArgs with a usage error naming what is expected.
func ExactArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return Usagef("%s expects %s (got %d argument(s)); see %s --help", cmd.CommandPath(), what, len(args), cmd.CommandPath())
		}
		return nil
	}
}

// ShellQuote quotes s for a command line printed as a suggestion, when it
// holds anything a shell would split or expand.
func ShellQuote(s string) string {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./=:@%+,", r)) {
			return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
		}
	}
	return s
}
