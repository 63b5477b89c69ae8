package twiliosim

import (
	"bytes"
	"testing"

	"github.com/intelligencefs/intelligencefs/crypto"
)

// TestObjectsStoredOnce: like S3, a stored object is the same bytes and
// headers on every download, and a tampering fault alters one response
// only, never the stored object.
func TestObjectsStoredOnce(t *testing.T) {
	s := newTestServer(t, Options{Corpus: CorpusOptions{TranscriptsPerService: 4}})
	var sid string
	for _, x := range s.Transcripts("") {
		if x.EncryptionCredentialSID != "" && x.Status == StatusCompleted {
			sid = x.SID
			break
		}
	}
	if sid == "" {
		t.Fatal("no completed encrypted transcript")
	}
	download := func() response {
		t.Helper()
		o, err := getObject(t, sentencesLocation(t, s, sid, true))
		if err != nil || o.status != 200 {
			t.Fatalf("download: %v %d", err, o.status)
		}
		return o
	}
	first := download()
	second := download()
	for _, h := range []string{crypto.HeaderWrappedKey, crypto.HeaderIV} {
		if first.header.Get(h) != second.header.Get(h) {
			t.Errorf("%s differs between downloads of a stored object", h)
		}
	}
	if !bytes.Equal(first.body, second.body) {
		t.Error("body differs between downloads of a stored object")
	}

	s.SetFaults(Faults{TamperCiphertext: Rule{Times: 1, Target: TargetObjects}})
	tampered := download()
	if bytes.Equal(tampered.body, first.body) {
		t.Error("TamperCiphertext served the stored body unchanged")
	}
	s.SetFaults(Faults{})
	if again := download(); !bytes.Equal(again.body, first.body) {
		t.Error("a tampering fault changed the stored object")
	}
}

// TestObjectStoreBound: the least recently used objects go first once the
// byte bound is passed, and an object larger than the bound is not kept.
func TestObjectStoreBound(t *testing.T) {
	env := func(n int) crypto.Envelope {
		return crypto.Envelope{WrappedKey: make([]byte, 10), IV: make([]byte, 10), Body: make([]byte, n)}
	}
	st := newObjectStore(300)
	st.put("a", env(80)) // 101 bytes with key and headers
	st.put("b", env(80))
	if _, ok := st.get("a"); !ok { // a is now the most recently used
		t.Fatal("a missing")
	}
	st.put("c", env(80)) // 303 > 300: b, the least recently used, goes
	if _, ok := st.get("b"); ok {
		t.Error("b kept past the bound")
	}
	for _, k := range []string{"a", "c"} {
		if _, ok := st.get(k); !ok {
			t.Errorf("%s evicted, want kept", k)
		}
	}
	if st.bytes > st.max {
		t.Errorf("store holds %d bytes, bound %d", st.bytes, st.max)
	}
	st.put("huge", env(1000))
	if _, ok := st.get("huge"); ok {
		t.Error("an object larger than the bound was kept")
	}
}
