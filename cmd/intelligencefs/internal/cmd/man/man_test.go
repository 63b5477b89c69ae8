package man

import (
	"path/filepath"
	"testing"
)

// TestDefaultManDir: root writes where man looks system-wide; a user under
// $XDG_DATA_HOME, else ~/.local/share; with neither, a usage error.
func TestDefaultManDir(t *testing.T) {
	home := t.TempDir()
	for _, tt := range []struct {
		name string
		euid int
		env  map[string]string
		want string // "" for an error
	}{
		{"root", 0, nil, "/usr/local/share/man/man1"},
		{"xdg", 1000, map[string]string{"XDG_DATA_HOME": "/x/data", "HOME": home}, "/x/data/man/man1"},
		{"relative xdg ignored", 1000, map[string]string{"XDG_DATA_HOME": "data", "HOME": home}, filepath.Join(home, ".local/share/man/man1")},
		{"home", 1000, map[string]string{"HOME": home}, filepath.Join(home, ".local/share/man/man1")},
		{"nothing", 1000, nil, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := defaultManDir(tt.euid, func(k string) string { return tt.env[k] })
			if tt.want == "" {
				if err == nil {
					t.Fatalf("got %q, want an error", got)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}
