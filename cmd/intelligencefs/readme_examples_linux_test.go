//go:build linux

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// readmeExamples returns the shell commands and the Python program of
// README.md's "## Examples" section, as written.
func readmeExamples(t *testing.T) (sh []string, py string) {
	t.Helper()
	in, block := false, ""
	var pyLines []string
	for _, l := range readmeLines(t) {
		switch {
		case strings.HasPrefix(l, "## "):
			in = l == "## Examples"
		case !in:
		case block == "" && strings.HasPrefix(l, "```"):
			block = strings.TrimPrefix(l, "```")
		case block != "" && l == "```":
			block = ""
		case block == "sh" && strings.TrimSpace(l) != "":
			sh = append(sh, l)
		case block == "python":
			pyLines = append(pyLines, l)
		}
	}
	if len(sh) < 5 || len(pyLines) == 0 {
		t.Fatalf("README's Examples section: %d shell lines, %d Python lines", len(sh), len(pyLines))
	}
	return sh, strings.Join(pyLines, "\n") + "\n"
}

// TestREADMEExamples runs every command of README's Examples against a
// demo mount, as written except for the mount point (/tmp/ci there, a
// fresh folder here) and HOME (a fresh folder, for the tar example): each
// must succeed and print something (or, for tar, write an archive of the
// day's transcripts).
func TestREADMEExamples(t *testing.T) {
	needFUSE(t)
	needTool(t, "rg")
	needTool(t, "jq")
	needTool(t, "python3")
	sh, py := readmeExamples(t)
	mnt := newMountPoint(t)
	home := t.TempDir()
	p := startMount(t, baseEnv(), mnt, "demo", mnt)
	p.waitServing(t, 20*time.Second)
	env := []string{"HOME=" + home, "PATH=" + os.Getenv("PATH"), "LC_ALL=C.UTF-8"}
	local := func(s string) string { return strings.ReplaceAll(s, "/tmp/ci", mnt) }

	cwd := ""
	for _, line := range sh {
		if dir, ok := strings.CutPrefix(line, "cd "); ok {
			cwd = local(strings.TrimSpace(dir))
			continue
		}
		if cwd == "" {
			t.Fatalf("README example %q runs before any cd", line)
		}
		t.Run(strings.Fields(line)[0], func(t *testing.T) {
			// As an interactive shell runs it (no pipefail: `| head`
			// ends its writer with SIGPIPE on purpose).
			cmd := exec.Command("bash", "-c", `cd "$0" && eval "$1"`, cwd, local(line))
			cmd.Env = env
			out, err := cmd.Output()
			var stderr string
			if ee, ok := err.(*exec.ExitError); ok {
				stderr = string(ee.Stderr)
			}
			if err != nil {
				t.Fatalf("%s: %v\n%s", line, err, stderr)
			}
			if strings.HasPrefix(line, "tar ") {
				archives, _ := filepath.Glob(filepath.Join(home, "*.tgz"))
				if len(archives) != 1 {
					t.Fatalf("%s wrote %v", line, archives)
				}
				list, err := exec.Command("tar", "-tzf", archives[0]).Output()
				if err != nil || !strings.Contains(string(list), "/sentences.json") {
					t.Fatalf("%s: the archive holds no transcript content: %v\n%s", line, err, list)
				}
				return
			}
			if strings.TrimSpace(string(out)) == "" {
				t.Errorf("%s printed nothing against the demo", line)
			}
		})
	}
	t.Run("python", func(t *testing.T) {
		cmd := exec.Command("python3", "-c", local(py))
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil || strings.Count(string(out), "GT") < 10 {
			t.Errorf("the Python example: %v\n%s", err, out)
		}
	})
	if code := p.exitWithin(t, syscall.SIGINT, 2*time.Second); code != 0 {
		t.Fatalf("demo exit %d", code)
	}
}
