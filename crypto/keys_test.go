package crypto

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/youmark/pkcs8"
)

// fastKDF lowers the PBKDF2 work factor for the duration of a test.
func fastKDF(t *testing.T) {
	old := pbkdf2Iterations
	pbkdf2Iterations = 1000
	t.Cleanup(func() { pbkdf2Iterations = old })
}

const testPassphrase = "correct horse battery staple"

// passphrase returns a passphrase source that counts its calls.
func passphrase(s string, calls *int) func() ([]byte, error) {
	return func() ([]byte, error) {
		*calls++
		return []byte(s), nil
	}
}

func pemOf(typ string, der []byte, headers map[string]string) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der, Headers: headers})
}

// legacyPEM encrypts a PKCS#1 key the way `openssl genrsa -aes256 -traditional` does.
func legacyPEM(t testing.TB, k *rsa.PrivateKey, pw string) []byte {
	t.Helper()
	//nolint:staticcheck // SA1019: building the legacy format on purpose.
	block, err := x509.EncryptPEMBlock(rand.Reader, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(k), []byte(pw), x509.PEMCipherAES256)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(block)
}

// keyFormats renders k in every form ParsePrivateKeyPEM reads.
func keyFormats(t *testing.T, k *rsa.PrivateKey) map[string][]byte {
	t.Helper()
	pkcs8DER, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	enc, err := MarshalPrivateKeyPEM(k, []byte(testPassphrase))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := MarshalPrivateKeyPEM(k, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(plain, pemOf("PRIVATE KEY", pkcs8DER, nil)) {
		t.Fatal("MarshalPrivateKeyPEM(nil passphrase) is not plain PKCS#8")
	}
	return map[string][]byte{
		"pkcs1":           pemOf("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(k), nil),
		"pkcs8":           plain,
		"encrypted-pkcs8": enc,
		"legacy-pem":      legacyPEM(t, k, testPassphrase),
	}
}

func TestParsePrivateKeyPEMRoundTrip(t *testing.T) {
	fastKDF(t)
	for _, bits := range []int{2048, 3072, 4096} {
		key := testKey(t, bits, 0)
		env, err := Seal(&key.PublicKey, []byte("hello"))
		if err != nil {
			t.Fatal(err)
		}
		for name, data := range keyFormats(t, key) {
			t.Run(fmt.Sprintf("rsa%d/%s", bits, name), func(t *testing.T) {
				calls := 0
				encrypted := strings.Contains(name, "encrypted") || strings.Contains(name, "legacy")
				got, err := ParsePrivateKeyPEM(append([]byte("Bag Attributes: text before the block\n"), data...), passphrase(testPassphrase, &calls))
				if err != nil {
					t.Fatal(err)
				}
				if !got.Equal(key) {
					t.Fatal("parsed key differs")
				}
				if wantCalls := map[bool]int{true: 1, false: 0}[encrypted]; calls != wantCalls {
					t.Fatalf("passphrase asked %d times, want %d", calls, wantCalls)
				}
				if pt, err := Open(got, env, nil); err != nil || string(pt) != "hello" {
					t.Fatalf("parsed key cannot open: %v", err)
				}
			})
		}
	}
}

func TestParsePrivateKeyPEMErrors(t *testing.T) {
	fastKDF(t)
	key := testKey(t, 2048, 0)
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	key1024, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err) // Go refuses only < 1024 (rsa1024min)
	}
	must := func(b []byte, err error) []byte {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	ecPKCS8 := must(x509.MarshalPKCS8PrivateKey(ecKey))
	edPKCS8 := must(x509.MarshalPKCS8PrivateKey(edKey))
	ecSEC1 := must(x509.MarshalECPrivateKey(ecKey))
	pub := must(MarshalPublicKeyPEM(&key.PublicKey))
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "t"}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	cert := must(x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key))
	enc := must(MarshalPrivateKeyPEM(key, []byte(testPassphrase)))
	encEC := pemOf("ENCRYPTED PRIVATE KEY", must(pkcs8.MarshalPrivateKey(ecKey, []byte(testPassphrase), nil)), nil)
	// An encrypted PKCS#8 whose ciphertext is not whole AES blocks: the
	// library underneath panics on it; we must return an error.
	encBlock, _ := pem.Decode(enc)
	damaged := pemOf("ENCRYPTED PRIVATE KEY", damageEncryptedPKCS8(t, encBlock.Bytes), nil)
	pkcs1 := pemOf("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(key), nil)

	tests := []struct {
		name string
		data []byte
		pw   func() ([]byte, error)
		want error
	}{
		{"empty file", nil, nil, ErrNotPEM},
		{"random bytes", randBytes(t, 300), nil, ErrNotPEM},
		{"DER instead of PEM", x509.MarshalPKCS1PrivateKey(key), nil, ErrNotPEM},
		{"base64 without BEGIN line", bytes.Join(bytes.Split(pkcs1, []byte("\n"))[1:3], nil), nil, ErrNotPEM},
		{"ECDSA PKCS#8", pemOf("PRIVATE KEY", ecPKCS8, nil), nil, ErrNotRSA},
		{"Ed25519 PKCS#8", pemOf("PRIVATE KEY", edPKCS8, nil), nil, ErrNotRSA},
		{"EC PRIVATE KEY after EC PARAMETERS", append(pemOf("EC PARAMETERS", []byte{6, 8, 42, 134, 72, 206, 61, 3, 1, 7}, nil), pemOf("EC PRIVATE KEY", ecSEC1, nil)...), nil, ErrNotRSA},
		{"encrypted ECDSA PKCS#8", encEC, func() ([]byte, error) { return []byte(testPassphrase), nil }, ErrNotRSA},
		{"RSA 1024 PKCS#1", pemOf("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(key1024), nil), nil, ErrKeyTooShort},
		{"RSA 1024 PKCS#8", pemOf("PRIVATE KEY", must(x509.MarshalPKCS8PrivateKey(key1024)), nil), nil, ErrKeyTooShort},
		{"public key PKIX", pub, nil, ErrPublicKeyGiven},
		{"public key PKCS#1", pemOf("RSA PUBLIC KEY", x509.MarshalPKCS1PublicKey(&key.PublicKey), nil), nil, ErrPublicKeyGiven},
		{"certificate", pemOf("CERTIFICATE", cert, nil), nil, ErrPublicKeyGiven},
		{"wrong passphrase, encrypted PKCS#8", enc, func() ([]byte, error) { return []byte("wrong"), nil }, ErrWrongPassphrase},
		{"wrong passphrase, legacy PEM", legacyPEM(t, key, testPassphrase), func() ([]byte, error) { return []byte("wrong"), nil }, ErrWrongPassphrase},
		{"no passphrase source, encrypted PKCS#8", enc, nil, ErrPassphraseRequired},
		{"no passphrase source, legacy PEM", legacyPEM(t, key, testPassphrase), nil, ErrPassphraseRequired},
		{"empty passphrase", enc, func() ([]byte, error) { return nil, nil }, ErrPassphraseRequired},
		{"passphrase source fails", enc, func() ([]byte, error) { return nil, fs.ErrPermission }, fs.ErrPermission},
		{"damaged encrypted PKCS#8", damaged, func() ([]byte, error) { return []byte(testPassphrase), nil }, ErrInvalidKey},
		{"PKCS#1 labelled, PKCS#8 inside", pemOf("RSA PRIVATE KEY", must(x509.MarshalPKCS8PrivateKey(key)), nil), nil, ErrInvalidKey},
		{"truncated PKCS#1 DER", pemOf("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(key)[:500], nil), nil, ErrInvalidKey},
		{"OpenSSH key", pemOf("OPENSSH PRIVATE KEY", []byte("openssh-key-v1\x00"), nil), nil, ErrInvalidKey},
		{"unknown PEM block only", pemOf("X509 CRL", []byte{1, 2, 3}, nil), nil, ErrInvalidKey},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k, err := ParsePrivateKeyPEM(tc.data, tc.pw)
			if !errors.Is(err, tc.want) || k != nil {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			t.Log(err)
			checkErrorMessage(t, err, tc.data)
		})
	}
}

// checkErrorMessage fails if msg spans lines or shows the passphrase or key material.
func checkErrorMessage(t *testing.T, err error, keyPEM []byte) {
	t.Helper()
	msg := err.Error()
	if strings.Contains(msg, "\n") {
		t.Errorf("error is not one line: %q", msg)
	}
	if strings.Contains(msg, testPassphrase) || strings.Contains(msg, "wrong\"") {
		t.Errorf("error shows the passphrase: %q", msg)
	}
	// No 16-character run of the PEM body may appear in the message.
	for _, line := range strings.Split(string(keyPEM), "\n") {
		if len(line) >= 16 && !strings.HasPrefix(line, "-----") && !strings.Contains(line, ":") && strings.Contains(msg, line[:16]) {
			t.Errorf("error shows key material: %q", msg)
		}
	}
}

// TestLegacyWrongPassphraseAlwaysReported drives many wrong passphrases at a
// legacy PEM key: about one in 256 passes the CBC padding check and fails
// only at parsing, which must still read as a wrong passphrase.
func TestLegacyWrongPassphraseAlwaysReported(t *testing.T) {
	key := testKey(t, 2048, 0)
	data := legacyPEM(t, key, testPassphrase)
	block, _ := pem.Decode(data)
	paddingPassed := 0
	for i := 0; i < 2000; i++ {
		pw := []byte(fmt.Sprintf("wrong-%d", i))
		//nolint:staticcheck // SA1019: counting how often the padding check is fooled.
		if _, err := x509.DecryptPEMBlock(block, pw); err == nil {
			paddingPassed++
		}
		_, err := ParsePrivateKeyPEM(data, func() ([]byte, error) { return pw, nil })
		if !errors.Is(err, ErrWrongPassphrase) {
			t.Fatalf("passphrase %d: got %v, want ErrWrongPassphrase", i, err)
		}
	}
	t.Logf("%d of 2000 wrong passphrases passed the padding check", paddingPassed)
	if paddingPassed == 0 {
		t.Log("no wrong passphrase fooled the padding check this run; the parse-failure path was not exercised")
	}
}

func TestParseDoesNotKeepPassphrase(t *testing.T) {
	fastKDF(t)
	key := testKey(t, 2048, 0)
	enc, err := MarshalPrivateKeyPEM(key, []byte(testPassphrase))
	if err != nil {
		t.Fatal(err)
	}
	pw := []byte(testPassphrase)
	if _, err := ParsePrivateKeyPEM(enc, func() ([]byte, error) { return pw, nil }); err != nil {
		t.Fatal(err)
	}
	if string(pw) != testPassphrase {
		t.Fatal("ParsePrivateKeyPEM modified the caller's passphrase")
	}
}

func TestMarshalPrivateKeyPEMEmptyPassphrase(t *testing.T) {
	if _, err := MarshalPrivateKeyPEM(testKey(t, 2048, 0), []byte{}); err == nil {
		t.Fatal("empty passphrase accepted")
	}
}

func TestMarshalPrivateKeyPEMDefaultWorkFactor(t *testing.T) {
	// The real (slow) setting, once: it must round-trip.
	key := testKey(t, 2048, 0)
	enc, err := MarshalPrivateKeyPEM(key, []byte(testPassphrase))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(enc, []byte("-----BEGIN ENCRYPTED PRIVATE KEY-----")) {
		t.Fatalf("unexpected PEM type: %.40q", enc)
	}
	got, err := ParsePrivateKeyPEM(enc, func() ([]byte, error) { return []byte(testPassphrase), nil })
	if err != nil || !got.Equal(key) {
		t.Fatalf("round trip: %v", err)
	}
}

func writeKey(t *testing.T, dir, name string, data []byte, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil { // umask may have narrowed it
		t.Fatal(err)
	}
	return p
}

func TestLoadPrivateKeyFilePermissions(t *testing.T) {
	key := testKey(t, 2048, 0)
	data, err := MarshalPrivateKeyPEM(key, nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tests := []struct {
		mode  os.FileMode
		allow bool
		want  error
	}{
		{0o600, false, nil},
		{0o400, false, nil},
		{0o644, false, ErrInsecurePermissions},
		{0o640, false, ErrInsecurePermissions},
		{0o604, false, ErrInsecurePermissions},
		{0o620, false, ErrInsecurePermissions},
		{0o644, true, nil},
		{0o666, true, nil},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%#o/allow=%v", tc.mode, tc.allow), func(t *testing.T) {
			p := writeKey(t, dir, fmt.Sprintf("key-%o-%v.pem", tc.mode, tc.allow), data, tc.mode)
			k, err := LoadPrivateKeyFile(p, LoadOptions{AllowInsecurePerms: tc.allow})
			if tc.want == nil {
				if err != nil || !k.Equal(key) {
					t.Fatalf("load: %v", err)
				}
				return
			}
			if !errors.Is(err, tc.want) || k != nil {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			msg := err.Error()
			for _, want := range []string{p, fmt.Sprintf("%#o", tc.mode), "chmod 600 " + p} {
				if !strings.Contains(msg, want) {
					t.Errorf("message %q lacks %q", msg, want)
				}
			}
			var pe *fs.PathError
			if !errors.As(err, &pe) || pe.Path != p {
				t.Errorf("not a *fs.PathError for %s: %#v", p, err)
			}
		})
	}
}

func TestLoadPrivateKeyFileErrors(t *testing.T) {
	fastKDF(t)
	key := testKey(t, 2048, 0)
	dir := t.TempDir()
	enc, err := MarshalPrivateKeyPEM(key, []byte(testPassphrase))
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := MarshalPublicKeyPEM(&key.PublicKey)
	encPath := writeKey(t, dir, "enc.pem", enc, 0o600)

	if _, err := LoadPrivateKeyFile(filepath.Join(dir, "missing.pem"), LoadOptions{}); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "missing.pem") {
		t.Fatalf("missing file: %v", err)
	}
	if _, err := LoadPrivateKeyFile(dir, LoadOptions{}); err == nil {
		t.Fatal("a directory was accepted")
	}
	if _, err := LoadPrivateKeyFile(writeKey(t, dir, "pub.pem", pub, 0o600), LoadOptions{}); !errors.Is(err, ErrPublicKeyGiven) {
		t.Fatalf("public key: %v", err)
	}
	// keygen writes public_key.pem 0644: what it is comes before its mode.
	if _, err := LoadPrivateKeyFile(writeKey(t, dir, "pub644.pem", pub, 0o644), LoadOptions{}); !errors.Is(err, ErrPublicKeyGiven) || strings.Contains(err.Error(), "chmod") {
		t.Fatalf("public key 0644: %v", err)
	}
	_, err = LoadPrivateKeyFile(encPath, LoadOptions{Passphrase: func() ([]byte, error) { return []byte("nope"), nil }})
	if !errors.Is(err, ErrWrongPassphrase) || !strings.Contains(err.Error(), encPath) {
		t.Fatalf("wrong passphrase: %v", err)
	}
	checkErrorMessage(t, err, enc)
	k, err := LoadPrivateKeyFile(encPath, LoadOptions{Passphrase: func() ([]byte, error) { return []byte(testPassphrase), nil }})
	if err != nil || !k.Equal(key) {
		t.Fatalf("encrypted load: %v", err)
	}
	if _, err := LoadPrivateKeyFile(writeKey(t, dir, "big.pem", make([]byte, maxKeyFileSize+1), 0o600), LoadOptions{}); !errors.Is(err, ErrInvalidKey) {
		t.Fatalf("huge file: %v", err)
	}
}

func TestWriteKeyPair(t *testing.T) {
	fastKDF(t)
	key := testKey(t, 2048, 0)
	dir := t.TempDir()
	privPath, pubPath, err := WriteKeyPair(dir, key, []byte(testPassphrase), false)
	if err != nil {
		t.Fatal(err)
	}
	for p, mode := range map[string]os.FileMode{privPath: 0o600, pubPath: 0o644} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != mode {
			t.Errorf("%s: mode %#o, want %#o", p, fi.Mode().Perm(), mode)
		}
	}
	k, err := LoadPrivateKeyFile(privPath, LoadOptions{Passphrase: func() ([]byte, error) { return []byte(testPassphrase), nil }})
	if err != nil || !k.Equal(key) {
		t.Fatalf("load written key: %v", err)
	}
	pubData, _ := os.ReadFile(pubPath)
	if p, err := ParsePublicKeyPEM(pubData); err != nil || !p.Equal(&key.PublicKey) {
		t.Fatalf("public key: %v", err)
	}

	// No overwrite without force, and nothing is touched.
	other := testKey(t, 2048, 1)
	before, _ := os.ReadFile(privPath)
	if _, _, err := WriteKeyPair(dir, other, nil, false); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("overwrite without force: %v", err)
	}
	if err := WritePrivateKeyFile(privPath, other, nil, false); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("WritePrivateKeyFile without force: %v", err)
	}
	if after, _ := os.ReadFile(privPath); !bytes.Equal(before, after) {
		t.Fatal("refused write changed the file")
	}
	// With force it is replaced.
	if _, _, err := WriteKeyPair(dir, other, nil, true); err != nil {
		t.Fatal(err)
	}
	if k, err := LoadPrivateKeyFile(privPath, LoadOptions{}); err != nil || !k.Equal(other) {
		t.Fatalf("forced overwrite: %v", err)
	}
	// No temporary files left behind.
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Fatalf("directory holds %q, want only the two key files", names)
	}
	// A failed write leaves nothing behind either.
	if err := WritePrivateKeyFile(filepath.Join(dir, "nodir", "k.pem"), key, nil, false); err == nil {
		t.Fatal("write into a missing directory succeeded")
	}
}

func TestZeroPrivateKey(t *testing.T) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ZeroPrivateKey(k)
	for name, x := range map[string]*big.Int{"D": k.D, "P": k.Primes[0], "Q": k.Primes[1], "Dp": k.Precomputed.Dp, "Dq": k.Precomputed.Dq, "Qinv": k.Precomputed.Qinv} {
		if x.Sign() != 0 {
			t.Errorf("%s not zeroed", name)
		}
		for _, w := range x.Bits()[:cap(x.Bits())] {
			if w != 0 {
				t.Errorf("%s: backing words not zeroed", name)
				break
			}
		}
	}
	ZeroPrivateKey(nil) // no panic
}

// damageEncryptedPKCS8 cuts three bytes off the ciphertext inside an
// EncryptedPrivateKeyInfo, leaving a structure that parses but whose
// ciphertext is not a whole number of AES blocks.
func damageEncryptedPKCS8(t *testing.T, der []byte) []byte {
	t.Helper()
	var info struct {
		Algo pkix.AlgorithmIdentifier
		Data []byte
	}
	if _, err := asn1.Unmarshal(der, &info); err != nil {
		t.Fatal(err)
	}
	info.Data = info.Data[:len(info.Data)-3]
	out, err := asn1.Marshal(info)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
