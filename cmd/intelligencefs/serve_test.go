package main

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
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

// TestServeCommand: serve prints one line, a URL on a name of its own
// (ifs-<random>.localhost, which browsers resolve to the loopback address)
// with a 64-hex token, which opens the services page; the listener's
// 127.0.0.1 address redirects there and sets no cookie (browsers send a
// 127.0.0.1 cookie to every port of it); without the token it is 403; a
// non-loopback --addr is refused without --allow-remote and TLS, a
// wildcard one without --host.
func TestServeCommand(t *testing.T) {
	sim, keyPath := searchSim(t)
	env := simEnv(sim)
	u := startServe(t, env, "serve", "--private-key", keyPath)
	m := regexp.MustCompile(`^http://(ifs-[0-9a-f]{16}\.localhost):(\d+)/\?token=[0-9a-f]{64}$`).FindStringSubmatch(u)
	if m == nil {
		t.Fatalf("printed %q", u)
	}
	if other := startServe(t, env, "serve", "--private-key", keyPath); strings.Contains(other, m[1]) {
		t.Errorf("two viewers share the name %s", m[1])
	}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp0, err := noRedirect.Get("http://127.0.0.1:" + m[2] + "/?" + strings.SplitN(u, "?", 2)[1])
	if err != nil {
		t.Fatal(err)
	}
	resp0.Body.Close()
	if loc := resp0.Header.Get("Location"); resp0.StatusCode != http.StatusTemporaryRedirect || !strings.HasPrefix(loc, "http://"+m[1]+":"+m[2]+"/") || len(resp0.Cookies()) != 0 {
		t.Errorf("127.0.0.1: %d to %q with cookies %v; want a redirect to the viewer's name and no cookie", resp0.StatusCode, loc, resp0.Cookies())
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
	oneErrorLine(t, runCLI(t, env, "serve", "--addr", "0.0.0.0:0", "--allow-remote", "--tls-cert", "c.pem", "--tls-key", "k.pem"), 2, "--host")
	oneErrorLine(t, runCLI(t, env, "serve", "--host", "https://x.example/"), 2, "--host")
}

// TestServeWildcard: --addr 0.0.0.0:P --allow-remote with --host NAME
// answers requests naming NAME:P over TLS (it listened on [::]:P and
// refused every request's Host before), and refuses a Host naming the
// listener's address.
func TestServeWildcard(t *testing.T) {
	sim, keyPath := searchSim(t)
	env := simEnv(sim)
	certPath, keyPEM := selfSignedCert(t, "viewer.example.org")
	u := startServe(t, env, "serve", "--private-key", keyPath, "--addr", "0.0.0.0:0", "--allow-remote",
		"--tls-cert", certPath, "--tls-key", keyPEM, "--host", "viewer.example.org")
	m := regexp.MustCompile(`^https://viewer\.example\.org:(\d+)/\?token=([0-9a-f]{64})$`).FindStringSubmatch(u)
	if m == nil {
		t.Fatalf("printed %q", u)
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} // a test certificate
	for host, want := range map[string]int{"viewer.example.org:" + m[1]: http.StatusSeeOther, "127.0.0.1:" + m[1]: http.StatusForbidden, "[::]:" + m[1]: http.StatusForbidden} {
		req, _ := http.NewRequest("GET", "https://127.0.0.1:"+m[1]+"/?token="+m[2], nil)
		req.Host = host
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("Host %s: %d, want %d", host, resp.StatusCode, want)
		}
		if want == http.StatusSeeOther {
			ck := resp.Cookies()
			if len(ck) != 1 || !strings.HasPrefix(ck[0].Name, "__Host-") || !ck[0].Secure {
				t.Errorf("the cookie over TLS: %+v, want a Secure __Host- cookie", ck)
			}
		}
	}
}

// selfSignedCert writes a self-signed certificate for name and its key,
// and returns their paths.
func selfSignedCert(t *testing.T, name string) (certPath, keyPath string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certPath, keyPath = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certPath, keyPath
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
