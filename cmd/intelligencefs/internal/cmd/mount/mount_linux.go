//go:build linux

package mount

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/cmdutil"
	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/factory"
	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/keycheck"
	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/metrics"
	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/mountopts"
	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/mountpoint"
	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/sdnotify"
	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/unmount"
	"github.com/intelligencefs/intelligencefs/fetch"
	"github.com/intelligencefs/intelligencefs/fetch/record"
	"github.com/intelligencefs/intelligencefs/fs"
)

// Shutdown budget: SIGINT/SIGTERM must leave nothing mounted within 2 s,
// even with reads in flight. A clean unmount gets unmountTry; a busy mount is
// then detached lazily; the serve loop gets until shutdownBudget to drain.
const (
	unmountTry     = 700 * time.Millisecond
	shutdownBudget = 1700 * time.Millisecond
	preflightLimit = 30 * time.Second
)

// Run is `mount`, the fstab form and demo, in three steps with one
// hand-off each: prepareMount checks everything that can be checked
// (flags, credentials, keys, the mount point) and returns a preparedMount;
// its mount makes the mount and reports readiness (log line, systemd,
// daemon parent), returning a liveMount; whose serve serves until a signal
// or an unmount from outside. The daemon parent stops after the checks and
// hands over to its child.
func Run(ctx context.Context, f *factory.Factory, req Request) error {
	if err := checkMountRequest(f, req); err != nil {
		return err
	}
	// Signals first, so Ctrl-C during the checks stops them. SIGHUP does
	// not stop the mount: it drops the cached listings (rclone's
	// vfs/forget), and is ignored until mounted.
	sigCtx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	if req.Daemon && f.Child == nil {
		return daemonParent(sigCtx, f, req)
	}
	p, err := prepareMount(sigCtx, f, req)
	if err != nil {
		return err
	}
	defer p.release()
	live, err := p.mount()
	if err != nil {
		return err
	}
	return live.serve(sigCtx, hup)
}

// checkMountRequest checks what needs neither the network nor the log: the
// -o options and flags, and that the mount point is not one refused
// outright. In the daemon child it takes over the parent's passphrases.
func checkMountRequest(f *factory.Factory, req Request) error {
	m := req.Options
	if err := m.applyOptions(); err != nil {
		return err
	}
	if err := m.Validate(); err != nil {
		return err
	}
	if !mountpoint.IsFD(req.MountPoint) {
		if _, err := mountpoint.CheckPath(req.MountPoint); err != nil {
			return err
		}
	}
	if m.conn != nil && m.conn.Keys != nil && f.Child != nil {
		m.conn.Keys.Inherited = f.Child.Passphrases()
	}
	return nil
}

// daemonParent is the daemon parent's part: fail fast here (credentials,
// keys, prompting on this terminal), then let the child mount.
func daemonParent(ctx context.Context, f *factory.Factory, req Request) error {
	c, err := req.Connect(nil)
	if err != nil {
		return err
	}
	c.Client.Close()
	c.Keys.Zero() // the child loads its own
	var prompted map[string][]byte
	if m := req.Options; m.conn != nil && m.conn.Keys != nil {
		prompted = m.conn.Keys.Prompted
	}
	return daemonize(ctx, f, prompted, req.MountPoint)
}

// preparedMount is a mount ready to be made: the log open, the connection
// made and its credentials accepted by Twilio, the mount point checked, the
// metrics address bound. release undoes it.
type preparedMount struct {
	f       *factory.Factory
	req     Request
	log     *slog.Logger
	conn    *factory.Connection
	mp      string                   // the mount point, absolute (or /dev/fd/N)
	latency *prometheus.HistogramVec // of fetch attempts, for the metrics
	metrics *metrics.Server          // --metrics-addr, bound; nil without
	// handlersDone is false while a FUSE handler may still use the keys:
	// release then leaves them to the process's exit.
	handlersDone bool
	undo         []func() // run by release, last first
}

// prepareMount opens the log, connects (keys loaded, secrets scrubbed from
// the environment), checks the credentials with Twilio and the mount point,
// and binds the metrics address. Nothing is mounted yet; on error
// everything it did is undone.
func prepareMount(ctx context.Context, f *factory.Factory, req Request) (_ *preparedMount, err error) {
	m := req.Options
	p := &preparedMount{f: f, req: req, latency: metrics.NewFetchLatency(), handlersDone: true}
	defer func() {
		if err != nil {
			p.release()
		}
	}()
	logOut, closeLog, err := logWriter(f, m)
	if err != nil {
		return nil, err
	}
	p.undo = append(p.undo, closeLog)
	if p.log, err = cmdutil.NewLogger(logOut, m.LogLevel, m.LogFormat); err != nil {
		return nil, err
	}
	if err := p.connect(ctx); err != nil {
		return nil, err
	}
	if p.mp, err = mountpoint.Prepare(req.MountPoint, p.log); err != nil {
		return nil, err
	}
	if !m.allowNonEmpty && !mountpoint.IsFD(p.mp) {
		if err := mountpoint.RefuseNonEmpty(p.mp); err != nil {
			return nil, err
		}
	}
	if m.metricsAddr != "" {
		if p.metrics, err = metrics.Listen(m.metricsAddr, p.log); err != nil {
			return nil, err
		}
		p.undo = append(p.undo, p.metrics.Close)
	}
	return p, nil
}

