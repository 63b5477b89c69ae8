package main

import (
	"bytes"
	"encoding/xml"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const sample = `goos: linux
BenchmarkColdScan/N=100-2     1  1 ns/op  0.60 s_mount  4.1 s_ideal_x  4.20 s_sequential  0.40 s_ideal
BenchmarkColdScan/N=1000-2    1  1 ns/op  4.00 s_mount  41.0 s_sequential  3.20 s_ideal
BenchmarkColdScan/N=1000-2    1  1 ns/op  6.00 s_mount  43.0 s_sequential  3.30 s_ideal
BenchmarkColdScan/N=1000-2    1  1 ns/op  5.00 s_mount  42.0 s_sequential  3.25 s_ideal
BenchmarkWarmGrep-2           3  1 ns/op  9.00 s_mount
BenchmarkColdScan/N=300-2     1  1 ns/op  1.50 s_mount
PASS
`

// TestParse: matching lines are grouped by N, sorted, reduced to medians;
// other benchmarks, other units and absent metrics are handled.
func TestParse(t *testing.T) {
	ser, err := parseSeries("s_sequential=seq,s_mount=mount,s_ideal=ideal")
	if err != nil {
		t.Fatal(err)
	}
	pts, err := parse(strings.NewReader(sample), regexp.MustCompile("^BenchmarkColdScan/"), "N", ser)
	if err != nil {
		t.Fatal(err)
	}
	if len(pts) != 3 || pts[0].x != 100 || pts[1].x != 300 || pts[2].x != 1000 {
		t.Fatalf("points %+v", pts)
	}
	if got := pts[2].y; got[0] != 42 || got[1] != 5 || got[2] != 3.25 {
		t.Errorf("medians at N=1000: %v", got)
	}
	if got := pts[1].y; got[1] != 1.5 || got[0] == got[0] { // NaN != NaN
		t.Errorf("N=300: %v, want mount 1.5 and no sequential", got)
	}
	if _, err := parse(strings.NewReader("PASS\n"), regexp.MustCompile("."), "N", ser); err == nil {
		t.Error("no matching line: want an error")
	}
}

// TestRun: the whole program writes a well-formed SVG with one polyline per
// series and the legend; bad flags exit 2.
func TestRun(t *testing.T) {
	in := filepath.Join(t.TempDir(), "bench.txt")
	if err := os.WriteFile(in, []byte(sample), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := run([]string{"-in", in}, nil, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	svg := out.String()
	d := xml.NewDecoder(strings.NewReader(svg))
	for {
		if _, err := d.Token(); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("not well-formed XML: %v", err)
		}
	}
	if n := strings.Count(svg, "<polyline"); n != 3 {
		t.Errorf("%d polylines, want 3", n)
	}
	for _, s := range []string{"grep -r through the mount", "sequential", "<svg", "</svg>"} {
		if !strings.Contains(svg, s) {
			t.Errorf("SVG lacks %q", s)
		}
	}
	if code := run([]string{"-bench", "("}, nil, &out, &errb); code != 2 {
		t.Errorf("bad -bench: exit %d, want 2", code)
	}
	if code := run([]string{"-metrics", "nolabel"}, nil, &out, &errb); code != 2 {
		t.Errorf("bad -metrics: exit %d, want 2", code)
	}
}

// TestTicks: round steps that cover the maximum.
func TestTicks(t *testing.T) {
	for _, c := range []struct{ max, end float64 }{{123, 125}, {4.3, 5}, {0, 1}, {3000, 3000}, {41, 50}} {
		ts, end := ticks(c.max)
		if end != c.end || ts[0] != 0 || ts[len(ts)-1] != end {
			t.Errorf("ticks(%v) = %v, %v; want end %v", c.max, ts, end, c.end)
		}
	}
}
