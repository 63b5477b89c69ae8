package vtree

import (
	"strings"
	"testing"
)

// FuzzSplit: any path a client sends splits into elements that are each a
// single, non-empty name (no "", ".", "..", "/", NUL), or is refused.
func FuzzSplit(f *testing.F) {
	for _, s := range []string{"/", "", "/services/GA1/../..", "//a//b/", "/a/./b", "a", "/\x00", "/" + strings.Repeat("x", 256), "/services/../../etc/passwd"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		elems, ok := Split(p)
		if !ok {
			return
		}
		if !strings.HasPrefix(p, "/") {
			t.Fatalf("Split(%q) accepted a relative path", p)
		}
		for _, e := range elems {
			if e == "" || e == "." || e == ".." || strings.ContainsAny(e, "/\x00") || len(e) > 255 {
				t.Fatalf("Split(%q) gave element %q", p, e)
			}
		}
	})
}

func TestJunk(t *testing.T) {
	for name, want := range map[string]bool{
		".DS_Store": true, "._sentences.json": true, "desktop.ini": true, "Thumbs.db": true, "thumbs.db": true,
		"sentences.json": false, "GT0123": false, "_x": false,
	} {
		if got := Junk(name); got != want {
			t.Errorf("Junk(%q) = %v, want %v", name, got, want)
		}
	}
}
