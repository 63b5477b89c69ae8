package main

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

	"github.com/intelligencefs/intelligencefs/fetch"
	"github.com/intelligencefs/intelligencefs/fs/web"
)

// serveFlags are the settings of the viewer's listener.
type serveFlags struct {
	addr            string
	allowRemote     bool
	tlsCert, tlsKey string
	cache           *cacheFlags // the plaintext cache's settings, shared with mount
	// logLevel and logFormat are mount's --log-level and --log-format
	// (demo --serve shares mount's; serve registers its own).
	logLevel, logFormat *string
}

// addServeFlags registers --addr, --allow-remote, --tls-cert and --tls-key.
func addServeFlags(fs *pflag.FlagSet) *serveFlags {
	s := &serveFlags{}
	fs.StringVar(&s.addr, "addr", "127.0.0.1:0", "listen on this address (loopback only unless --allow-remote; port 0 picks a free one)")
	fs.BoolVar(&s.allowRemote, "allow-remote", false, "accept a non-loopback --addr (needs --tls-cert and --tls-key)")
	fs.StringVar(&s.tlsCert, "tls-cert", "", "serve HTTPS with this certificate (PEM)")
	fs.StringVar(&s.tlsKey, "tls-key", "", "the private key of --tls-cert (PEM)")
	return s
}

// addServeLogFlags registers --log-level and --log-format on serve (demo
// has them from mount's flags).
func (s *serveFlags) addServeLogFlags(cmd *cobra.Command) {
	s.logLevel = cmd.Flags().String("log-level", defaultLogLevel, "debug, info, warn or error (lines go to stderr; never content, token or URL query)")
	s.logFormat = cmd.Flags().String("log-format", defaultLogFormat, "text or json")
	_ = cmd.RegisterFlagCompletionFunc("log-level", cobra.FixedCompletions([]string{"debug", "info", "warn", "error"}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("log-format", cobra.FixedCompletions([]string{"text", "json"}, cobra.ShellCompDirectiveNoFileComp))
}

// logger is the viewer's logger, to stderr, from --log-level and
// --log-format: the fetch client's retries and failures and the web
// server's requests go there.
func (s *serveFlags) logger(w io.Writer) (*slog.Logger, error) {
	if *s.logFormat != "text" && *s.logFormat != "json" {
		return nil, usagef("--log-format must be text or json (got %q)", truncate(*s.logFormat, 20))
	}
	return newLogger(w, *s.logLevel, *s.logFormat)
}

// validate refuses a non-loopback address without --allow-remote and TLS.
func (s *serveFlags) validate() error {
	host, _, err := net.SplitHostPort(s.addr)
	if err != nil {
		return usagef("--addr %q: want HOST:PORT, e.g. 127.0.0.1:8080", truncate(s.addr, 40))
	}
	if (s.tlsCert == "") != (s.tlsKey == "") {
		return usagef("--tls-cert and --tls-key go together")
	}
	ip := net.ParseIP(host)
	loopback := host == "localhost" || (ip != nil && ip.IsLoopback())
	switch {
	case loopback:
	case !s.allowRemote:
		return usagef("--addr %s is not a loopback address: the viewer shows decrypted transcripts; pass --allow-remote (with --tls-cert and --tls-key) to serve other machines", s.addr)
	case s.tlsCert == "":
		return usagef("--allow-remote needs --tls-cert and --tls-key: the token and the transcripts must not cross the network in the clear")
	}
	return nil
}

// newServeCmd builds `serve`: the local web viewer.
func (a *app) newServeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve [flags]",
		Short: "Serve a private transcript viewer on localhost (services, conversations, operator results, search)",
		Long: `serve starts a web viewer of the account on 127.0.0.1, decrypting in memory
exactly as mount does, and prints one line: the URL to open, with a random
access token. The token becomes a cookie; any request without it is
refused. Nothing is cached by the browser (Cache-Control: no-store).
Ctrl-C stops it. Works on Linux, macOS and Windows (no FUSE).`,
		Example: `  intelligencefs serve --private-key private_key.pem
  intelligencefs serve --private-key private_key.pem --addr 127.0.0.1:8080`,
		Args: cobra.NoArgs,
	}
	conn := a.addConnFlags(cmd, true)
	limits := addLimitFlags(cmd.Flags())
	cf := addCacheFlags(cmd.Flags())
	sf := addServeFlags(cmd.Flags())
	sf.cache = cf
	sf.addServeLogFlags(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := sf.validate(); err != nil {
			return err
		}
		log, err := sf.logger(a.stderr)
		if err != nil {
			return err
		}
		if err := limits.validate(); err != nil {
			return err
		}
		if err := cf.validate(); err != nil {
			return err
		}
		c, err := conn.connect(func(cfg *fetch.Config) {
			limits.tune(cfg)
			cfg.Logger = log
		})
		if err != nil {
			return err
		}
		defer c.Client.Close()
		defer c.Keys.Zero()
		return a.runServe(cmd.Context(), c, sf, limits.workers(), log)
	}
	return cmd
}

// runServe listens, prints the URL with the token, and serves until ctx
// ends or SIGINT/SIGTERM.
func (a *app) runServe(ctx context.Context, c *connection, sf *serveFlags, workers int, log *slog.Logger) error {
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	tok := make([]byte, 32)
	if _, err := rand.Read(tok); err != nil {
		return err
	}
	token := hex.EncodeToString(tok)
	ln, err := net.Listen("tcp", sf.addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", sf.addr, err)
	}
	defer ln.Close()
	mlock, err := sf.cache.mlockMode()
	if err != nil {
		return err
	}
	h, err := web.New(web.Options{Source: c.Client, Decrypter: c.Keys, Token: token, Hosts: web.HostsFor(ln.Addr().String()),
		Workers: workers, Logger: log,
		CacheSize: int64(sf.cache.cacheSize), CacheMaxAge: sf.cache.cacheMaxAge, Mlock: mlock})
	if err != nil {
		return err
	}
	defer h.Close() // the viewer's cache, zeroed and unmapped once the server stopped
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	scheme := "http"
	if sf.tlsCert != "" {
		scheme = "https"
	}
	fmt.Fprintf(a.stdout, "%s://%s/?token=%s\n", scheme, ln.Addr(), token)
	done := make(chan error, 1)
	go func() {
		if sf.tlsCert != "" {
			done <- srv.ServeTLS(ln, sf.tlsCert, sf.tlsKey)
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
