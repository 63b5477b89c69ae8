package crypto

import (
	stdcrypto "crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/big"
	"os"
	"runtime"
	"strings"
	"syscall"

	"github.com/youmark/pkcs8"
)

// Errors returned when loading a private key; test with errors.Is. Their
// messages, and every error this file builds around them, name the problem
// and never the key material or the passphrase.
var (
	// ErrNotPEM means the input holds no PEM block at all (for example a DER
	// file, an empty file, or a key pasted without its BEGIN/END lines).
	ErrNotPEM = errors.New("not a PEM file (expected a -----BEGIN ... PRIVATE KEY----- block)")
	// ErrNotRSA means the input holds a private key of another algorithm
	// (EC, Ed25519, DSA, ...). Twilio wraps content keys with RSA only.
	ErrNotRSA = errors.New("not an RSA private key")
	// ErrKeyTooShort means the RSA modulus is shorter than MinRSABits.
	ErrKeyTooShort = errors.New("RSA key too short")
	// ErrWrongPassphrase means an encrypted key did not decrypt with the
	// passphrase given (including legacy PEM, which can "decrypt" with a wrong
	// passphrase and only fail when the result is parsed).
	ErrWrongPassphrase = errors.New("wrong passphrase for the private key")
	// ErrPublicKeyGiven means the input holds a public key or a certificate
	// where a private key is needed.
	ErrPublicKeyGiven = errors.New("a public key was given where the private key is needed")
	// ErrPassphraseRequired means the key is encrypted and no passphrase
	// source was given, or it returned an empty passphrase.
	ErrPassphraseRequired = errors.New("the private key is encrypted and a passphrase is required")
	// ErrInsecurePermissions means a key file is readable or writable by
	// group or others; LoadPrivateKeyFile refuses it, as ssh does, unless
	// LoadOptions.AllowInsecurePerms is set.
	ErrInsecurePermissions = errors.New("private key file is accessible by group or others")
	// ErrInvalidKey means a private key block was found but its content does
	// not parse (damaged file, unsupported encryption scheme, ...).
	ErrInvalidKey = errors.New("invalid private key")
)

// maxKeyFileSize bounds how much of a key file is read: a 16384-bit RSA key
// in PEM is about 13 KiB, so this only guards against pointing at a huge or
// endless file by mistake.
const maxKeyFileSize = 1 << 20

// pbkdf2Iterations is the PBKDF2-HMAC-SHA256 work factor used when
// MarshalPrivateKeyPEM encrypts a key: OWASP's 2023 figure for
// PBKDF2-HMAC-SHA256. openssl reads any count. A variable so tests can
// lower it.
var pbkdf2Iterations = 600_000

// ParsePrivateKeyPEM decodes an RSA private key of at least MinRSABits from
// PEM, in any of the forms customers have: PKCS#1 ("RSA PRIVATE KEY", from
// `openssl genrsa -traditional`), PKCS#8 ("PRIVATE KEY", `openssl genrsa`
// 3.x), encrypted PKCS#8 ("ENCRYPTED PRIVATE KEY", PBES2) and legacy
// encrypted PEM (Proc-Type: 4,ENCRYPTED with DEK-Info). Text around the PEM
// block is ignored; the first private key block is used.
//
// passphrase is called, at most once, only when the key is encrypted; it may
// be nil when no passphrase is available (an encrypted key then fails with
// ErrPassphraseRequired). An error it returns is wrapped and returned as is.
// ParsePrivateKeyPEM neither keeps nor modifies the slice it returns; the
// caller may zero it afterwards. The DER buffers decoded from data are zeroed
// before returning; data itself is left to the caller.
//
// Errors wrap ErrNotPEM, ErrNotRSA, ErrKeyTooShort, ErrWrongPassphrase,
// ErrPublicKeyGiven, ErrPassphraseRequired or ErrInvalidKey.
func ParsePrivateKeyPEM(data []byte, passphrase func() ([]byte, error)) (*rsa.PrivateKey, error) {
	block, err := findPrivateKeyBlock(data)
	if err != nil {
		return nil, err
	}
	defer clear(block.Bytes)

	key, err := parsePrivateKeyBlock(block, passphrase)
	if err != nil {
		return nil, err
	}
	if bits := key.N.BitLen(); bits < MinRSABits {
		ZeroPrivateKey(key)
		return nil, fmt.Errorf("%w: %d bits, need at least %d", ErrKeyTooShort, bits, MinRSABits)
	}
	return key, nil
}

