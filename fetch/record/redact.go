package record

import (
	"regexp"
	"strings"
)

var (
	// urlPattern matches absolute URLs as they appear in error strings (Go's
	// *url.Error quotes them, so the quote ends the match).
	urlPattern = regexp.MustCompile(`(?i)\b[a-z][a-z0-9+.\-]*://[^\s"'<>` + "`" + `]+`)
	// paramPattern catches signature-like query parameters that appear
	// without their URL (e.g. a query string echoed by a proxy).
	paramPattern = regexp.MustCompile(`(?i)\b(x-amz-[a-z0-9\-]+|signature|awsaccesskeyid|key-pair-id|policy|pagetoken|token|sig)=[^&\s"'<>]+`)
	// authPattern catches Authorization header values.
	authPattern = regexp.MustCompile(`(?i)\b(basic|bearer)\s+[A-Za-z0-9+/=._\-]{8,}`)
)

// Redacted is what Redact puts in place of removed material.
const Redacted = "REDACTED"

// Redact removes credentials that may travel inside strings: URL query
// strings and fragments (a presigned URL's query is a bearer credential),
// URL user information, signature-like parameters and Authorization header
// values. It does not know configured secrets; fetch's (*Client).Redact also
// removes those. Every error and log line of fetch, and every error the
// viewer shows, passes through it: the project's one redactor.
func Redact(s string) string {
	if strings.Contains(s, "://") {
		s = urlPattern.ReplaceAllStringFunc(s, redactURL)
	}
	if strings.Contains(s, "=") {
		s = paramPattern.ReplaceAllString(s, "${1}="+Redacted)
	}
	s = authPattern.ReplaceAllString(s, "${1} "+Redacted)
	return s
}

// redactURL strips the query, fragment and user information of one URL,
// working on the string so that a URL that does not parse is still cut.
func redactURL(u string) string {
	if i := strings.IndexAny(u, "?#"); i >= 0 {
		u = u[:i] + "?" + Redacted
	}
	if j := strings.Index(u, "://"); j >= 0 {
		rest := u[j+3:]
		host := rest
		if k := strings.IndexAny(rest, "/?"); k >= 0 {
			host = rest[:k]
		}
		if at := strings.LastIndexByte(host, '@'); at >= 0 {
			u = u[:j+3] + rest[at+1:]
		}
	}
	return u
}
