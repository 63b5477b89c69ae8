package sealedcache

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
)

// magic opens every entry file: the format and its version.
const magic = "intelligencefs sealed-cache 1\n"

// maxHeader bounds the header line (an operator results count with many
// object hashes included).
const maxHeader = 1 << 20

// header is an entry file's second line. It holds no URL, no credential and
// no transcript metadata beyond what keys and versions the entry.
type header struct {
	SID        string `json:"sid"`
	Object     string `json:"object"` // s, o<i>, n
	Unredacted bool   `json:"unredacted"`
	Credential string `json:"credential"`   // CR… the content was sealed for
	Updated    string `json:"date_updated"` // the transcript's, RFC 3339
	// Account and Origin are the account (AC…) the object was fetched for
	// and the API it came from (originDigest: no URL reaches the disk): an
	// entry stored by a run against another API (an untrusted --api-url)
	// or account is never served to this one.
	Account string `json:"account,omitempty"`
	Origin  string `json:"origin,omitempty"`
	// Key and IV are the object's x-amz-meta-x-amz-key and
	// x-amz-meta-x-amz-iv headers (standard base64 of the decoded bytes).
	Key string `json:"key,omitempty"`
	IV  string `json:"iv,omitempty"`
	// ObjectKey is the hex SHA-256 of an operator result's object path
	// (never the URL: its query is a bearer credential).
	ObjectKey string `json:"object_key,omitempty"`
	// Count and ObjectKeys are the operator results of a count entry.
	Count      int      `json:"count,omitempty"`
	ObjectKeys []string `json:"object_keys,omitempty"`
	// Len is the body's length: a file with more or fewer bytes is damaged.
	Len int64 `json:"len"`
	// MAC is the hex HMAC-SHA256, under the store's seal key, of the
	// header (this field empty) and the body.
	MAC string `json:"mac"`
}

// mac computes the header's MAC over itself (MAC empty) and body.
func (h header) mac(key, body []byte) []byte {
	h.MAC = ""
	m := hmac.New(sha256.New, key)
	m.Write(encodeHeader(h, h.Len))
	m.Write(body)
	return m.Sum(nil)
}

// seal sets Len and MAC for body.
func (h *header) seal(key, body []byte) {
	h.Len = int64(len(body))
	h.MAC = hex.EncodeToString(h.mac(key, body))
}

// sealedWith reports whether the header's MAC verifies under key.
func (h header) sealedWith(key, body []byte) bool {
	got, err := hex.DecodeString(h.MAC)
	return err == nil && hmac.Equal(got, h.mac(key, body))
}

func newHeader(sid, part string, v Version) header {
	return header{SID: sid, Object: part, Unredacted: v.Unredacted, Credential: v.Credential, Updated: formatTime(v.Updated),
		Account: v.Account, Origin: originDigest(v.Origin)}
}

// originDigest names an API origin in a header: the hex SHA-256 of it (the
// first 128 bits), "" for none.
func originDigest(origin string) string {
	if origin == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(origin))
	return hex.EncodeToString(sum[:16])
}

func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// encodeHeader renders the magic and header lines for a body of n bytes.
func encodeHeader(h header, n int64) []byte {
	h.Len = n
	j, _ := json.Marshal(h) // strings and numbers only: cannot fail
	b := make([]byte, 0, len(magic)+len(j)+1)
	b = append(b, magic...)
	b = append(b, j...)
	return append(b, '\n')
}

// errDamaged wraps every reason a file is not an entry.
var errDamaged = errors.New("damaged entry")

// decode splits a file into its header and body, checking the magic, the
// header and the body's length.
func decode(data []byte) (header, []byte, error) {
	rest, ok := bytes.CutPrefix(data, []byte(magic))
	if !ok {
		return header{}, nil, fmt.Errorf("%w: not an entry file", errDamaged)
	}
	i := bytes.IndexByte(rest, '\n')
	if i < 0 || i > maxHeader {
		return header{}, nil, fmt.Errorf("%w: no header line", errDamaged)
	}
	var h header
	dec := json.NewDecoder(bytes.NewReader(rest[:i]))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&h); err != nil || dec.More() {
		return header{}, nil, fmt.Errorf("%w: header does not parse", errDamaged)
	}
	body := rest[i+1:]
	if h.Len != int64(len(body)) {
		return header{}, nil, fmt.Errorf("%w: body of %d bytes, header says %d", errDamaged, len(body), h.Len)
	}
	return h, body, nil
}

// headerPeek is how much of a file readHeader reads: an object entry's
// header is a few hundred bytes.
const headerPeek = 16 << 10

// readHeader reads and parses the header of the entry at p without its
// body, with readPrivate's checks.
func readHeader(p string) (header, error) {
	f, err := openNoFollow(p)
	if err != nil {
		return header{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return header{}, err
	}
	if !fi.Mode().IsRegular() || checkPrivate(p, fi) != nil {
		return header{}, errForeign
	}
	data, err := io.ReadAll(io.LimitReader(f, headerPeek))
	if err != nil {
		return header{}, err
	}
	rest, ok := bytes.CutPrefix(data, []byte(magic))
	i := bytes.IndexByte(rest, '\n')
	if !ok || i < 0 {
		return header{}, fmt.Errorf("%w: no header line", errDamaged)
	}
	var h header
	if err := json.Unmarshal(rest[:i], &h); err != nil {
		return header{}, fmt.Errorf("%w: header does not parse", errDamaged)
	}
	return h, nil
}

// errForeign marks a file at an entry's name that this program did not
// write: not a regular file, another owner, group/other access, too big.
var errForeign = errors.New("not a private regular file of this user")

// readPrivate reads the file at p, refusing (errForeign) anything but a
// regular file of this user that group and others cannot access, or a file
// larger than limit. Symbolic links are not followed.
func readPrivate(p string, limit int64) ([]byte, error) {
	f, err := openNoFollow(p)
	if err != nil {
		if isSymlinkRefused(err) {
			return nil, fmt.Errorf("%w: a symbolic link", errForeign)
		}
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: not a regular file", errForeign)
	}
	if err := checkPrivate(p, fi); err != nil {
		return nil, fmt.Errorf("%w: %v", errForeign, err)
	}
	if fi.Size() > limit {
		return nil, fmt.Errorf("%w: %d bytes", errForeign, fi.Size())
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%w: grew past %d bytes", errForeign, limit)
	}
	return data, nil
}
