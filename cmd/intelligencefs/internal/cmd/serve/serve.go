// Package serve is `serve`: the private web viewer of the account
// (fs/web) on loopback, and the listener flags (--addr, --allow-remote,
// --tls-cert, --tls-key) every server under it shares. A server added as a
// subcommand (serve webdav, serve nfs) lives in a package of its own under
// this one, builds its command with the ListenFlags here, and is passed to
// NewCmd by the root command; this package never imports it.
package serve

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/cmdutil"
	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/factory"
	"github.com/intelligencefs/intelligencefs/fetch"
	"github.com/intelligencefs/intelligencefs/fs/web"
)

// ListenFlags are the settings of a server's listener.
type ListenFlags struct {
	Addr        string
	AllowRemote bool
	// Host is --host: the name clients use to reach the server ("" on
	// loopback: a private <random>.localhost; required with a wildcard
	// --addr).
	Host            string
	TLSCert, TLSKey string
	// Cache is the plaintext cache's settings, shared with mount.
	Cache *factory.CacheFlags
	// LogLevel and LogFormat are --log-level and --log-format (demo --serve
	// shares mount's; serve registers its own with AddLogFlags).
	LogLevel, LogFormat *string
}

// AddListenFlags registers --addr, --allow-remote, --tls-cert and --tls-key.
func AddListenFlags(fs *pflag.FlagSet) *ListenFlags {
	s := &ListenFlags{}
	fs.StringVar(&s.Addr, "addr", "127.0.0.1:0", "listen on this address (loopback only unless --allow-remote; port 0 picks a free one)")
	fs.BoolVar(&s.AllowRemote, "allow-remote", false, "accept a non-loopback --addr (needs --tls-cert and --tls-key)")
	fs.StringVar(&s.Host, "host", "", "the host name clients use to reach the server (needed with a wildcard --addr such as 0.0.0.0:8443; default on loopback: a random NAME.localhost of this process, so no other service on 127.0.0.1 gets its cookie)")
	fs.StringVar(&s.TLSCert, "tls-cert", "", "serve HTTPS with this certificate (PEM)")
	fs.StringVar(&s.TLSKey, "tls-key", "", "the private key of --tls-cert (PEM)")
	return s
}

// AddLogFlags registers --log-level and --log-format on serve (demo
// has them from mount's flags).
func (s *ListenFlags) AddLogFlags(cmd *cobra.Command) {
	s.LogLevel = cmd.Flags().String("log-level", cmdutil.DefaultLogLevel, "debug, info, warn or error (lines go to stderr; never content, token or URL query)")
	s.LogFormat = cmd.Flags().String("log-format", cmdutil.DefaultLogFormat, "text or json")
	cmdutil.CompleteLogFlags(cmd)
}

// Logger is the viewer's logger, to stderr, from --log-level and
// --log-format: the fetch client's retries and failures and the web
// server's requests go there.
func (s *ListenFlags) Logger(w io.Writer) (*slog.Logger, error) {
	if *s.LogFormat != "text" && *s.LogFormat != "json" {
		return nil, cmdutil.Usagef("--log-format must be text or json (got %q)", cmdutil.Truncate(*s.LogFormat, 20))
	}
	return cmdutil.NewLogger(w, *s.LogLevel, *s.LogFormat)
}

// Validate refuses a non-loopback address without --allow-remote and TLS.
func (s *ListenFlags) Validate() error {
	host, _, err := net.SplitHostPort(s.Addr)
	if err != nil {
		return cmdutil.Usagef("--addr %q: want HOST:PORT, e.g. 127.0.0.1:8080", cmdutil.Truncate(s.Addr, 40))
	}
	if (s.TLSCert == "") != (s.TLSKey == "") {
		return cmdutil.Usagef("--tls-cert and --tls-key go together")
	}
	ip := net.ParseIP(host)
	loopback := host == "localhost" || (ip != nil && ip.IsLoopback())
	switch {
	case loopback:
	case !s.AllowRemote:
		return cmdutil.Usagef("--addr %s is not a loopback address: the viewer shows decrypted transcripts; pass --allow-remote (with --tls-cert and --tls-key) to serve other machines", s.Addr)
	case s.TLSCert == "":
		return cmdutil.Usagef("--allow-remote needs --tls-cert and --tls-key: the token and the transcripts must not cross the network in the clear")
	}
	if _, err := web.AddressFor(s.Addr, "0", s.Host); err != nil {
		if errors.Is(err, web.ErrWildcardNeedsHost) {
			return cmdutil.Usagef("--addr %s listens on every address: give --host NAME, the name clients use to reach it (its Host header is checked)", s.Addr)
		}
		return cmdutil.Usagef("--host: %v", err)
	}
	return nil
}

