package decrypt

import (
	"strings"
	"testing"
)

func TestParseEnvelopeHeaders(t *testing.T) {
	dump := "HTTP/1.1 302 Found\r\nLocation: x\r\nX-Amz-Meta-X-Amz-Key: old\r\n\r\n" +
		"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nX-AMZ-META-X-AMZ-KEY:  a2V5 \r\nx-amz-meta-x-amz-iv: aXY=\r\n\r\n"
	k, iv, err := parseEnvelopeHeaders([]byte(dump))
	if err != nil || k != "a2V5" || iv != "aXY=" {
		t.Errorf("got %q %q %v", k, iv, err)
	}
	if _, _, err := parseEnvelopeHeaders([]byte("HTTP/1.1 200 OK\nx-amz-meta-x-amz-iv: aXY=\n")); err == nil || !strings.Contains(err.Error(), "x-amz-meta-x-amz-key") {
		t.Errorf("missing key header: %v", err)
	}
}
