//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/intelligencefs/intelligencefs/fetch"
	"github.com/intelligencefs/intelligencefs/fetch/record"
	"github.com/intelligencefs/intelligencefs/fs"
	"github.com/intelligencefs/intelligencefs/fs/plaincache"
)

// Shutdown budget: SIGINT/SIGTERM must leave nothing mounted within 2 s,
// even with reads in flight. A clean unmount gets unmountTry; a busy mount is
// then detached lazily; the serve loop gets until shutdownBudget to drain.
const (
	unmountTry     = 700 * time.Millisecond
	shutdownBudget = 1700 * time.Millisecond
	preflightLimit = 30 * time.Second
)

// runMount is `mount`, the fstab form and demo: check everything that can
// be checked (flags, credentials, keys, the mount point), mount, report
// readiness (log line, systemd, daemon parent), then serve until a signal
// or an unmount from outside.
func (a *app) runMount(ctx context.Context, req mountRequest) (err error) {
	m := req.flags
	if err := m.applyOptions(); err != nil {
		return err
	}
	if err := m.validate(); err != nil {
		return err
	}
	if !isFDMountPoint(req.mountPoint) {
		if _, err := checkMountPointPath(req.mountPoint); err != nil {
			return err
		}
	}
	if m.conn != nil && m.conn.keys != nil && a.child != nil {
		m.conn.keys.inherited = a.child.passphrases
	}

	// Signals first, so Ctrl-C during the checks stops them. SIGHUP does
	// not stop the mount: it drops the cached listings (rclone's
	// vfs/forget), and is ignored until mounted.
	sigCtx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	if req.daemon && a.child == nil {
		// The parent: fail fast here (credentials, keys, prompting on this
		// terminal), then let the child mount.
		c, err := req.connect(nil)
		if err != nil {
			return err
		}
		c.Client.Close()
		c.Keys.Zero() // the child loads its own
		var prompted map[string][]byte
		if m.conn != nil && m.conn.keys != nil {
			prompted = m.conn.keys.prompted
		}
		return a.daemonize(sigCtx, prompted, req.mountPoint)
	}

	logOut, closeLog, err := a.logWriter(m)
	if err != nil {
		return err
	}
	defer closeLog()
	log, err := newLogger(logOut, m.logLevel, m.logFormat)
	if err != nil {
		return err
	}

	latency := newFetchLatency()
	conn, err := req.connect(func(c *fetch.Config) {
		m.limitFlags.tune(c)
		c.Logger = log
		c.ObserveAttempt = observeLatency(latency)
	})
	if err != nil {
		return err
	}
	defer conn.Client.Close()
	// Read: from here on no child (fusermount3 -u included) inherits them.
	scrubSecretEnv()
	// The keys (and below, the cache) are zeroed on return only once no FUSE
	// handler can use them any more: always before fs.Mount; after it, only
	// if shutdown saw the serve loop end.
	noHandlers := true
	defer func() {
		if noHandlers {
			conn.Keys.Zero()
		}
	}()
	for _, k := range conn.LoadedKeys {
		log.Debug("private key loaded", "path", k.Path, "bits", k.Bits, "credential", credentialOrTrial(k.CredentialSID))
	}
	if len(conn.LoadedKeys) == 0 && conn.Keys.Len() == 0 {
		log.Warn("no --private-key given: plain transcripts read, encrypted ones fail with EACCES")
	}

	pctx, cancel := context.WithTimeout(sigCtx, preflightLimit)
	err = conn.Client.ValidateCredentials(pctx)
	cancel()
	if err != nil {
		return credentialError(conn.Credentials, err, sigCtx)
	}

	mp, err := prepareMountPoint(req.mountPoint, log)
	if err != nil {
		return err
	}
	if !m.allowNonEmpty && !isFDMountPoint(mp) {
		if err := refuseNonEmpty(mp); err != nil {
			return err
		}
	}

	copts, err := m.cacheFlags.options()
	if err != nil {
		return err
	}
	var root atomic.Pointer[fs.Root]
	copts.Logger = log
	copts.OnDrop = func(key string) {
		if r := root.Load(); r != nil {
			r.CacheDropped(key)
		}
	}
	cache, err := plaincache.New(copts)
	if err != nil {
		return fmt.Errorf("plaintext cache: %w", err)
	}
	defer func() {
		if noHandlers {
			cache.Close() // zeroed and unmapped
		}
	}()

	snap := func() counters {
		cs, fst := cache.Stats(), conn.Client.Stats()
		c := counters{
			CacheHits: cs.Hits, CacheMisses: cs.Misses, CacheBytes: cs.Bytes,
			CacheEntries: cs.Entries, CacheEvictions: cs.Evictions,
			APIRequests: fst.APIRequests, ObjectDownloads: fst.ObjectDownloads,
			Retries: fst.Retries, Errors: fst.Errors, BytesDownloaded: fst.BytesDownloaded,
			Throttled: fst.Throttled, APILimit: fst.APILimit, ObjectLimit: fst.ObjectLimit,
			APIInFlight: fst.APIInFlight, ObjectsInFlight: fst.ObjectsInFlight,
		}
		if r := root.Load(); r != nil {
			c.DecryptFailures = r.Stats().DecryptFailures
		}
		return c
	}
	var metrics *metricsServer
	if m.metricsAddr != "" {
		if metrics, err = startMetrics(m.metricsAddr, newMetricsRegistry(snap, latency), log); err != nil {
			return err
		}
		defer metrics.close()
	}

	opts := fs.DefaultOptions()
	opts.Source = conn.Client
	opts.Decrypter = conn.Keys
	opts.Cache = cache
	opts.CacheSize = int64(m.cacheSize)
	opts.CacheMaxAge = m.cacheMaxAge
	opts.Mlock = copts.Mlock
	opts.Logger = log
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
	opts.Concurrency = m.maxConcurrency
	opts.Limit = func() int { return conn.Client.Stats().APILimit }
	opts.DebugFUSE = m.debugFUSE
	opts.FsName = req.fsName

	srv, err := fs.Mount(mp, opts)
	if err != nil {
		return mountError(mp, m.allowOther, err)
	}
	root.Store(srv.Root())

	served := make(chan struct{})
	go func() {
		srv.Wait()
		close(served)
	}()

	// Ready: the mount answers.
	log.Info("mounted", "mountpoint", mp, "credentials", conn.Credentials, "cache_size", m.cacheSize.String(), "mlock", m.mlock)
	if err := sdNotify(a.getenv("NOTIFY_SOCKET"), "READY=1\nSTATUS=mounted at "+mp); err != nil {
		log.Warn("could not notify systemd", "err", err)
	}
	if req.onReady != nil {
		req.onReady(mp)
	}
	if a.child != nil {
		a.child.ready()
	}

	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	defer signal.Stop(usr1)
	usr1Tick := make(chan struct{})
	statsCtx, stopStats := context.WithCancel(context.Background())
	defer stopStats()
	go func() {
		for {
			select {
			case <-statsCtx.Done():
				return
			case <-usr1:
				select {
				case usr1Tick <- struct{}{}:
				case <-statsCtx.Done():
					return
				}
			}
		}
	}()
	go statsLoop(statsCtx, log, m.statsInterval, usr1Tick, snap)

	// A key that opens none of an encrypted service's transcripts is said
	// now, once per service, not at the first EACCES. Stopped (and waited
	// for) before the keys are zeroed.
	if conn.Keys.Len() > 0 {
		checkCtx, stopCheck := context.WithCancel(sigCtx)
		checked := make(chan struct{})
		go func() {
			defer close(checked)
			checkKeysInBackground(checkCtx, conn.Client, conn.Keys, log)
		}()
		defer func() {
			stopCheck()
			<-checked
		}()
	}

	for {
		select {
		case <-served:
			log.Info("unmounted from outside", "mountpoint", mp)
			return nil
		case <-hup:
			srv.Root().Forget()
			continue
		case <-sigCtx.Done():
		}
		break
	}
	stopStats()
	_ = sdNotify(a.getenv("NOTIFY_SOCKET"), "STOPPING=1")
	noHandlers = shutdown(srv, mp, served, log)
	logCounters(log, snap())
	return nil
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
	if isFDMountPoint(mp) {
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
		log.Warn("the mount point is busy (a file is open or a process has its working directory inside); detaching it lazily", "mountpoint", mp, "err", oneLine(err.Error()))
	case <-served:
		log.Info("unmounted", "mountpoint", mp)
		return true
	case <-time.After(unmountTry):
		log.Warn("unmounting takes too long (reads in flight or the mount point busy); detaching it lazily", "mountpoint", mp)
	}
	if err := lazyUnmount(mp); err != nil {
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
func (a *app) logWriter(m *mountFlags) (io.Writer, func(), error) {
	var after io.Writer = a.stderr
	closeFn := func() {}
	if m.logFile != "" {
		f, err := os.OpenFile(m.logFile, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			return nil, nil, fmt.Errorf("--log-file: %w", err)
		}
		after, closeFn = f, func() { f.Close() }
	} else if a.child != nil {
		after = io.Discard
	}
	if a.child != nil {
		return &relayWriter{child: a.child, after: after}, closeFn, nil
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

// refuseNonEmpty fails when mp holds files: mounting over them would hide
// them silently until unmounted (--allow-non-empty, -o nonempty accept it).
func refuseNonEmpty(mp string) error {
	f, err := os.Open(mp)
	if err != nil {
		return fmt.Errorf("mount point: %w", err)
	}
	defer f.Close()
	names, err := f.Readdirnames(1)
	if len(names) > 0 {
		return fmt.Errorf("mount point %s is not empty (it holds %q): mounting would hide its files; choose an empty folder or pass --allow-non-empty", mp, truncate(names[0], 40))
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("mount point: %w", err)
	}
	return nil
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

// runFstab is the fstab form: parse it, turn every -o key into the mount
// flag of that name, and mount like `mount`, daemonizing once mounted
// unless -f.
func (a *app) runFstab(ctx context.Context, args []string) error {
	inv, err := parseFstabArgs(args)
	if err != nil {
		return err
	}
	// The same flags as `mount`, set from -o keys instead of the command line.
	cmd := &cobra.Command{Use: "intelligencefs SOURCE MOUNTPOINT -o OPTS"}
	conn := a.addConnFlags(cmd, true)
	m := addMountFlags(cmd, conn)
	flags := cmd.Flags()
	if err := applyMountOptions(flags, inv.Options); err != nil {
		return err
	}
	if inv.Debug {
		m.debugFUSE = true
	}
	if accountSIDPattern.MatchString(inv.Source) {
		if conn.accountSID != "" && conn.accountSID != inv.Source {
			return usagef("SOURCE %s and -o account_sid=%s disagree", inv.Source, conn.accountSID)
		}
		conn.accountSID = inv.Source
	}
	return a.runMount(ctx, mountRequest{
		flags:      m,
		mountPoint: inv.MountPoint,
		fsName:     inv.Source,
		daemon:     !inv.Foreground,
		connect:    conn.connect,
	})
}

// mountSupported is true: FUSE mounts work here.
const mountSupported = true