// findPrivateKeyBlock returns the first PEM block that holds a private key,
// skipping blocks such as "EC PARAMETERS" that tools write alongside keys.
// Blocks that are not used are zeroed.
func findPrivateKeyBlock(data []byte) (*pem.Block, error) {
	var sawPEM bool
	var public string
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		sawPEM = true
		switch block.Type {
		case "RSA PRIVATE KEY", "PRIVATE KEY", "ENCRYPTED PRIVATE KEY":
			return block, nil
		case "EC PRIVATE KEY", "DSA PRIVATE KEY":
			clear(block.Bytes)
			return nil, fmt.Errorf("%w: PEM block is %q", ErrNotRSA, block.Type)
		case "OPENSSH PRIVATE KEY":
			clear(block.Bytes)
			return nil, fmt.Errorf("%w: OpenSSH key format is not supported; convert a copy with `ssh-keygen -p -m PKCS8 -f FILE`", ErrInvalidKey)
		case "PUBLIC KEY", "RSA PUBLIC KEY", "CERTIFICATE":
			if public == "" {
				public = block.Type
			}
		}
		clear(block.Bytes)
	}
	switch {
	case public != "":
		return nil, fmt.Errorf("%w (PEM block %q)", ErrPublicKeyGiven, public)
	case sawPEM:
		return nil, fmt.Errorf("%w: no private key block in the PEM data", ErrInvalidKey)
	}
	return nil, ErrNotPEM
}

// parsePrivateKeyBlock decodes one private key block, decrypting it first
// when it is encrypted.
func parsePrivateKeyBlock(block *pem.Block, passphrase func() ([]byte, error)) (*rsa.PrivateKey, error) {
	// Deprecated with DecryptPEMBlock; see decryptLegacyPEM for why it is used.
	legacy := x509.IsEncryptedPEMBlock(block) //nolint:staticcheck // SA1019: see decryptLegacyPEM.
	switch {
	case legacy:
		pw, err := getPassphrase(passphrase)
		if err != nil {
			return nil, err
		}
		return decryptLegacyPEM(block, pw)
	case block.Type == "ENCRYPTED PRIVATE KEY":
		pw, err := getPassphrase(passphrase)
		if err != nil {
			return nil, err
		}
		return decryptPKCS8(block.Bytes, pw)
	case block.Type == "RSA PRIVATE KEY":
		k, err := x509.ParsePKCS1PrivateKey(block.Bytes)
		if err != nil {
			return nil, pkcs1Error(block.Bytes)
		}
		return k, nil
	default: // "PRIVATE KEY"
		return parsePKCS8(block.Bytes)
	}
}

// getPassphrase asks the caller's passphrase source.
func getPassphrase(passphrase func() ([]byte, error)) ([]byte, error) {
	if passphrase == nil {
		return nil, ErrPassphraseRequired
	}
	pw, err := passphrase()
	if err != nil {
		return nil, fmt.Errorf("read passphrase: %w", err)
	}
	if len(pw) == 0 {
		return nil, ErrPassphraseRequired
	}
	return pw, nil
}

// pkcs1Error explains why a "RSA PRIVATE KEY" block did not parse: x509's
// own message is not passed on (it can describe the decoded content).
func pkcs1Error(der []byte) error {
	if _, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		return fmt.Errorf("%w: block labelled RSA PRIVATE KEY holds a PKCS#8 key", ErrInvalidKey)
	}
	return fmt.Errorf("%w: PKCS#1 RSA key does not parse", ErrInvalidKey)
}

// parsePKCS8 parses an unencrypted PKCS#8 DER key and insists on RSA.
func parsePKCS8(der []byte) (*rsa.PrivateKey, error) {
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("%w: PKCS#8 key does not parse", ErrInvalidKey)
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%w: key is %s", ErrNotRSA, keyKind(k))
	}
	return rk, nil
}

// decryptPKCS8 decrypts and parses an "ENCRYPTED PRIVATE KEY" (PBES2) with
// youmark/pkcs8. That library panics on some malformed inputs (ciphertext
// not a whole number of blocks, IV of the wrong size), so panics are turned
// into ErrInvalidKey. It cannot tell a wrong passphrase from garbage that
// decrypts to something unparsable; neither can anyone, so that is reported
// as a wrong passphrase. Its intermediate buffers (derived key, decrypted
// DER) are out of our reach and are not zeroed.
func decryptPKCS8(der, pw []byte) (key *rsa.PrivateKey, err error) {
	defer func() {
		if recover() != nil {
			key, err = nil, fmt.Errorf("%w: encrypted PKCS#8 structure is damaged", ErrInvalidKey)
		}
	}()
	k, err := pkcs8.ParsePKCS8PrivateKey(der, pw)
	if err != nil {
		if err.Error() == "pkcs8: incorrect password" {
			return nil, ErrWrongPassphrase
		}
		// Unsupported KDF or cipher, or a damaged structure. The library's
		// messages name OIDs only, never key material.
		return nil, fmt.Errorf("%w: encrypted PKCS#8: %v", ErrInvalidKey, err)
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		zeroAny(k)
		return nil, fmt.Errorf("%w: key is %s", ErrNotRSA, keyKind(k))
	}
	return rk, nil
}

