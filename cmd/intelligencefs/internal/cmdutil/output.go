package cmdutil

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/intelligencefs/intelligencefs/fetch/record"
)

// WriteJSON writes v as indented JSON and a newline (--json output).
func WriteJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// WriteTable writes rows under header in columns aligned with spaces.
// Every cell is shown with Printable: a name from the server cannot move
// the cursor, recolour the terminal or break a column.
func WriteTable(w io.Writer, header []string, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	cells := make([]string, 0, len(header))
	for _, r := range rows {
		cells = cells[:0]
		for _, c := range r {
			cells = append(cells, strings.ReplaceAll(Printable(c), "\t", `\t`))
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	return tw.Flush()
}

// Printable is s as the terminal may receive it: control characters,
// line breaks, bidirectional overrides and invalid UTF-8 escaped
// (record.SafeText). Every string from the server that is printed goes
// through it.
func Printable(s string) string { return record.SafeText(s) }

// OrDash shows an empty field as "-" so table columns stay aligned, and
// any other Printable.
func OrDash(s string) string {
	if s == "" {
		return "-"
	}
	return Printable(s)
}

// FormatDate shows a date as RFC 3339 UTC, or "-" when unknown.
func FormatDate(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// ByteSize is a size flag: a number of bytes with an optional binary suffix
// (K, M, G, T, with or without "i" and "B"; all powers of 1024).
type ByteSize int64

func (b *ByteSize) String() string { return FormatSize(int64(*b)) }

// Type names the flag's value in --help.
func (b *ByteSize) Type() string { return "size" }

// Set parses s.
func (b *ByteSize) Set(s string) error {
	n, err := ParseSize(s)
	if err != nil {
		return err
	}
	*b = ByteSize(n)
	return nil
}

// ParseSize parses "256MiB", "1G", "64M", "1.5GiB", "4096".
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && (t[i] >= '0' && t[i] <= '9' || t[i] == '.') {
		i++
	}
	num, unit := t[:i], strings.ToUpper(strings.TrimSpace(t[i:]))
	if num == "" {
		return 0, fmt.Errorf("%q is not a size (e.g. 64MiB, 1G)", Truncate(s, 20))
	}
	unit = strings.TrimSuffix(unit, "B")
	unit = strings.TrimSuffix(unit, "I")
	mult := map[string]float64{"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}[unit]
	if mult == 0 {
		return 0, fmt.Errorf("%q: unknown size unit (use K, M, G or T, e.g. 64MiB)", Truncate(s, 20))
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a size (e.g. 64MiB, 1G)", Truncate(s, 20))
	}
	v := f * mult
	if v >= math.MaxInt64/2 {
		return 0, fmt.Errorf("%q is too large", Truncate(s, 20))
	}
	return int64(v), nil
}

// FormatSize prints n with the largest binary unit that divides it.
func FormatSize(n int64) string {
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
