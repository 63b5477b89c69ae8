//go:build linux

package sdnotify

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// TestNotify sends to a socket standing in for systemd's, by path and in
// the abstract namespace, and reads the datagram it got.
func TestNotify(t *testing.T) {
	abstract := "@intelligencefs-sdnotify-test-" + strconv.Itoa(os.Getpid())
	for _, tc := range []struct{ name, env, listen string }{
		{"path", filepath.Join(t.TempDir(), "notify"), ""},
		{"abstract", abstract, "\x00" + abstract[1:]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			listen := tc.listen
			if listen == "" {
				listen = tc.env
			}
			ln, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: listen, Net: "unixgram"})
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			const state = "READY=1\nSTATUS=mounted at /mnt"
			if err := Notify(tc.env, state); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 256)
			ln.SetReadDeadline(time.Now().Add(10 * time.Second))
			n, err := ln.Read(buf)
			if err != nil || string(buf[:n]) != state {
				t.Errorf("systemd got %q (%v), want %q", buf[:n], err, state)
			}
		})
	}
}

// TestNotifyWithoutSystemd: no $NOTIFY_SOCKET is not an error; a socket
// nobody listens on is.
func TestNotifyWithoutSystemd(t *testing.T) {
	if err := Notify("", "READY=1"); err != nil {
		t.Errorf("no socket: %v", err)
	}
	if err := Notify(filepath.Join(t.TempDir(), "absent"), "READY=1"); err == nil {
		t.Error("a socket nobody listens on: no error")
	}
}
