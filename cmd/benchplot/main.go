// Command benchplot turns `go test -bench` output into an SVG line chart of
// benchmark metrics against a size parameter taken from the benchmark name:
// by default the cold-scan benchmark of package fs (seconds for the
// sequential way, the mount and the ideal, against N transcripts).
//
// Usage:
//
//	go test -run '^$' -bench ColdScan ./fs/ | tee bench.txt
//	go run ./cmd/benchplot -in bench.txt -out cold-scan.svg
//
// A benchmark line is picked when its name matches -bench and carries
// "<param>=<number>" as a sub-benchmark element (BenchmarkColdScan/N=1000-2).
// Repeated lines for one size (-count) are reduced to their median. The SVG
// is written by hand: no dependency beyond the standard library.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

func main() { os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }

// run is main with its inputs and outputs passed in; it returns the exit
// code (2 for a usage error).
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("benchplot", flag.ContinueOnError)
	fl.SetOutput(stderr)
	in := fl.String("in", "-", "benchmark output to read (- for stdin)")
	out := fl.String("out", "-", "SVG file to write (- for stdout)")
	bench := fl.String("bench", "^BenchmarkColdScan/", "regexp the benchmark name must match")
	param := fl.String("param", "N", "sub-benchmark parameter used as the x axis")
	metrics := fl.String("metrics", "s_sequential=sequential (list; then location + download + decrypt each),s_mount=grep -r through the mount,s_ideal=ideal (requests × latency / concurrency + decrypt CPU / cores)",
		"comma-separated unit=label pairs, one line each")
	title := fl.String("title", "Cold grep -r over N encrypted transcripts, 20 ms per request", "chart title")
	ylabel := fl.String("ylabel", "seconds", "y axis label")
	xlabel := fl.String("xlabel", "", "x axis label (default: the parameter, in transcripts)")
	if err := fl.Parse(args); err != nil {
		return 2
	}
	re, err := regexp.Compile(*bench)
	if err != nil {
		fmt.Fprintf(stderr, "benchplot: -bench: %v\n", err)
		return 2
	}
	series, err := parseSeries(*metrics)
	if err != nil {
		fmt.Fprintf(stderr, "benchplot: -metrics: %v\n", err)
		return 2
	}
	r := stdin
	if *in != "-" {
		f, err := os.Open(*in)
		if err != nil {
			fmt.Fprintf(stderr, "benchplot: %v\n", err)
			return 1
		}
		defer f.Close()
		r = f
	}
	pts, err := parse(r, re, *param, series)
	if err != nil {
		fmt.Fprintf(stderr, "benchplot: %v\n", err)
		return 1
	}
	if *xlabel == "" {
		*xlabel = *param + " (transcripts)"
	}
	svg := render(chart{title: *title, xlabel: *xlabel, ylabel: *ylabel, series: series, points: pts})
	if *out == "-" {
		_, err = io.WriteString(stdout, svg)
	} else {
		err = os.WriteFile(*out, []byte(svg), 0o644)
	}
	if err != nil {
		fmt.Fprintf(stderr, "benchplot: %v\n", err)
		return 1
	}
	return 0
}

// series is one line of the chart: a benchmark metric unit and its legend.
type series struct{ unit, label string }

// parseSeries reads "unit=label,unit=label".
func parseSeries(s string) ([]series, error) {
	var out []series
	for _, part := range strings.Split(s, ",") {
		unit, label, ok := strings.Cut(part, "=")
		unit = strings.TrimSpace(unit)
		if !ok || unit == "" {
			return nil, fmt.Errorf("%q is not unit=label", part)
		}
		out = append(out, series{unit: unit, label: strings.TrimSpace(label)})
	}
	return out, nil
}

// point is the median of each series at one x.
type point struct {
	x float64
	y []float64 // per series; NaN where the metric was absent
}

