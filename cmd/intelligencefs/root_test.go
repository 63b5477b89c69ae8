package main

import (
	"os"
	"slices"
	"testing"
)

// TestRootCommands: the root lists every command exactly once (the list in
// subcommands replaced registration from init functions, so a command left
// out of it would silently vanish from the program).
func TestRootCommands(t *testing.T) {
	root := (&app{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv}).newRootCmd()
	var got []string
	for _, c := range root.Commands() {
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