// connect builds the connection (client and keyring) with the mount's
// limits, logger and latency histogram, scrubs the secrets from the
// environment, and has Twilio check the credentials.
func (p *preparedMount) connect(ctx context.Context) error {
	m, log := p.req.Options, p.log
	conn, err := p.req.Connect(func(c *fetch.Config) {
		m.LimitFlags.Tune(c)
		c.Logger = log
		c.ObserveAttempt = metrics.ObserveLatency(p.latency)
	})
	if err != nil {
		return err
	}
	p.conn = conn
	// The keys are zeroed on release only once no FUSE handler can use
	// them any more: always before the mount; after it, only if shutdown
	// saw the serve loop end.
	p.undo = append(p.undo, conn.Client.Close, func() {
		if p.handlersDone {
			conn.Keys.Zero()
		}
	})
	// Read: from here on no child (fusermount3 -u included) inherits them.
	mountpoint.ScrubSecretEnv()
	for _, k := range conn.LoadedKeys {
		log.Debug("private key loaded", "path", k.Path, "bits", k.Bits, "credential", credentialOrTrial(k.CredentialSID))
	}
	if len(conn.LoadedKeys) == 0 && conn.Keys.Len() == 0 {
		log.Warn("no --private-key given: plain transcripts read, encrypted ones fail with EACCES")
	}
	pctx, cancel := context.WithTimeout(ctx, preflightLimit)
	err = conn.Client.ValidateCredentials(pctx)
	cancel()
	if err != nil {
		return credentialError(conn.Credentials, err, ctx)
	}
	return nil
}

// release undoes what prepareMount did, last first: the metrics listener,
// the keys (zeroed, unless a FUSE handler may still use them), the client,
// the log. (The mount's plaintext cache is the mount's: fs zeroes and
// unmaps it once its serve loop ended.)
func (p *preparedMount) release() {
	for i := len(p.undo) - 1; i >= 0; i-- {
		p.undo[i]()
	}
	p.undo = nil
}

// fsOptions are the mount's settings for fs.Mount, from the flags and what
// prepareMount built.
func (p *preparedMount) fsOptions() (fs.Options, error) {
	m := p.req.Options
	mlock, err := m.MlockMode()
	if err != nil {
		return fs.Options{}, err
	}
	opts := fs.DefaultOptions()
	opts.Source = p.conn.Client
	opts.Decrypter = p.conn.Keys
	opts.CacheSize = int64(m.CacheSize)
	opts.CacheMaxAge = m.CacheMaxAge
	opts.Mlock = mlock
	opts.Logger = p.log
	if m.uid >= 0 {
		opts.UID = uint32(m.uid)
	}
	if m.gid >= 0 {
		opts.GID = uint32(m.gid)
	}
	opts.Umask = m.umask.ptr()
	opts.AllowOther = m.allowOther
	opts.DirCacheTime = m.dirCacheTime
	opts.FullRelist = m.fullRelist
	opts.Prefetch = m.prefetch
	opts.Concurrency = m.MaxConcurrency
	opts.Limit = func() int { return p.conn.Client.Stats().APILimit }
	opts.DebugFUSE = m.debugFUSE
	opts.FsName = p.req.FsName
	return opts, nil
}

// liveMount is a mount that answers: what serve needs to serve it and take
// it down.
type liveMount struct {
	*preparedMount
	srv    *fs.Server
	served chan struct{} // closed when the serve loop ended
}

