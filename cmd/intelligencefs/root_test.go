package main

import (
	"os"
	"slices"
	"testing"

	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/factory"
	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/root"
)

// TestRootCommands: the root lists every command exactly once (the list in
// subcommands replaced registration from init functions, so a command left
// out of it would silently vanish from the program).
func TestRootCommands(t *testing.T) {
	tree := root.NewCmd(&factory.Factory{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv})
	var got []string
	for _, c := range tree.Commands() {
		if c.Name() != "help" && c.Name() != "completion" {
			got = append(got, c.Name())
		}
	}
	want := []string{"cat", "decrypt", "demo", "doctor", "keygen", "keys", "man", "mount",
		"sealed-cache", "search", "serve", "services", "transcripts", "version"}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("root commands %q, want %q", got, want)
	}
}
