package crypto

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"testing"
)

// Test keys are generated once per test binary (4096-bit generation takes
// seconds) and never written to the repository.
var (
	testKeysMu sync.Mutex
	testKeys   = map[string]*rsa.PrivateKey{}
)

// testKey returns the n-th test key of the given size, generating it on
// first use. Keys are shared across tests; tests must not modify them.
func testKey(tb testing.TB, bits, n int) *rsa.PrivateKey {
	tb.Helper()
	name := fmt.Sprintf("%d/%d", bits, n)
	testKeysMu.Lock()
	defer testKeysMu.Unlock()
	if k, ok := testKeys[name]; ok {
		return k
	}
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		tb.Fatalf("generate %d-bit key: %v", bits, err)
	}
	testKeys[name] = k
	return k
}

// sealWith builds an envelope with a chosen CEK and IV, bypassing Seal's
// fixed sizes, to test what Open accepts.
func sealWith(tb testing.TB, pub *rsa.PublicKey, cek, iv, plaintext []byte) Envelope {
	tb.Helper()
	wrapped, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, pub, cek, nil)
	if err != nil {
		tb.Fatalf("wrap CEK: %v", err)
	}
	var body []byte
	switch len(cek) {
	case 16, 24, 32:
		block, err := aes.NewCipher(cek)
		if err != nil {
			tb.Fatal(err)
		}
		aead, err := cipher.NewGCMWithNonceSize(block, len(iv))
		if err != nil { // an IV GCM refuses: shape only
			body = append(bytes.Clone(plaintext), make([]byte, TagSize)...)
			break
		}
		body = aead.Seal(nil, iv, plaintext, nil)
	default:
		// No valid AES key: a body of the right shape that cannot verify.
		body = append(bytes.Clone(plaintext), make([]byte, TagSize)...)
	}
	return Envelope{WrappedKey: wrapped, IV: bytes.Clone(iv), Body: body}
}

// randBytes returns n random bytes.
func randBytes(tb testing.TB, n int) []byte {
	tb.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		tb.Fatal(err)
	}
	return b
}

// requireTools reports whether external tools must be present: CI sets
// INTELLIGENCEFS_REQUIRE_TOOLS=1 so a missing tool fails instead of skipping.
func requireTools() bool { return os.Getenv("INTELLIGENCEFS_REQUIRE_TOOLS") == "1" }

// missingTool skips the test, or fails it when tools are required.
func missingTool(tb testing.TB, format string, args ...any) {
	tb.Helper()
	msg := fmt.Sprintf(format, args...)
	if requireTools() {
		tb.Fatalf("%s (INTELLIGENCEFS_REQUIRE_TOOLS=1)", msg)
	}
	tb.Skipf("%s; set INTELLIGENCEFS_REQUIRE_TOOLS=1 to make this a failure", msg)
}

// opensslPath returns the openssl CLI or skips/fails.
func opensslPath(tb testing.TB) string {
	tb.Helper()
	p, err := exec.LookPath("openssl")
	if err != nil {
		missingTool(tb, "openssl CLI not found in PATH")
	}
	return p
}

var (
	pythonOnce sync.Once
	pythonPath string
	pythonWhy  string
)

// python returns a python3 that can import cryptography, or skips/fails.
func python(tb testing.TB) string {
	tb.Helper()
	pythonOnce.Do(func() {
		var tried []string
		for _, cand := range []string{"python3", "/usr/bin/python3"} {
			p, err := exec.LookPath(cand)
			if err != nil {
				tried = append(tried, cand+": not found")
				continue
			}
			if out, err := exec.Command(p, "-c", "import cryptography").CombinedOutput(); err != nil {
				tried = append(tried, fmt.Sprintf("%s: cannot import cryptography (%s)", p, bytes.TrimSpace(out)))
				continue
			}
			pythonPath = p
			return
		}
		pythonWhy = fmt.Sprintf("no python3 with the cryptography package (tried %q; install python3-cryptography)", tried)
	})
	if pythonPath == "" {
		missingTool(tb, "%s", pythonWhy)
	}
	return pythonPath
}

// run runs a command and fails the test with its stderr on error.
func run(tb testing.TB, stdin []byte, name string, args ...string) []byte {
	tb.Helper()
	cmd := exec.Command(name, args...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		tb.Fatalf("%s %q: %v\n%s", name, args, err, stderr.Bytes())
	}
	return out
}
