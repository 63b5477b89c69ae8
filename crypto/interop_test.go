package crypto

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Interop with the tools customers use: keys made by the openssl CLI,
// envelopes sealed by Python's cryptography package, and Twilio's own
// decrypt script reading what Seal produces. Missing tools skip these tests
// unless INTELLIGENCEFS_REQUIRE_TOOLS=1.

// pyEnvelope is what testdata/twilio_seal.py prints.
type pyEnvelope struct {
	Key, IV, Body string
}

// pythonSeal seals plaintext with testdata/twilio_seal.py under the public
// key in pubPath and returns the header values and the body.
func pythonSeal(t *testing.T, py, pubPath string, plaintext []byte, keySize, ivSize int) (keyB64, ivB64 string, body []byte) {
	t.Helper()
	out := run(t, plaintext, py, filepath.Join("testdata", "twilio_seal.py"),
		"--key-size", fmt.Sprint(keySize), "--iv-size", fmt.Sprint(ivSize), pubPath)
	var e pyEnvelope
	if err := json.Unmarshal(out, &e); err != nil {
		t.Fatalf("twilio_seal.py output: %v", err)
	}
	body, err := base64.StdEncoding.DecodeString(e.Body)
	if err != nil {
		t.Fatal(err)
	}
	return e.Key, e.IV, body
}

func writeFile(t *testing.T, path string, data []byte, mode os.FileMode) string {
	t.Helper()
	if err := os.WriteFile(path, data, mode); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestInteropOpenSSLKeys(t *testing.T) {
	openssl := opensslPath(t)
	py := python(t)
	dir := t.TempDir()
	pwFile := writeFile(t, filepath.Join(dir, "pw"), []byte(testPassphrase+"\n"), 0o600)
	trad2048 := filepath.Join(dir, "trad2048.pem")
	run(t, nil, openssl, "genrsa", "-traditional", "-out", trad2048, "2048")

	tests := []struct {
		name      string
		make      []string // openssl arguments; OUT is replaced by the key path
		header    string   // the PEM type openssl is expected to write
		encrypted bool
	}{
		{"genrsa -traditional (PKCS#1)", nil, "RSA PRIVATE KEY", false},
		{"genrsa 2048 (PKCS#8)", []string{"genrsa", "-out", "OUT", "2048"}, "PRIVATE KEY", false},
		{"genrsa 3072 (PKCS#8)", []string{"genrsa", "-out", "OUT", "3072"}, "PRIVATE KEY", false},
		{"genrsa 4096 (PKCS#8)", []string{"genrsa", "-out", "OUT", "4096"}, "PRIVATE KEY", false},
		{"pkcs8 -topk8 -nocrypt", []string{"pkcs8", "-topk8", "-nocrypt", "-in", trad2048, "-out", "OUT"}, "PRIVATE KEY", false},
		{"pkcs8 -topk8 -v2 aes-256-cbc", []string{"pkcs8", "-topk8", "-v2", "aes-256-cbc", "-in", trad2048, "-out", "OUT", "-passout", "file:" + pwFile}, "ENCRYPTED PRIVATE KEY", true},
		{"pkcs8 -topk8 -scrypt", []string{"pkcs8", "-topk8", "-scrypt", "-in", trad2048, "-out", "OUT", "-passout", "file:" + pwFile}, "ENCRYPTED PRIVATE KEY", true},
		{"pkcs8 -topk8 -v2 des3", []string{"pkcs8", "-topk8", "-v2", "des3", "-in", trad2048, "-out", "OUT", "-passout", "file:" + pwFile}, "ENCRYPTED PRIVATE KEY", true},
		{"genrsa -aes256 (encrypted PKCS#8)", []string{"genrsa", "-aes256", "-passout", "file:" + pwFile, "-out", "OUT", "2048"}, "ENCRYPTED PRIVATE KEY", true},
		{"genrsa -aes256 -traditional (legacy PEM)", []string{"genrsa", "-aes256", "-traditional", "-passout", "file:" + pwFile, "-out", "OUT", "2048"}, "RSA PRIVATE KEY", true},
		{"genrsa -aes128 -traditional (legacy PEM)", []string{"genrsa", "-aes128", "-traditional", "-passout", "file:" + pwFile, "-out", "OUT", "3072"}, "RSA PRIVATE KEY", true},
	}
	plaintext := []byte(`{"sentences":[{"media_channel":1,"sentence_index":0,"start_time":0.1,"end_time":1.2,"transcript":"Hello, how can I help?"}]}`)
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			keyPath := trad2048
			if tc.make != nil {
				keyPath = filepath.Join(dir, fmt.Sprintf("key%d.pem", i))
				args := append([]string(nil), tc.make...)
				for j := range args {
					if args[j] == "OUT" {
						args[j] = keyPath
					}
				}
				run(t, nil, openssl, args...)
			}
			if err := os.Chmod(keyPath, 0o600); err != nil {
				t.Fatal(err)
			}
			data, _ := os.ReadFile(keyPath)
			if !bytes.HasPrefix(data, []byte("-----BEGIN "+tc.header+"-----")) {
				t.Fatalf("openssl wrote %.40q, expected a %s block", data, tc.header)
			}
			if tc.encrypted != bytes.Contains(data, []byte("ENCRYPTED")) {
				t.Fatalf("encrypted=%v but file says otherwise", tc.encrypted)
			}
			pubArgs := []string{"rsa", "-in", keyPath, "-pubout"}
			if tc.encrypted {
				pubArgs = append(pubArgs, "-passin", "file:"+pwFile)
			}
			pubPEM := run(t, nil, openssl, pubArgs...)
			pubPath := writeFile(t, keyPath+".pub", pubPEM, 0o644)

			opts := LoadOptions{Passphrase: func() ([]byte, error) { return []byte(testPassphrase), nil }}
			key, err := LoadPrivateKeyFile(keyPath, opts)
			if err != nil {
				t.Fatal(err)
			}
			// Our public key encoding is byte for byte openssl's.
			ours, err := MarshalPublicKeyPEM(&key.PublicKey)
			if err != nil || !bytes.Equal(ours, pubPEM) {
				t.Fatalf("MarshalPublicKeyPEM differs from openssl rsa -pubout:\n%s\n%s", ours, pubPEM)
			}
			// An envelope sealed by Python with openssl's public key opens.
			kB64, ivB64, body := pythonSeal(t, py, pubPath, plaintext, 32, 12)
			env, err := ParseEnvelope(kB64, ivB64, body)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Open(key, env, nil)
			if err != nil || !bytes.Equal(got, plaintext) {
				t.Fatalf("open: %v", err)
			}
			if tc.encrypted {
				_, err := LoadPrivateKeyFile(keyPath, LoadOptions{Passphrase: func() ([]byte, error) { return []byte("not it"), nil }})
				if !errors.Is(err, ErrWrongPassphrase) {
					t.Fatalf("wrong passphrase: got %v", err)
				}
				if _, err := LoadPrivateKeyFile(keyPath, LoadOptions{}); !errors.Is(err, ErrPassphraseRequired) {
					t.Fatalf("no passphrase: got %v", err)
				}
			}
		})
	}
}

