// Package demo is `demo`: the Twilio simulator on loopback, a key
// generated in memory, and a mount (or, with --serve, the viewer) made by
// the same code as `mount` and `serve`. No account needed.
package demo

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/cmd/mount"
	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/cmd/serve"
	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/cmdutil"
	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/factory"
	"github.com/intelligencefs/intelligencefs/crypto"
	"github.com/intelligencefs/intelligencefs/fetch"
	"github.com/intelligencefs/intelligencefs/fetch/twiliosim"
)

// NewCmd builds `demo`: the simulator on loopback, a key generated in
// memory, and a mount made by the same code as `mount`. No account needed.
func NewCmd(f *factory.Factory) *cobra.Command {
	opts := &Options{}
	cmd := &cobra.Command{
		Use:   "demo [flags] MOUNTPOINT | demo --serve",
		Short: "Mount a simulated account with generated, encrypted transcripts: no Twilio account needed (Linux)",
		Long: `demo starts a Twilio simulator on loopback holding an encrypted, a plain and a
mixed Intelligence service (about 200 transcripts, some still in progress),
generates an RSA key pair in memory (never written anywhere) whose public
half the simulator encrypts with, and mounts it at MOUNTPOINT (created if
missing) exactly as mount would. Ctrl-C unmounts. With --serve it runs the
web viewer of serve on it instead (no mount point, no FUSE).`,
		Example: `  intelligencefs demo /tmp/ci
  intelligencefs demo --latency 80ms /tmp/ci   # feel the real API's round trips
  intelligencefs demo --serve                  # the web viewer on the simulator`,
		Args: func(cmd *cobra.Command, args []string) error {
			if opts.Serve {
				return cmdutil.ExactArgs(0, "no MOUNTPOINT with --serve")(cmd, args)
			}
			return cmdutil.ExactArgs(1, "one MOUNTPOINT")(cmd, args)
		},
	}
	m := mount.AddFlags(cmd, nil)
	sf := serve.AddListenFlags(cmd.Flags())
	sf.Cache = m.CacheFlags
	sf.LogLevel, sf.LogFormat = &m.LogLevel, &m.LogFormat
	opts.Mount, opts.Listen = m, sf
	fl := cmd.Flags()
	fl.DurationVar(&opts.Latency, "latency", 0, "delay every simulated API request and download by this much (e.g. 80ms)")
	fl.IntVar(&opts.Transcripts, "transcripts", 67, "transcripts per simulated service (three services)")
	fl.Int64Var(&opts.Seed, "seed", 1, "seed of the generated corpus")
	fl.BoolVar(&opts.Serve, "serve", false, "run the web viewer (as serve does) on the simulator instead of mounting it")
	_ = fl.MarkHidden("daemon")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) > 0 {
			opts.MountPoint = args[0]
		}
		return run(cmd.Context(), f, opts)
	}
	return cmd
}

// Options are the settings of one `demo`.
type Options struct {
	// Latency delays every simulated request; Transcripts is how many
	// each simulated service holds; Seed seeds the generated corpus.
	Latency     time.Duration
	Transcripts int
	Seed        int64
	// Serve runs the viewer instead of mounting.
	Serve bool
	// Mount are mount's flags; Listen the viewer's.
	Mount  *mount.Options
	Listen *serve.ListenFlags
	// MountPoint is where to mount (created if missing); "" with Serve.
	MountPoint string
}

