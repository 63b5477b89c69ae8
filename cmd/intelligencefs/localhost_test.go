package main

import (
	"context"
	"net"
	"net/http"
	"strings"
)

// The viewer prints a URL on a name of its own under .localhost, which
// browsers (and curl) resolve to the loopback address themselves; Go's
// resolver asks DNS. The tests' HTTP clients resolve as a browser does.
func init() {
	d := &net.Dialer{}
	http.DefaultTransport.(*http.Transport).DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if host, port, err := net.SplitHostPort(addr); err == nil && strings.HasSuffix(strings.ToLower(host), ".localhost") {
			addr = net.JoinHostPort("127.0.0.1", port)
		}
		return d.DialContext(ctx, network, addr)
	}
}
