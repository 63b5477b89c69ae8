package main

import (
	"bufio"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// startServe runs the binary with args (serve or demo --serve) and
// returns the URL it printed (with the token); the process is stopped at
// cleanup.
func startServe(t *testing.T, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command(testBinary(t), args...)
	cmd.Env = env
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
		}
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("serve printed no URL: %v", err)
	}
	return strings.TrimSpace(line)
}

// TestServeCommand: serve prints one line, a loopback URL with a 64-hex
// token, which opens the services page; without the token it is 403; a
// non-loopback --addr is refused without --allow-remote and TLS.
func TestServeCommand(t *testing.T) {
	sim, keyPath := searchSim(t)
	env := simEnv(sim)
	u := startServe(t, env, "serve", "--private-key", keyPath)
	if !regexp.MustCompile(`^http://127\.0\.0\.1:\d+/\?token=[0-9a-f]{64}$`).MatchString(u) {
		t.Fatalf("printed %q", u)
	}
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), sim.Services()[0].SID) {
		t.Errorf("with the token: %d", resp.StatusCode)
	}
	resp, err = http.Get(strings.Split(u, "?")[0] + "services")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("without the token: %d", resp.StatusCode)
	}
	oneErrorLine(t, runCLI(t, env, "serve", "--addr", "0.0.0.0:0"), 2, "--allow-remote")
	oneErrorLine(t, runCLI(t, env, "demo", "--serve", "/tmp/x"), 2, "no MOUNTPOINT")
	oneErrorLine(t, runCLI(t, env, "serve", "--addr", "0.0.0.0:0", "--allow-remote"), 2, "--tls-cert")
}

// TestDemoServe: demo --serve runs the viewer on the built-in simulator.
func TestDemoServe(t *testing.T) {
	u := startServe(t, baseEnv(), "demo", "--serve", "--transcripts", "3")
	jar, _ := cookiejar.New(nil)
	resp, err := (&http.Client{Jar: jar}).Get(u)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "call-centre-encrypted") {
		t.Errorf("demo --serve: %d %s", resp.StatusCode, body)
	}
}