// decryptLegacyPEM decrypts an RFC 1423 encrypted PEM block (Proc-Type:
// 4,ENCRYPTED, DEK-Info) as `openssl genrsa -aes256 -traditional` writes.
//
// x509.DecryptPEMBlock is deprecated because the format has no integrity
// check: a wrong passphrase is caught only by the CBC padding, which passes
// by chance about once in 256 tries. It is still the standard library's
// only reader of a format customers really have, so it is used here, and a
// result that then fails to parse is reported as a wrong passphrase.
func decryptLegacyPEM(block *pem.Block, pw []byte) (*rsa.PrivateKey, error) {
	der, err := x509.DecryptPEMBlock(block, pw) //nolint:staticcheck // SA1019: deprecated, but the only stdlib reader of legacy encrypted PEM; see above.
	if err != nil {
		if errors.Is(err, x509.IncorrectPasswordError) {
			return nil, ErrWrongPassphrase
		}
		return nil, fmt.Errorf("%w: legacy encrypted PEM (DEK-Info) cannot be decrypted", ErrInvalidKey)
	}
	defer clear(der)
	switch block.Type {
	case "RSA PRIVATE KEY":
		if k, err := x509.ParsePKCS1PrivateKey(der); err == nil {
			return k, nil
		}
	case "PRIVATE KEY":
		if k, err := x509.ParsePKCS8PrivateKey(der); err == nil {
			rk, ok := k.(*rsa.PrivateKey)
			if !ok {
				zeroAny(k)
				return nil, fmt.Errorf("%w: key is %s", ErrNotRSA, keyKind(k))
			}
			return rk, nil
		}
	}
	return nil, ErrWrongPassphrase
}

// keyKind names the algorithm of a non-RSA private key for an error message.
func keyKind(k any) string {
	switch k.(type) {
	case *ecdsa.PrivateKey:
		return "ECDSA"
	case ed25519.PrivateKey:
		return "Ed25519"
	case *ecdh.PrivateKey:
		return "ECDH (X25519)"
	}
	return fmt.Sprintf("%T", k)
}

// zeroAny zeroes what it can of a private key of a type we did not want.
func zeroAny(k any) {
	if rk, ok := k.(*rsa.PrivateKey); ok {
		ZeroPrivateKey(rk)
	}
}

// LoadOptions controls LoadPrivateKeyFile.
type LoadOptions struct {
	// Passphrase is asked for the passphrase when the key is encrypted; nil
	// when none is available. See ParsePrivateKeyPEM.
	Passphrase func() ([]byte, error)
	// AllowInsecurePerms accepts a key file that group or others can access.
	AllowInsecurePerms bool
}

// LoadPrivateKeyFile reads and parses an RSA private key file (see
// ParsePrivateKeyPEM). Like ssh, it refuses a file whose mode gives group or
// others any access (mode&0o077 != 0) with ErrInsecurePermissions, unless
// opts.AllowInsecurePerms; the check is skipped on Windows, where Unix modes
// mean nothing. The file's bytes are zeroed after parsing. Errors are
// *fs.PathError naming path and wrap the same sentinels as
// ParsePrivateKeyPEM.
func LoadPrivateKeyFile(path string, opts LoadOptions) (*rsa.PrivateKey, error) {
	pathErr := func(err error) error {
		return &fs.PathError{Op: "load private key", Path: path, Err: err}
	}
	f, fi, err := OpenRegularFile(path)
	if errors.Is(err, ErrNotRegular) {
		return nil, pathErr(fmt.Errorf("%w: not a regular file", ErrInvalidKey))
	}
	if err != nil {
		if pe := (*fs.PathError)(nil); errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, pathErr(err)
	}
	defer f.Close()
	perm := fi.Mode().Perm()
	insecure := perm&0o077 != 0 && !opts.AllowInsecurePerms && runtime.GOOS != "windows"
	data, err := readAllLimited(f, fi.Size())
	defer clear(data)
	if err != nil {
		return nil, pathErr(err)
	}
	if insecure {
		// A public key is readable by everyone by design (keygen writes
		// public_key.pem 0644): say that it is the wrong file before
		// asking for a chmod that would not help.
		if holdsOnlyPublicKey(data) {
			return nil, pathErr(fmt.Errorf("%w (a public key PEM)", ErrPublicKeyGiven))
		}
		return nil, pathErr(fmt.Errorf("%w (mode %#o); fix with: chmod 600 %s", ErrInsecurePermissions, perm, path))
	}
	key, err := ParsePrivateKeyPEM(data, opts.Passphrase)
	if err != nil {
		return nil, pathErr(err)
	}
	return key, nil
}

// ErrNotRegular is OpenRegularFile's refusal of a FIFO, device, socket or
// directory.
var ErrNotRegular = errors.New("not a regular file")

