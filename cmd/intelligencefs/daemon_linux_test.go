package main

import "testing"

func TestSecretsRoundTrip(t *testing.T) {
	in := map[string][]byte{"/a.pem": []byte("pw one"), "b.pem": {}, "c": []byte("x\x00y")}
	out, err := decodeSecrets(encodeSecrets(in))
	if err != nil || len(out) != len(in) {
		t.Fatalf("%v %v", out, err)
	}
	for k, v := range in {
		if string(out[k]) != string(v) {
			t.Errorf("%s: %q", k, out[k])
		}
	}
	if _, err := decodeSecrets([]byte{0, 0, 0, 9, 'a'}); err == nil {
		t.Error("garbled input accepted")
	}
}