// run starts the simulator and mounts it (or serves the viewer on it)
// until interrupted.
func run(ctx context.Context, f *factory.Factory, opts *Options) error {
	m, sf := opts.Mount, opts.Listen
	latency, transcripts, seed := opts.Latency, opts.Transcripts, opts.Seed
	if m.Daemon {
		return cmdutil.Usagef("demo runs in the foreground (no --daemon)")
	}
	if latency < 0 || transcripts < 1 {
		return cmdutil.Usagef("--latency must not be negative and --transcripts must be at least 1")
	}
	if opts.Serve {
		if err := sf.Validate(); err != nil {
			return err
		}
	} else if !mount.Supported {
		return mount.ErrNeedsLinux
	}
	if !opts.Serve && !strings.HasPrefix(opts.MountPoint, "/dev/fd/") {
		mp := opts.MountPoint
		if _, err := os.Stat(mp); errors.Is(err, os.ErrNotExist) {
			if err := os.MkdirAll(mp, 0o700); err != nil {
				return fmt.Errorf("creating the mount point: %w", err)
			}
		}
	}
	key, err := crypto.GenerateKey(2048)
	if err != nil {
		return err
	}
	defer crypto.ZeroPrivateKey(key)
	sim, err := twiliosim.NewServer(twiliosim.Options{
		Keys:   []twiliosim.Credential{{FriendlyName: "intelligencefs demo", PublicKey: &key.PublicKey}},
		Corpus: twiliosim.CorpusOptions{Seed: seed, TranscriptsPerService: transcripts},
	})
	if err != nil {
		return fmt.Errorf("starting the simulator: %w", err)
	}
	defer sim.Close()
	if latency > 0 {
		sim.SetFaults(twiliosim.Faults{APILatency: latency, ObjectLatency: latency})
	}
	connect := func(tune func(*fetch.Config)) (*factory.Connection, error) {
		cfg := fetch.Config{AccountSID: sim.AccountSID, AuthToken: sim.AuthToken, APIURL: sim.URL, WordTimestamps: true}
		if tune != nil {
			tune(&cfg)
		}
		client, err := fetch.New(cfg)
		if err != nil {
			return nil, err
		}
		ring := crypto.NewKeyring()
		// Bound to its credential, as a careful user would bind theirs.
		ring.Add(key, sim.CredentialSIDs()[0])
		return &factory.Connection{Client: client, Keys: ring, Credentials: "simulated account " + sim.AccountSID}, nil
	}
	if opts.Serve {
		log, err := sf.Logger(f.Stderr)
		if err != nil {
			return err
		}
		c, err := connect(func(cfg *fetch.Config) {
			m.LimitFlags.Tune(cfg)
			cfg.Logger = log
		})
		if err != nil {
			return err
		}
		defer c.Client.Close()
		defer c.Keys.Zero()
		return serve.Run(ctx, f, c, sf, m.LimitFlags.Workers(), log)
	}
	return mount.Run(ctx, f, mount.Request{
		Options:    m,
		MountPoint: opts.MountPoint,
		FsName:     "intelligencefs-demo",
		Connect:    connect,
		OnReady:    func(mp string) { printDemoHints(f, mp, sim) },
	})
}

// printDemoHints prints three commands to try on the demo mount.
func printDemoHints(f *factory.Factory, mp string, sim *twiliosim.Server) {
	var svc twiliosim.ServiceInfo
	var tr twiliosim.TranscriptInfo
	n := 0
	for _, s := range sim.Services() {
		ts := sim.Transcripts(s.SID)
		n += len(ts)
		if s.EncryptionCredentialSID == "" || svc.SID != "" {
			continue
		}
		for _, t := range ts {
			if t.Status == twiliosim.StatusCompleted && t.EncryptionCredentialSID != "" {
				svc, tr = s, t
				break
			}
		}
	}
	fmt.Fprintf(f.Stdout, "intelligencefs demo: a simulated account (%d services, %d transcripts) is mounted at %s;\n", len(sim.Services()), n, mp)
	fmt.Fprintf(f.Stdout, "its private key exists only in this process's memory. Try, in another terminal:\n\n")
	fmt.Fprintf(f.Stdout, "  grep -rl --include=sentences.txt refund %s/services/call-centre-encrypted/transcripts | head\n", mp)
	if tr.SID != "" {
		dir := filepath.Join(mp, "services", svc.SID, "transcripts", tr.SID)
		fmt.Fprintf(f.Stdout, "  jq -c . %s/operator-results/*.json\n", dir)
		fmt.Fprintf(f.Stdout, "  cat %s/sentences.txt\n", dir)
	}
	fmt.Fprintf(f.Stdout, "\nPress Ctrl-C to unmount.\n")
}
