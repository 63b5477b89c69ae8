package twiliosim

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/intelligencefs/intelligencefs/crypto"
)

// amzDate is the X-Amz-Date layout.
const amzDate = "20060102T150405Z"

// base64URL encodes a token payload.
func base64URL(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// signature is the HMAC over path, date and expiry.
func (s *Server) signature(path, date, expires string) string {
	m := hmac.New(sha256.New, s.signKey)
	m.Write([]byte(path + "\n" + date + "\n" + expires))
	return hex.EncodeToString(m.Sum(nil))
}

// presign returns an absolute presigned URL for an object path, valid for
// the TTL from now, or already expired.
func (s *Server) presign(path string, expired bool) string {
	now := s.now().UTC().Truncate(time.Second)
	if expired {
		now = now.Add(-s.ttl - time.Minute)
	}
	date := now.Format(amzDate)
	exp := strconv.FormatInt(int64(s.ttl/time.Second), 10)
	base := s.URL
	if b := s.currentFaults().ObjectBaseURL; b != "" {
		base = b
	}
	return base + path +
		"?X-Amz-Algorithm=AWS4-HMAC-SHA256" +
		"&X-Amz-Credential=ASIASIMULATOR%2F" + now.Format("20060102") + "%2Fus-east-1%2Fs3%2Faws4_request" +
		"&X-Amz-Date=" + date +
		"&X-Amz-Expires=" + exp +
		"&X-Amz-SignedHeaders=host" +
		"&X-Amz-Signature=" + s.signature(path, date, exp)
}

// s3Error writes an S3-style XML error.
func (s *Server) s3Error(w http.ResponseWriter, status int, code, msg string) {
	body := `<?xml version="1.0" encoding="UTF-8"?>` + "\n<Error><Code>" + code + "</Code><Message>" + msg +
		"</Message><RequestId>" + strings.ToUpper(randomHex(8)) + "</RequestId><HostId>" + randomHex(16) + "</HostId></Error>"
	w.Header().Set("Content-Type", "application/xml")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}

// serveObject is the presigned object store.
func (s *Server) serveObject(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/objects/"), "/")
	sid := ""
	if len(parts) > 0 {
		sid = parts[0]
	}
	auth := r.Header.Get("Authorization") != ""
	s.record(RequestInfo{Endpoint: EndpointObjectGet, Method: r.Method, Path: r.URL.Path, TranscriptSID: sid, Authorization: auth})
	status := 0
	defer func() { s.logger.Debug("twiliosim object", "method", r.Method, "path", r.URL.Path, "status", status) }()
	f := s.currentFaults()
	sleep(r.Context(), f.ObjectLatency)
	if auth {
		s.counter(CounterObjectAuthViolations).Add(1)
		status = 400
		s.s3Error(w, 400, "InvalidArgument", "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified")
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		status = 405
		s.s3Error(w, 405, "MethodNotAllowed", "The specified method is not allowed against this resource.")
		return
	}
	q := r.URL.Query()
	date, exp, sig := q.Get("X-Amz-Date"), q.Get("X-Amz-Expires"), q.Get("X-Amz-Signature")
	if q.Get("X-Amz-Algorithm") == "" || date == "" || exp == "" || sig == "" {
		status = 403
		s.s3Error(w, 403, "AccessDenied", "Access Denied")
		return
	}
	if !hmac.Equal([]byte(sig), []byte(s.signature(r.URL.Path, date, exp))) {
		status = 403
		s.s3Error(w, 403, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided.")
		return
	}
	signed, err1 := time.Parse(amzDate, date)
	secs, err2 := strconv.Atoi(exp)
	if err1 != nil || err2 != nil || !s.now().Before(signed.Add(time.Duration(secs)*time.Second)) {
		status = 403
		s.s3Error(w, 403, "AccessDenied", "Request has expired")
		return
	}
	if s.injectPre(w, true, sid, func(st int, retryAfter string) {
		status = st
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		if st == 429 {
			s.s3Error(w, st, "SlowDown", "Please reduce your request rate.")
		} else {
			s.s3Error(w, st, "ServiceUnavailable", "Service is unable to handle request.")
		}
	}) {
		return
	}
	obj, ok := s.resolveObject(parts)
	if ok && obj.kind == "operator-results" && s.fire("SwapOperatorResults", true, sid) {
		obj, ok = s.swappedObject(obj)
	}
	if !ok || s.fire("ObjectNotFound", true, sid) {
		status = 404
		s.s3Error(w, 404, "NoSuchKey", "The specified key does not exist.")
		return
	}
	h := w.Header()
	h.Set("Last-Modified", s.now().UTC().Format(http.TimeFormat))
	h.Set("x-amz-request-id", strings.ToUpper(randomHex(8)))
	if obj.kind == "media" {
		h.Set("Content-Type", "audio/x-wav")
		status = 200
		s.writeBody(w, 200, s.objectContent(obj), true, sid)
		return
	}
	env, err := s.sealedObject(obj)
	if err == nil && s.fire("ShortContentKey", true, sid) {
		env, err = sealShortKey(obj.cred.pub, s.objectContent(obj))
	}
	if err != nil {
		status = 500
		s.s3Error(w, 500, "InternalError", "We encountered an internal error. Please try again.")
		return
	}
	h.Set("Content-Type", "binary/octet-stream")
	h.Set("x-amz-server-side-encryption", "AES256")
	key, iv := env.EncodedKey(), env.EncodedIV()
	if s.fire("MalformedKeyHeader", true, sid) {
		key = "!!not base64!!" + key[:8]
	}
	if s.fire("MalformedIVHeader", true, sid) {
		iv = "%%%%"
	}
	if s.fire("HugeWrappedKey", true, sid) {
		key = base64.StdEncoding.EncodeToString(make([]byte, 3<<20))
	}
	if !s.fire("MissingKeyHeader", true, sid) {
		h.Set(crypto.HeaderWrappedKey, key)
	}
	if !s.fire("MissingIVHeader", true, sid) {
		h.Set(crypto.HeaderIV, iv)
	}
	body := env.Body
	if s.fire("TamperCiphertext", true, sid) && len(body) > 0 {
		body = append([]byte(nil), body...) // the stored object stays intact
		body[len(body)/3] ^= 0x04
	}
	status = 200
	s.writeBody(w, 200, body, true, sid)
}

// objectRef names one stored object: what it holds and the key it is
// sealed to.
type objectRef struct {
	t    *transcript
	cred *credential
	kind string // "sentences", "operator-results" or "media"
	red  bool
	n    int // operator result number, from 1
}

// storeKey identifies the sealed object: the same content sealed to another
// credential (after a rotation) is another object.
func (o objectRef) storeKey() string {
	key := o.t.sid + "/" + o.kind + "/" + strconv.FormatBool(o.red) + "/" + strconv.Itoa(o.n)
	if o.cred != nil {
		key += "/" + o.cred.sid
	}
	return key
}

// resolveObject maps an object path (GT, kind, r|u[, n]) to what it holds,
// without generating it.
func (s *Server) resolveObject(parts []string) (objectRef, bool) {
	if len(parts) < 3 || (parts[2] != "r" && parts[2] != "u") {
		return objectRef{}, false
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	t := s.bySID[parts[0]]
	if t == nil || t.status != StatusCompleted {
		return objectRef{}, false
	}
	ref := objectRef{t: t, kind: parts[1], red: parts[2] == "r"}
	if ref.kind == "media" && len(parts) == 3 {
		return ref, true
	}
	ref.cred = s.credBySID[t.credSID]
	if ref.cred == nil {
		return objectRef{}, false
	}
	switch {
	case ref.kind == "sentences" && len(parts) == 3:
		return ref, true
	case ref.kind == "operator-results" && len(parts) == 4:
		n, err := strconv.Atoi(parts[3])
		if err != nil || n < 1 || n > s.operatorResultCount(t) {
			return objectRef{}, false
		}
		ref.n = n
		return ref, true
	}
	return objectRef{}, false
}

// swappedObject is the operator result at the same position of another
// completed transcript sealed to the same credential: a mix-up on the
// server's side that the client must refuse.
func (s *Server) swappedObject(o objectRef) (objectRef, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, t := range s.all {
		if t != o.t && t.status == StatusCompleted && t.credSID == o.t.credSID && s.operatorResultCount(t) >= o.n {
			o.t = t
			return o, true
		}
	}
	return o, false
}

// objectContent generates the plaintext of a resolved object.
func (s *Server) objectContent(o objectRef) []byte {
	s.mu.RLock()
	defer s.mu.RUnlock()
	switch o.kind {
	case "media":
		return fakeWAV(hashSID(o.t.sid))
	case "sentences":
		return s.sentencesDocument(o.t, o.red)
	default:
		return s.operatorResults(o.t, o.red)[o.n-1]
	}
}

// sealedObject returns the object as stored, sealing it on first use.
func (s *Server) sealedObject(o objectRef) (crypto.Envelope, error) {
	key := o.storeKey()
	if env, ok := s.objects.get(key); ok {
		return env, nil
	}
	plain := s.objectContent(o)
	env, err := crypto.Seal(o.cred.pub, plain)
	clear(plain)
	if err != nil {
		return crypto.Envelope{}, err
	}
	s.objects.put(key, env)
	return env, nil
}

// fakeWAV is a short silent 8 kHz mono WAV file.
func fakeWAV(seed uint64) []byte {
	const n = 8000
	b := make([]byte, 44+n)
	copy(b, "RIFF")
	le32(b[4:], 36+n)
	copy(b[8:], "WAVEfmt ")
	le32(b[16:], 16)
	b[20], b[22] = 1, 1
	le32(b[24:], 8000)
	le32(b[28:], 8000)
	b[32], b[34] = 1, 8
	copy(b[36:], "data")
	le32(b[40:], n)
	for i := 44; i < len(b); i++ {
		b[i] = 128 + byte(mix(seed, uint64(i))%3) - 1
	}
	return b
}

// le32 writes v little-endian.
func le32(b []byte, v uint32) { b[0], b[1], b[2], b[3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24) }