// mount makes the mount (which builds and owns the plaintext cache),
// starts serving the metrics and reports readiness: the "mounted" log
// line, systemd's READY=1, demo's hints, the daemon parent's exit.
func (p *preparedMount) mount() (*liveMount, error) {
	opts, err := p.fsOptions()
	if err != nil {
		return nil, err
	}
	srv, err := fs.Mount(p.mp, opts)
	if err != nil {
		return nil, mountError(p.mp, p.req.Options.allowOther, err)
	}
	p.handlersDone = false
	l := &liveMount{preparedMount: p, srv: srv, served: make(chan struct{})}
	go func() {
		srv.Wait()
		close(l.served)
	}()
	if p.metrics != nil {
		p.metrics.Serve(metrics.NewRegistry(l.counters, p.latency), p.log)
	}

	m := p.req.Options
	p.log.Info("mounted", "mountpoint", p.mp, "credentials", p.conn.Credentials, "cache_size", m.CacheSize.String(), "mlock", m.Mlock)
	if err := sdnotify.Notify(p.f.Getenv("NOTIFY_SOCKET"), "READY=1\nSTATUS=mounted at "+p.mp); err != nil {
		p.log.Warn("could not notify systemd", "err", err)
	}
	if p.req.OnReady != nil {
		p.req.OnReady(p.mp)
	}
	if p.f.Child != nil {
		p.f.Child.Ready()
	}
	return l, nil
}

// counters is one snapshot of the mount's, its cache's and the client's
// counters, for the stats line and the metrics.
func (l *liveMount) counters() metrics.Counters {
	st, fst := l.srv.Stats(), l.conn.Client.Stats()
	cs := st.Cache
	return metrics.Counters{
		CacheHits: cs.Hits, CacheMisses: cs.Misses, CacheBytes: cs.Bytes,
		CacheEntries: cs.Entries, CacheEvictions: cs.Evictions,
		APIRequests: fst.APIRequests, ObjectDownloads: fst.ObjectDownloads,
		Retries: fst.Retries, Errors: fst.Errors, BytesDownloaded: fst.BytesDownloaded,
		Throttled: fst.Throttled, APILimit: fst.APILimit, ObjectLimit: fst.ObjectLimit,
		APIInFlight: fst.APIInFlight, ObjectsInFlight: fst.ObjectsInFlight,
		DecryptFailures: st.DecryptFailures,
	}
}

// serve serves the mount until SIGINT/SIGTERM (then it unmounts within the
// shutdown budget) or an unmount from outside, logging metrics.Counters every
// --stats-interval and on SIGUSR1, and checking the keys in the background.
// SIGHUP forgets the cached listings.
func (l *liveMount) serve(ctx context.Context, hup <-chan os.Signal) error {
	statsCtx, stopStats := context.WithCancel(context.Background())
	defer stopStats()
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	defer signal.Stop(usr1)
	go metrics.StatsLoop(statsCtx, l.log, l.req.Options.statsInterval, usr1, l.counters)
	defer l.checkKeys(ctx)()

	for {
		select {
		case <-l.served:
			l.log.Info("unmounted from outside", "mountpoint", l.mp)
			l.handlersDone = true
			return nil
		case <-hup:
			l.srv.Root().Forget()
			continue
		case <-ctx.Done():
		}
		break
	}
	stopStats()
	_ = sdnotify.Notify(l.f.Getenv("NOTIFY_SOCKET"), "STOPPING=1")
	l.handlersDone = shutdown(l.srv, l.mp, l.served, l.log)
	metrics.LogCounters(l.log, l.counters())
	return nil
}

// checkKeys says now, once per service, when a key opens none of an
// encrypted service's transcripts, rather than at the first EACCES. The
// returned function stops the check and waits for it (before the keys are
// zeroed).
func (l *liveMount) checkKeys(ctx context.Context) (stop func()) {
	if l.conn.Keys.Len() == 0 {
		return func() {}
	}
	checkCtx, cancel := context.WithCancel(ctx)
	checked := make(chan struct{})
	go func() {
		defer close(checked)
		keycheck.InBackground(checkCtx, l.conn.Client, l.conn.Keys, l.log)
	}()
	return func() {
		cancel()
		<-checked
	}
}

// shutdown unmounts after a signal within the 2 s budget: a clean unmount
// first; if the kernel still holds the mount (files open, a process inside
// it), say so and detach it lazily; then give in-flight requests the rest
// of the budget to finish. It reports whether the serve loop ended (so
// cached plaintext can be zeroed and unmapped without a handler still
// reading it); if not, exiting releases the memory and aborts the
// connection.
func shutdown(srv *fs.Server, mp string, served <-chan struct{}, log *slog.Logger) bool {
	deadline := time.Now().Add(shutdownBudget)
	if mountpoint.IsFD(mp) {
		// Only the privileged parent knows the real mount point; closing
		// our descriptor (by exiting) ends the connection.
		log.Info("stopping; the mount at the /dev/fd descriptor ends with this process")
		return false
	}
	unmounted := make(chan error, 1)
	go func() { unmounted <- srv.Unmount() }()
	select {
	case err := <-unmounted:
		if err == nil {
			log.Info("unmounted", "mountpoint", mp)
			return true
		}
		log.Warn("the mount point is busy (a file is open or a process has its working directory inside); detaching it lazily", "mountpoint", mp, "err", cmdutil.OneLine(err.Error()))
	case <-served:
		log.Info("unmounted", "mountpoint", mp)
		return true
	case <-time.After(unmountTry):
		log.Warn("unmounting takes too long (reads in flight or the mount point busy); detaching it lazily", "mountpoint", mp)
	}
	if err := unmount.Lazy(mp); err != nil {
		log.Error("lazy unmount failed; run fusermount3 -uz on the mount point", "mountpoint", mp, "err", err)
	} else {
		log.Info("detached; the kernel lets go once the last open file is closed", "mountpoint", mp)
	}
	select {
	case <-served:
		return true
	case <-time.After(time.Until(deadline)):
		return false
	}
}