// OpenRegularFile opens path for reading only if it is a regular file. It
// checks before opening, and opens without blocking, because opening a
// FIFO for reading blocks until a writer appears: a FIFO given as a key,
// passphrase or env file would otherwise hang the program forever. The
// opened file is checked again (it is what the returned FileInfo, whose
// mode callers check, describes). Errors are *fs.PathError or wrap
// ErrNotRegular.
func OpenRegularFile(path string) (*os.File, fs.FileInfo, error) {
	if fi, err := os.Stat(path); err != nil {
		return nil, nil, err
	} else if !fi.Mode().IsRegular() {
		return nil, nil, fmt.Errorf("%s: %w", path, ErrNotRegular)
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() { // replaced between the two
		err = fmt.Errorf("%s: %w", path, ErrNotRegular)
	}
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, fi, nil
}

// holdsOnlyPublicKey reports whether data is PEM with a public key or
// certificate block and no private key block. Decoded blocks are zeroed.
func holdsOnlyPublicKey(data []byte) bool {
	public := false
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return public
		}
		clear(block.Bytes)
		switch block.Type {
		case "PUBLIC KEY", "RSA PUBLIC KEY", "CERTIFICATE":
			public = true
		default:
			if strings.Contains(block.Type, "PRIVATE KEY") {
				return false
			}
		}
	}
}

// readAllLimited reads f into one buffer sized from its stat, so that no
// partial copies of the key are left behind by buffer growth, and refuses
// files larger than maxKeyFileSize.
func readAllLimited(f *os.File, size int64) ([]byte, error) {
	if size > maxKeyFileSize {
		return nil, fmt.Errorf("%w: file is %d bytes, too large for a key", ErrInvalidKey, size)
	}
	buf := make([]byte, 0, size+1) // +1 to see EOF without growing
	for {
		n, err := f.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
		if len(buf) == cap(buf) {
			// The file grew since stat; grow by hand, wiping the old copy.
			if len(buf) > maxKeyFileSize {
				return buf, fmt.Errorf("%w: file too large for a key", ErrInvalidKey)
			}
			bigger := make([]byte, len(buf), 2*cap(buf)+512)
			copy(bigger, buf)
			clear(buf)
			buf = bigger
		}
	}
}

// MarshalPrivateKeyPEM encodes k as PKCS#8 PEM ("PRIVATE KEY"). When
// passphrase is non-nil the key is encrypted as "ENCRYPTED PRIVATE KEY":
// PBES2 with PBKDF2-HMAC-SHA256 and AES-256-CBC, which openssl and Python's
// cryptography read. An empty non-nil passphrase is refused. Intermediate DER
// buffers are zeroed; the returned PEM is the caller's to protect.
func MarshalPrivateKeyPEM(k *rsa.PrivateKey, passphrase []byte) ([]byte, error) {
	if passphrase != nil && len(passphrase) == 0 {
		return nil, errors.New("marshal private key: empty passphrase")
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("marshal private key: %w", err)
	}
	defer clear(der)
	if passphrase == nil {
		return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
	}
	enc, err := pkcs8.MarshalPrivateKey(k, passphrase, &pkcs8.Opts{
		Cipher: pkcs8.AES256CBC,
		KDFOpts: pkcs8.PBKDF2Opts{
			SaltSize:       16,
			IterationCount: pbkdf2Iterations,
			HMACHash:       stdcrypto.SHA256,
		},
	})
	if err != nil {
		return nil, fmt.Errorf("encrypt private key: %w", err)
	}
	defer clear(enc)
	return pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: enc}), nil
}

// ZeroPrivateKey overwrites the private parts of k (D, the primes and the
// CRT values) in place, for use when a key is dropped or the program exits.
//
// It is best effort, and says so: the standard library keeps its own copies
// that this package cannot reach (since Go 1.24, Precompute builds an
// internal FIPS-module key in an unexported field; older big.Int backing
// arrays may survive reallocation; garbage-collected temporaries of every RSA
// operation are not wiped). k must not be used afterwards.
func ZeroPrivateKey(k *rsa.PrivateKey) {
	if k == nil {
		return
	}
	zeroInt(k.D)
	for _, p := range k.Primes {
		zeroInt(p)
	}
	zeroInt(k.Precomputed.Dp)
	zeroInt(k.Precomputed.Dq)
	zeroInt(k.Precomputed.Qinv)
	for _, v := range k.Precomputed.CRTValues {
		zeroInt(v.Exp)
		zeroInt(v.Coeff)
		zeroInt(v.R)
	}
}

// zeroInt clears the words backing x and sets it to 0.
func zeroInt(x *big.Int) {
	if x == nil {
		return
	}
	w := x.Bits()
	clear(w[:cap(w)])
	x.SetInt64(0)
}