func TestInteropOpenSSLRejects(t *testing.T) {
	openssl := opensslPath(t)
	dir := t.TempDir()
	gen := func(name string, args ...string) string {
		p := filepath.Join(dir, name)
		// genrsa wants the key size last: put -out right after the command.
		run(t, nil, openssl, append([]string{args[0], "-out", p}, args[1:]...)...)
		os.Chmod(p, 0o600)
		return p
	}
	tests := []struct {
		name string
		path string
		want error
	}{
		{"RSA 1024", gen("rsa1024.pem", "genrsa", "1024"), ErrKeyTooShort},
		{"RSA 1024 traditional", gen("rsa1024t.pem", "genrsa", "-traditional", "1024"), ErrKeyTooShort},
		{"EC (ecparam -genkey)", gen("ec.pem", "ecparam", "-name", "prime256v1", "-genkey"), ErrNotRSA},
		{"EC PKCS#8 (genpkey)", gen("ec8.pem", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"), ErrNotRSA},
		{"Ed25519 (genpkey)", gen("ed.pem", "genpkey", "-algorithm", "ed25519"), ErrNotRSA},
	}
	tests = append(tests, struct {
		name string
		path string
		want error
	}{"DER (pkey -outform DER)", gen("der.key", "pkey", "-in", tests[0].path, "-outform", "DER"), ErrNotPEM})
	pubPath := filepath.Join(dir, "pub.pem")
	run(t, nil, openssl, "rsa", "-in", tests[0].path, "-pubout", "-out", pubPath)
	os.Chmod(pubPath, 0o600)
	tests = append(tests, struct {
		name string
		path string
		want error
	}{"public key (rsa -pubout)", pubPath, ErrPublicKeyGiven})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadPrivateKeyFile(tc.path, LoadOptions{})
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.path) {
				t.Errorf("error %q does not name the file", err)
			}
		})
	}
}

