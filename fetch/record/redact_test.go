package record

import "testing"

func TestRedact(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`Get "https://b.s3.amazonaws.com/GT1?X-Amz-Signature=abc&X-Amz-Credential=x": EOF`,
			`Get "https://b.s3.amazonaws.com/GT1?REDACTED": EOF`},
		{"https://user:pw@host.example/p?q=1#f", "https://host.example/p?REDACTED"},
		{"http://AC1:secret@127.0.0.1:80/v2", "http://127.0.0.1:80/v2"},
		{"query X-Amz-Signature=abc&Signature=def token=xyz", "query X-Amz-Signature=REDACTED&Signature=REDACTED token=REDACTED"},
		{"Authorization: Basic QUMxMjM6c2VjcmV0c2VjcmV0", "Authorization: Basic REDACTED"},
		{"no url here", "no url here"},
	} {
		if got := Redact(tc.in); got != tc.want {
			t.Errorf("Redact(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