// logWriter returns where log lines go: --log-file, else stderr; in the
// daemon child, to the parent until ready and then to --log-file or nowhere.
func logWriter(f *factory.Factory, m *Options) (io.Writer, func(), error) {
	var after io.Writer = f.Stderr
	closeFn := func() {}
	if m.logFile != "" {
		file, err := os.OpenFile(m.logFile, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			return nil, nil, fmt.Errorf("--log-file: %w", err)
		}
		after, closeFn = file, func() { file.Close() }
	} else if f.Child != nil {
		after = io.Discard
	}
	if f.Child != nil {
		return f.Child.LogWriter(after), closeFn, nil
	}
	return after, closeFn, nil
}

// credentialError explains a failed credential check.
func credentialError(kind string, err error, ctx context.Context) error {
	switch {
	case ctx.Err() != nil:
		return errors.New("interrupted")
	case errors.Is(err, record.ErrForbidden):
		return fmt.Errorf("Twilio accepted the credentials (%s) but forbade the request: give the API key Intelligence permission, or ask Twilio to enable Conversational Intelligence (encryption needs Enterprise or Security Edition) (%w)", kind, err)
	case errors.Is(err, record.ErrAuth):
		return fmt.Errorf("Twilio rejected the credentials (%s): check TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN, or TWILIO_API_KEY and TWILIO_API_SECRET (%w)", kind, err)
	case errors.Is(err, record.ErrUnavailable):
		return fmt.Errorf("cannot reach Twilio to check the credentials: %w", err)
	}
	return fmt.Errorf("checking the credentials: %w", err)
}

// mountError adds what to do to common mount failures.
func mountError(mp string, allowOther bool, err error) error {
	switch {
	case errors.Is(err, os.ErrNotExist) && !fileExists("/dev/fuse"):
		return fmt.Errorf("%w: /dev/fuse is missing: install fuse3 (apt-get install fuse3) or, in a container, run with --device /dev/fuse --cap-add SYS_ADMIN", err)
	case errors.Is(err, os.ErrPermission) && !fileExists("/dev/fuse"):
		return fmt.Errorf("%w: no /dev/fuse here (containers: --device /dev/fuse --cap-add SYS_ADMIN)", err)
	case allowOther && os.Geteuid() != 0:
		return fmt.Errorf("%w (with --allow-other, /etc/fuse.conf needs a line user_allow_other)", err)
	}
	return err
}

// fileExists reports whether path exists.
func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// credentialOrTrial names a key's binding for the log.
func credentialOrTrial(sid string) string {
	if sid == "" {
		return "any (found by trial)"
	}
	return sid
}

// RunFstab is the fstab form: parse it, turn every -o key into the mount
// flag of that name, and mount like `mount`, daemonizing once mounted
// unless -f.
func RunFstab(ctx context.Context, f *factory.Factory, args []string) error {
	inv, err := mountopts.ParseFstabArgs(args)
	if err != nil {
		return err
	}
	// The same flags as `mount`, set from -o keys instead of the command line.
	cmd := &cobra.Command{Use: "intelligencefs SOURCE MOUNTPOINT -o OPTS"}
	conn := f.AddConnFlags(cmd, true)
	m := AddFlags(cmd, conn)
	flags := cmd.Flags()
	if err := mountopts.Apply(flags, inv.Options); err != nil {
		return err
	}
	if inv.Debug {
		m.debugFUSE = true
	}
	if factory.AccountSIDPattern.MatchString(inv.Source) {
		if conn.AccountSID != "" && conn.AccountSID != inv.Source {
			return cmdutil.Usagef("SOURCE %s and -o account_sid=%s disagree", inv.Source, conn.AccountSID)
		}
		conn.AccountSID = inv.Source
	}
	return Run(ctx, f, Request{
		Options:    m,
		MountPoint: inv.MountPoint,
		FsName:     inv.Source,
		Daemon:     !inv.Foreground,
		Connect:    conn.Connect,
	})
}

// Supported is true: FUSE mounts work here.
const Supported = true