// Addressing is how clients reach a server of these flags bound to port
// (the listener's actual one): the Host values to serve and to redirect
// from (web.AddressFor).
func (s *ListenFlags) Addressing(port string) (web.Addressing, error) {
	return web.AddressFor(s.Addr, port, s.Host)
}

// Options are the settings of one `serve` (the viewer).
type Options struct {
	// Conn are the connection and key flags; Limits the request limits.
	Conn   *factory.ConnFlags
	Limits *factory.LimitFlags
	// Listen are the listener, cache and log flags.
	Listen *ListenFlags
}

// NewCmd builds `serve`: the local web viewer, with the servers given as
// its subcommands (serve webdav, serve nfs).
func NewCmd(f *factory.Factory, subcommands ...*cobra.Command) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve [flags]",
		Short: "Serve a private transcript viewer on localhost (services, conversations, operator results, search)",
		Long: `serve starts a web viewer of the account on 127.0.0.1, decrypting in memory
exactly as mount does, and prints one line: the URL to open, with a random
access token, on a host name of this process (ifs-….localhost, which
browsers resolve to 127.0.0.1), so that no other service on 127.0.0.1
receives its cookie. The token becomes a cookie; any request without it is
refused. Nothing is cached by the browser (Cache-Control: no-store).
Ctrl-C stops it. Works on Linux, macOS and Windows (no FUSE).`,
		Example: `  intelligencefs serve --private-key private_key.pem
  intelligencefs serve --private-key private_key.pem --addr 127.0.0.1:8080`,
		Args: cobra.NoArgs,
	}
	opts := &Options{Conn: f.AddConnFlags(cmd, true), Limits: factory.AddLimitFlags(cmd.Flags())}
	opts.Listen = AddListenFlags(cmd.Flags())
	opts.Listen.Cache = factory.AddCacheFlags(cmd.Flags())
	opts.Listen.AddLogFlags(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return run(cmd.Context(), f, opts)
	}
	cmd.AddCommand(subcommands...)
	return cmd
}

// run checks the flags, connects and serves the viewer until interrupted.
func run(ctx context.Context, f *factory.Factory, opts *Options) error {
	sf, limits, cf, conn := opts.Listen, opts.Limits, opts.Listen.Cache, opts.Conn
	if err := sf.Validate(); err != nil {
		return err
	}
	log, err := sf.Logger(f.Stderr)
	if err != nil {
		return err
	}
	if err := limits.Validate(); err != nil {
		return err
	}
	if err := cf.Validate(); err != nil {
		return err
	}
	c, err := conn.Connect(func(cfg *fetch.Config) {
		limits.Tune(cfg)
		cfg.Logger = log
	})
	if err != nil {
		return err
	}
	defer c.Client.Close()
	defer c.Keys.Zero()
	return Run(ctx, f, c, sf, limits.Workers(), log)
}

// Run listens, prints the URL with the token, and serves the viewer on
// connection c until ctx ends or SIGINT/SIGTERM (serve and demo --serve).
func Run(ctx context.Context, f *factory.Factory, c *factory.Connection, sf *ListenFlags, workers int, log *slog.Logger) error {
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	tok := make([]byte, 32)
	if _, err := rand.Read(tok); err != nil {
		return err
	}
	token := hex.EncodeToString(tok)
	ln, err := net.Listen("tcp", sf.Addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", sf.Addr, err)
	}
	defer ln.Close()
	mlock, err := sf.Cache.MlockMode()
	if err != nil {
		return err
	}
	_, port, err := net.SplitHostPort(ln.Addr().String())
	if err != nil {
		return err
	}
	addr, err := sf.Addressing(port)
	if err != nil {
		return err
	}
	h, err := web.New(web.Options{Source: c.Client, Decrypter: c.Keys, Token: token, Hosts: addr.Hosts, RedirectHosts: addr.RedirectHosts,
		Workers: workers, Logger: log,
		CacheSize: int64(sf.Cache.CacheSize), CacheMaxAge: sf.Cache.CacheMaxAge, Mlock: mlock})
	if err != nil {
		return err
	}
	defer h.Close() // the viewer's cache, zeroed and unmapped once the server stopped
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	scheme := "http"
	if sf.TLSCert != "" {
		scheme = "https"
	}
	fmt.Fprintf(f.Stdout, "%s/?token=%s\n", addr.URL(scheme), token)
	done := make(chan error, 1)
	go func() {
		if sf.TLSCert != "" {
			done <- srv.ServeTLS(ln, sf.TLSCert, sf.TLSKey)
		} else {
			done <- srv.Serve(ln)
		}
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
