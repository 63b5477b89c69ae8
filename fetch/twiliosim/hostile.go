package twiliosim

import (
	"bytes"
	"compress/gzip"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"strings"
	"sync"

	"github.com/intelligencefs/intelligencefs/crypto"
)

// This file holds the switches of a server that misbehaves on purpose (a
// hostile or broken Twilio): paging that never ends, compression bombs,
// oversized fields, listings with names that are not SIDs, and sealed
// objects that are authentic but not what Twilio makes. They live in Faults
// like the transport faults and are set with SetFaults.

// DefaultGzipBombBytes is what a GzipBomb body inflates to beyond the real
// body when Faults.GzipBombBytes is 0.
const DefaultGzipBombBytes = 100 << 20

// HostileTranscriptSID is the well-formed transcript SID that
// HostileTranscripts lists (and the transcript endpoint serves) with
// service_sid "../../../../tmp": a link built from it would leave the mount.
const HostileTranscriptSID = "GTffffffffffffffffffffffffffffffff"

// hostileServiceItems are the entries HostileServices appends to every
// services page: names that are not SIDs, a link target outside the mount,
// and a duplicate of the first real service.
func (s *Server) hostileServiceItems(first []byte) [][]byte {
	items := [][]byte{
		[]byte(`{"sid":"a/b","unique_name":null}`),
		[]byte(`{"sid":"","unique_name":null}`),
		[]byte(`{"sid":".","unique_name":null}`),
		[]byte(`{"sid":"..","unique_name":null}`),
		[]byte(`{"sid":"GA\u0000` + strings.Repeat("0", 31) + `","unique_name":null}`),
		[]byte(`{"sid":"GA` + strings.Repeat("a", 298) + `","unique_name":null}`),
		[]byte(`{"sid":"/etc","unique_name":"abs-target"}`),
		[]byte(`{"sid":"../../../../tmp","unique_name":"rel-target"}`),
	}
	if first != nil {
		items = append(items, first)
	}
	return items
}

// hostileTranscriptItems are the entries HostileTranscripts appends to
// every transcripts page (first is the page's first real item, repeated).
func (s *Server) hostileTranscriptItems(first []byte) [][]byte {
	items := [][]byte{
		[]byte(`{"sid":"..","service_sid":"..","status":"completed"}`),
		[]byte(`{"sid":"","status":"completed"}`),
		[]byte(`{"sid":"GT/x","status":"completed"}`),
		[]byte(`{"sid":"GT` + strings.Repeat("0", 298) + `","status":"completed"}`),
		s.hostileTranscript(),
	}
	if first != nil {
		items = append(items, first)
	}
	return items
}

// hostileTranscript is HostileTranscriptSID's resource: a well-formed SID
// whose service_sid is a relative path out of the mount.
func (s *Server) hostileTranscript() []byte {
	return []byte(`{"account_sid":"` + s.AccountSID + `","service_sid":"../../../../tmp","sid":"` + HostileTranscriptSID +
		`","date_created":"2020-01-01T00:00:00Z","date_updated":"2020-01-01T00:00:00Z","status":"completed","channel":null,` +
		`"data_logging":false,"language_code":"en-US","media_start_time":null,"duration":1,"customer_key":null,` +
		`"url":"` + s.URL + `/v2/Transcripts/` + HostileTranscriptSID + `","redaction":false,"encryption_credential_sid":null,"links":{}}`)
}

// oversize pads a rendered resource with a field of n bytes (a string
// named "padding"), as a server that adds a field of any size would.
func oversize(item []byte, n int) []byte {
	if n <= 0 || len(item) < 2 || item[len(item)-1] != '}' {
		return item
	}
	b := make([]byte, 0, len(item)+n+16)
	b = append(b, item[:len(item)-1]...)
	b = append(b, `,"padding":"`...)
	b = append(b, bytes.Repeat([]byte{'x'}, n)...)
	return append(b, `"}`...)
}

// gzipMiB is one gzip member holding 1 MiB of spaces (about 1 KiB). A
// gzip stream may be many members back to back, decoded as their
// concatenation, so gzip(body) followed by n copies is one valid stream
// that inflates to body plus n MiB of spaces (still valid JSON), built
// without compressing the padding each time.
var gzipMiB = sync.OnceValue(func() []byte {
	var b bytes.Buffer
	w, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
	_, _ = w.Write(bytes.Repeat([]byte{' '}, 1<<20))
	_ = w.Close()
	return b.Bytes()
})

// gzipBomb compresses body followed by n bytes of padding (rounded up to
// whole MiB).
func gzipBomb(body []byte, n int64) []byte {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	_, _ = w.Write(body)
	_ = w.Close()
	m := gzipMiB()
	for left := n; left > 0; left -= 1 << 20 {
		b.Write(m)
	}
	return b.Bytes()
}

// sealShortKey seals plaintext as Twilio would but with a 16-byte content
// key (AES-128-GCM): authentic, but not what Twilio makes.
func sealShortKey(pub *rsa.PublicKey, plaintext []byte) (crypto.Envelope, error) {
	cek, iv := make([]byte, 16), make([]byte, 12)
	if _, err := rand.Read(cek); err != nil {
		return crypto.Envelope{}, err
	}
	if _, err := rand.Read(iv); err != nil {
		return crypto.Envelope{}, err
	}
	block, err := aes.NewCipher(cek)
	if err != nil {
		return crypto.Envelope{}, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return crypto.Envelope{}, err
	}
	wrapped, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, pub, cek, nil)
	if err != nil {
		return crypto.Envelope{}, err
	}
	return crypto.Envelope{WrappedKey: wrapped, IV: iv, Body: aead.Seal(nil, iv, plaintext, nil)}, nil
}

// transcriptOfPath is the transcript SID a list path is about, if any.
func transcriptOfPath(path string) string {
	rest, ok := strings.CutPrefix(path, "/v2/Transcripts/")
	if !ok {
		return ""
	}
	sid, _, _ := strings.Cut(rest, "/")
	return sid
}