// parse collects the metrics of matching benchmark lines by x, and returns
// one point per x (ascending), each metric the median of its samples.
func parse(r io.Reader, re *regexp.Regexp, param string, ser []series) ([]point, error) {
	xre := regexp.MustCompile(`(?:^|/)` + regexp.QuoteMeta(param) + `=([0-9.eE+]+)(?:-\d+)?(?:/|$)`)
	samples := map[float64][][]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") || !re.MatchString(f[0]) {
			continue
		}
		m := xre.FindStringSubmatch(f[0])
		if m == nil {
			continue
		}
		x, err := strconv.ParseFloat(m[1], 64)
		if err != nil {
			continue
		}
		if samples[x] == nil {
			samples[x] = make([][]float64, len(ser))
		}
		// f[1] is the iteration count; then value/unit pairs.
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			for j, s := range ser {
				if f[i+1] == s.unit {
					samples[x][j] = append(samples[x][j], v)
				}
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(samples) == 0 {
		return nil, errors.New("no benchmark line matched")
	}
	var pts []point
	for x, ss := range samples {
		p := point{x: x, y: make([]float64, len(ser))}
		for j, s := range ss {
			p.y[j] = median(s)
		}
		pts = append(pts, p)
	}
	slices.SortFunc(pts, func(a, b point) int { return cmpFloat(a.x, b.x) })
	return pts, nil
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// median of the samples, NaN when there are none.
func median(s []float64) float64 {
	if len(s) == 0 {
		return math.NaN()
	}
	s = slices.Clone(s)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// chart is what render draws.
type chart struct {
	title, xlabel, ylabel string
	series                []series
	points                []point
}

// Layout of the SVG, in pixels.
const (
	width, height = 760, 460
	left, right   = 70, 20
	top, bottom   = 50, 60
)

// palette gives each series a colour (and a dash pattern, for readers who
// cannot tell the colours apart).
var palette = []struct{ colour, dash string }{
	{"#d62728", ""}, {"#1f77b4", ""}, {"#7f7f7f", "6 4"}, {"#2ca02c", "2 3"}, {"#9467bd", "8 3 2 3"},
}

// render draws the chart as a standalone SVG document: linear axes from
// zero (so a straight line through the origin reads as linear cost), one
// polyline with point markers and value labels per series, and a legend.
func render(c chart) string {
	maxX, maxY := 0.0, 0.0
	for _, p := range c.points {
		maxX = math.Max(maxX, p.x)
		for _, y := range p.y {
			if !math.IsNaN(y) {
				maxY = math.Max(maxY, y)
			}
		}
	}
	xTicks, maxX := ticks(maxX)
	yTicks, maxY := ticks(maxY)
	pw, ph := float64(width-left-right), float64(height-top-bottom)
	px := func(x float64) float64 { return left + x/maxX*pw }
	py := func(y float64) float64 { return top + ph - y/maxY*ph }

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", width, height, width, height)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", width, height)
	fmt.Fprintf(&b, `<text x="%d" y="24" font-size="15" text-anchor="middle">%s</text>`+"\n", width/2, esc(c.title))
	for _, t := range yTicks {
		y := py(t)
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>`+"\n", left, y, width-right, y)
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end" dominant-baseline="middle">%s</text>`+"\n", left-6, y, num(t))
	}
	for _, t := range xTicks {
		x := px(t)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#ddd"/>`+"\n", x, top, x, height-bottom)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", x, height-bottom+18, num(t))
	}
	fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.0f" height="%.0f" fill="none" stroke="#333"/>`+"\n", left, top, pw, ph)
	fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", left+pw/2, height-16, esc(c.xlabel))
	fmt.Fprintf(&b, `<text x="16" y="%.1f" text-anchor="middle" transform="rotate(-90 16 %.1f)">%s</text>`+"\n", top+ph/2, top+ph/2, esc(c.ylabel))
	for j, s := range c.series {
		st := palette[j%len(palette)]
		var pts []string
		for _, p := range c.points {
			if !math.IsNaN(p.y[j]) {
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", px(p.x), py(p.y[j])))
			}
		}
		if len(pts) == 0 {
			continue
		}
		dash := ""
		if st.dash != "" {
			dash = fmt.Sprintf(` stroke-dasharray="%s"`, st.dash)
		}
		fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="2"%s/>`+"\n", strings.Join(pts, " "), st.colour, dash)
		for i, p := range c.points {
			if math.IsNaN(p.y[j]) {
				continue
			}
			// Value labels right of their point, but left of the last one
			// so they stay inside the plot.
			anchor, dx := "start", 6.0
			if i == len(c.points)-1 {
				anchor, dx = "end", -6
			}
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3.5" fill="%s"/>`+"\n", px(p.x), py(p.y[j]), st.colour)
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="%s" fill="%s">%s</text>`+"\n", px(p.x)+dx, py(p.y[j])-6, anchor, st.colour, num(p.y[j]))
		}
		ly := top + 16 + 18*j
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2"%s/>`+"\n", left+12, ly, left+40, ly, st.colour, dash)
		fmt.Fprintf(&b, `<text x="%d" y="%d" dominant-baseline="middle">%s</text>`+"\n", left+46, ly, esc(s.label))
	}
	b.WriteString("</svg>\n")
	return b.String()
}

// ticks returns round tick values from 0 covering max, and the axis end.
func ticks(max float64) ([]float64, float64) {
	if max <= 0 || math.IsNaN(max) {
		max = 1
	}
	raw := max / 5
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	end := math.Ceil(max/step) * step
	var ts []float64
	for v := 0.0; v <= end+step/2; v += step {
		ts = append(ts, v)
	}
	return ts, end
}

// num prints a value briefly (no exponent, at most three significant
// decimals).
func num(v float64) string {
	switch {
	case v == math.Trunc(v) && math.Abs(v) < 1e9:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case math.Abs(v) >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}

// esc escapes text for SVG.
func esc(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(s)
}
