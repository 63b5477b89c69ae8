package crypto

import (
	"crypto/rsa"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
)

// File names WriteKeyPair uses, the ones Twilio's set-up guide uses.
const (
	PrivateKeyFileName = "private_key.pem"
	PublicKeyFileName  = "public_key.pem"
)

// WritePrivateKeyFile writes key to path as MarshalPrivateKeyPEM encodes it
// (encrypted when passphrase is non-nil), mode 0600. The file appears
// atomically (a temporary file in the same directory, synced, then moved into
// place), so a crash leaves either no file or a whole one. An existing path
// is refused with an error wrapping fs.ErrExist unless force.
func WritePrivateKeyFile(path string, key *rsa.PrivateKey, passphrase []byte, force bool) error {
	data, err := MarshalPrivateKeyPEM(key, passphrase)
	if err != nil {
		return err
	}
	defer clear(data)
	return writeFileAtomic(path, data, 0o600, force)
}

// WritePublicKeyFile writes pub to path as a PKIX "PUBLIC KEY" PEM block,
// byte for byte what `openssl rsa -pubout` writes, mode 0644, atomically;
// an existing path is refused unless force.
func WritePublicKeyFile(path string, pub *rsa.PublicKey, force bool) error {
	data, err := MarshalPublicKeyPEM(pub)
	if err != nil {
		return err
	}
	return writeFileAtomic(path, data, 0o644, force)
}

// WriteKeyPair writes key's private half to dir/private_key.pem (0600, see
// WritePrivateKeyFile) and its public half to dir/public_key.pem (0644),
// returning both paths. Unless force, it refuses (fs.ErrExist) before
// writing anything when either file exists.
func WriteKeyPair(dir string, key *rsa.PrivateKey, passphrase []byte, force bool) (privPath, pubPath string, err error) {
	privPath = filepath.Join(dir, PrivateKeyFileName)
	pubPath = filepath.Join(dir, PublicKeyFileName)
	if !force {
		for _, p := range []string{privPath, pubPath} {
			if _, err := os.Lstat(p); err == nil {
				return "", "", &fs.PathError{Op: "write key", Path: p, Err: fmt.Errorf("%w (use force to overwrite)", fs.ErrExist)}
			}
		}
	}
	if err := WritePrivateKeyFile(privPath, key, passphrase, force); err != nil {
		return "", "", err
	}
	if err := WritePublicKeyFile(pubPath, &key.PublicKey, force); err != nil {
		return "", "", err
	}
	return privPath, pubPath, nil
}

// writeFileAtomic writes data to a temporary file beside path with mode perm,
// syncs it and moves it to path. Without force it links rather than renames,
// so an existing path is never replaced, even by a racing writer.
func writeFileAtomic(path string, data []byte, perm os.FileMode, force bool) (err error) {
	pathErr := func(err error) error { return &fs.PathError{Op: "write key", Path: path, Err: err} }
	dir := filepath.Dir(path)
	// CreateTemp makes the file 0600 from the start: a private key is never
	// readable by others, even for a moment.
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return pathErr(err)
	}
	tmpName := tmp.Name()
	defer func() {
		if tmp != nil {
			tmp.Close()
		}
		os.Remove(tmpName) // after a rename this fails harmlessly; after a link it removes the extra name
	}()
	if _, err := tmp.Write(data); err != nil {
		return pathErr(err)
	}
	if err := tmp.Chmod(perm); err != nil && runtime.GOOS != "windows" {
		return pathErr(err)
	}
	if err := tmp.Sync(); err != nil {
		return pathErr(err)
	}
	err = tmp.Close()
	tmp = nil
	if err != nil {
		return pathErr(err)
	}
	if force {
		err = os.Rename(tmpName, path)
	} else {
		err = os.Link(tmpName, path)
		if err != nil && !errors.Is(err, fs.ErrExist) {
			// Filesystems without hard links: check, then rename.
			if _, statErr := os.Lstat(path); statErr == nil {
				err = fs.ErrExist
			} else {
				err = os.Rename(tmpName, path)
			}
		}
	}
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return pathErr(fmt.Errorf("%w (use force to overwrite)", fs.ErrExist))
		}
		return pathErr(err)
	}
	syncDir(dir)
	return nil
}

// syncDir makes a rename durable where the platform allows it; failure only
// weakens durability, so it is ignored.
func syncDir(dir string) {
	if runtime.GOOS == "windows" {
		return
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}
