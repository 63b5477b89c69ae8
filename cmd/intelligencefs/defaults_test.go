package main

import (
	"bytes"
	"io"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/cmdutil"
	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/factory"
	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/root"
	"github.com/intelligencefs/intelligencefs/fetch"
	"github.com/intelligencefs/intelligencefs/fetch/sealedcache"
	"github.com/intelligencefs/intelligencefs/fs/defaults"
)

// TestFlagDefaults: the defaults the flags show are the exported defaults
// of fs (fs/defaults, which fs.Options falls back to) and fetch, as --help
// prints them, and README.md's flags tables say the same.
func TestFlagDefaults(t *testing.T) {
	size := func(n int64) string { return cmdutil.FormatSize(n) }
	cache := []struct{ flag, want string }{
		{"cache-size", size(defaults.CacheSize)},
		{"cache-max-age", defaults.CacheMaxAge.String()},
		{"mlock", defaults.Mlock.String()},
	}
	walk := []struct{ flag, want string }{
		{"dir-cache-time", defaults.DirCacheTime.String()},
		{"full-relist", defaults.FullRelist.String()},
		{"prefetch", strconv.Itoa(defaults.Prefetch)},
	}
	limits := []struct{ flag, want string }{
		{"max-concurrency", strconv.Itoa(fetch.DefaultMaxConcurrency)},
	}
	sealed := []struct{ flag, want string }{
		{"sealed-cache-size", size(sealedcache.DefaultMaxBytes)},
	}
	type row struct{ command, flag, want string }
	var rows []row
	add := func(command string, sets ...[]struct{ flag, want string }) {
		for _, set := range sets {
			for _, f := range set {
				rows = append(rows, row{command, f.flag, f.want})
			}
		}
	}
	add("mount", cache, walk, limits, sealed)
	add("demo", cache, walk, limits)
	add("serve", cache, limits)
	add("search", limits, sealed)
	add("doctor", cache[:1], sealed)
	add("cat", sealed)

	readme := map[string]readmeFlag{}
	for _, f := range readmeFlags(t) {
		for _, c := range f.commands {
			readme[c+" --"+f.name] = f
		}
	}
	helps := map[string]string{}
	for _, r := range rows {
		t.Run(r.command+"/"+r.flag, func(t *testing.T) {
			sub, _, err := readmeRoot().Find([]string{r.command})
			if err != nil {
				t.Fatal(err)
			}
			fl := sub.Flags().Lookup(r.flag)
			if fl == nil {
				t.Fatalf("%s has no --%s", r.command, r.flag)
			}
			if fl.DefValue != r.want {
				t.Errorf("%s --%s defaults to %q, the exported default is %q", r.command, r.flag, fl.DefValue, r.want)
			}

			// What --help prints.
			help, ok := helps[r.command]
			if !ok {
				var out bytes.Buffer
				tree := root.NewCmd(&factory.Factory{Stdout: &out, Stderr: io.Discard, Getenv: func(string) string { return "" }})
				tree.SetArgs([]string{r.command, "--help"})
				if err := tree.Execute(); err != nil {
					t.Fatal(err)
				}
				help = out.String()
				helps[r.command] = help
			}
			line := regexp.MustCompile(`(?m)^\s+--` + regexp.QuoteMeta(r.flag) + `\b.*$`).FindString(help)
			if !strings.Contains(line, "(default "+r.want+")") && !strings.Contains(line, `(default "`+r.want+`")`) {
				t.Errorf("%s --help shows --%s as %q, want its default %s", r.command, r.flag, strings.TrimSpace(line), r.want)
			}

			// What README.md's table says, read with the flag's own parser.
			rf, ok := readme[r.command+" --"+r.flag]
			if !ok {
				return // the table documents it under another command
			}
			cell := strings.Trim(strings.Fields(rf.def + " ")[0], "`")
			if err := fl.Value.Set(cell); err != nil {
				t.Fatalf("README's default of --%s, %q, does not parse: %v", r.flag, rf.def, err)
			}
			if got := fl.Value.String(); got != r.want {
				t.Errorf("README says --%s defaults to %q (%s), the flag to %s", r.flag, rf.def, got, r.want)
			}
		})
	}
}
