// Package sdnotify tells systemd how a service started with Type=notify is
// doing (READY=1 once mounted, STOPPING=1 on the way out). These few lines
// are the whole sd_notify protocol: one datagram on the unix socket named
// by $NOTIFY_SOCKET; no library needed.
package sdnotify

import (
	"fmt"
	"net"
)

// Notify sends state (newline-separated assignments such as
// "READY=1\nSTATUS=mounted at /mnt") to socket, the value of
// $NOTIFY_SOCKET. An empty socket means systemd did not ask (not started
// by it, or not Type=notify): Notify then does nothing. A socket starting
// with '@' is in the abstract namespace.
func Notify(socket, state string) error {
	if socket == "" {
		return nil
	}
	if socket[0] == '@' {
		socket = "\x00" + socket[1:]
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: socket, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("sd_notify: %w", err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(state)); err != nil {
		return fmt.Errorf("sd_notify: %w", err)
	}
	return nil
}