// TestInteropPythonSealedOpens: envelopes from Python's cryptography, at
// every IV size the reference decryptors accept, open; 16- and 24-byte
// content keys, which those accept too, are refused as malformed: Twilio
// seals with AES-256.
func TestInteropPythonSealedOpens(t *testing.T) {
	py := python(t)
	dir := t.TempDir()
	for _, bits := range []int{2048, 4096} {
		key := testKey(t, bits, 0)
		pub, _ := MarshalPublicKeyPEM(&key.PublicKey)
		pubPath := writeFile(t, filepath.Join(dir, fmt.Sprintf("pub%d.pem", bits)), pub, 0o644)
		ring := NewKeyring()
		ring.Add(key, "")
		cases := []struct{ keySize, ivSize, n int }{
			{32, 12, 0}, {32, 12, 1}, {32, 12, 1 << 20}, {16, 12, 100}, {24, 12, 100},
			{32, 8, 100}, {32, 16, 100}, {32, 128, 100},
		}
		for _, c := range cases {
			t.Run(fmt.Sprintf("rsa%d/cek%d/iv%d/%dB", bits, c.keySize, c.ivSize, c.n), func(t *testing.T) {
				pt := randBytes(t, c.n)
				kB64, ivB64, body := pythonSeal(t, py, pubPath, pt, c.keySize, c.ivSize)
				env, err := ParseEnvelope(kB64, ivB64, body)
				if err != nil {
					t.Fatal(err)
				}
				buf := make([]byte, 0, env.PlaintextLen())
				got, err := ring.Open("CRpython", env, buf)
				if c.keySize != CEKSize {
					if !errors.Is(err, ErrMalformed) || got != nil {
						t.Fatalf("a %d-byte content key: %v, want ErrMalformed", c.keySize, err)
					}
					return
				}
				if err != nil || !bytes.Equal(got, pt) {
					t.Fatalf("open: %v", err)
				}
				// And a flipped bit fails authentication, as in Python.
				env.Body = flip(env.Body, len(env.Body)-1)
				if _, err := ring.Open("CRpython", env, nil); !errors.Is(err, ErrAuth) {
					t.Fatalf("tampered: got %v, want ErrAuth", err)
				}
			})
		}
	}
}

// TestInteropTwilioScriptDecryptsSeal: Twilio's documented decrypt steps
// (testdata/twilio_decrypt.py) read what Seal writes, with keys in the forms
// MarshalPrivateKeyPEM writes.
func TestInteropTwilioScriptDecryptsSeal(t *testing.T) {
	py := python(t)
	dir := t.TempDir()
	pwFile := writeFile(t, filepath.Join(dir, "pw"), []byte(testPassphrase), 0o600)
	for _, bits := range []int{2048, 3072, 4096} {
		key := testKey(t, bits, 0)
		for _, encrypted := range []bool{false, true} {
			for _, n := range []int{0, 4 << 10, 1 << 20} {
				t.Run(fmt.Sprintf("rsa%d/encrypted=%v/%dB", bits, encrypted, n), func(t *testing.T) {
					var pw []byte
					if encrypted {
						pw = []byte(testPassphrase)
						fastKDF(t)
					}
					keyPath := filepath.Join(dir, fmt.Sprintf("key-%d-%v-%d", bits, encrypted, n))
					if err := WritePrivateKeyFile(keyPath, key, pw, false); err != nil {
						t.Fatal(err)
					}
					pt := randBytes(t, n)
					env, err := Seal(&key.PublicKey, pt)
					if err != nil {
						t.Fatal(err)
					}
					bodyPath := writeFile(t, keyPath+".enc", env.Body, 0o600) // ciphertext only
					args := []string{filepath.Join("testdata", "twilio_decrypt.py"),
						"--encrypted-key", env.EncodedKey(), "--iv", env.EncodedIV(), "--private-key", keyPath}
					if encrypted {
						args = append(args, "--passphrase-file", pwFile)
					}
					got := run(t, nil, py, append(args, bodyPath)...)
					if !bytes.Equal(got, pt) {
						t.Fatalf("twilio_decrypt.py produced %d bytes, want %d (differs)", len(got), len(pt))
					}
				})
			}
		}
	}
}

// TestInteropOpenSSLReadsOurEncryptedKey: the encrypted PKCS#8 we write, at
// the real work factor, is read by openssl.
func TestInteropOpenSSLReadsOurEncryptedKey(t *testing.T) {
	openssl := opensslPath(t)
	dir := t.TempDir()
	key := testKey(t, 2048, 0)
	privPath, pubPath, err := WriteKeyPair(dir, key, []byte(testPassphrase), false)
	if err != nil {
		t.Fatal(err)
	}
	pwFile := writeFile(t, filepath.Join(dir, "pw"), []byte(testPassphrase), 0o600)
	got := run(t, nil, openssl, "pkey", "-in", privPath, "-passin", "file:"+pwFile, "-pubout")
	want, _ := os.ReadFile(pubPath)
	if !bytes.Equal(got, want) {
		t.Fatalf("openssl pkey -pubout of our key:\n%s\nwant (our public_key.pem):\n%s", got, want)
	}
	asn1 := run(t, nil, openssl, "asn1parse", "-in", privPath)
	for _, want := range []string{"PBES2", "PBKDF2", "aes-256-cbc", "hmacWithSHA256"} {
		if !bytes.Contains(asn1, []byte(want)) {
			t.Errorf("encrypted key lacks %s:\n%s", want, asn1)
		}
	}
	if err := exec.Command(openssl, "pkey", "-in", privPath, "-passin", "pass:wrong", "-noout").Run(); err == nil {
		t.Error("openssl accepted a wrong passphrase for our key")
	}
}
