package record

import (
	"net/url"
	"strconv"
	"time"
)

// IntelligenceBase is the Conversational Intelligence API's origin as its
// resources name themselves in their url fields.
const IntelligenceBase = "https://intelligence.twilio.com"

// MaxOperatorResults bounds the operator results of one transcript (one
// per operator attached to its service: a handful in practice). A server
// listing 200,000 must not become 200,000 files and downloads.
const MaxOperatorResults = 1000

// LocationExpiry reads when a presigned location stops working: X-Amz-Date
// plus X-Amz-Expires (AWS signature version 4), or Expires in Unix seconds
// (version 2). ok is false when the location says neither.
func LocationExpiry(location string) (expiry time.Time, ok bool) {
	u, err := url.Parse(location)
	if err != nil {
		return time.Time{}, false
	}
	q := u.Query()
	if d, e := q.Get("X-Amz-Date"), q.Get("X-Amz-Expires"); d != "" && e != "" {
		signed, err1 := time.Parse("20060102T150405Z", d)
		secs, err2 := strconv.ParseInt(e, 10, 64)
		if err1 == nil && err2 == nil && secs >= 0 && secs <= 7*24*3600 {
			return signed.Add(time.Duration(secs) * time.Second), true
		}
	}
	if e := q.Get("Expires"); e != "" {
		if secs, err := strconv.ParseInt(e, 10, 64); err == nil && secs > 0 {
			return time.Unix(secs, 0).UTC(), true
		}
	}
	return time.Time{}, false
}
