package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/intelligencefs/intelligencefs/crypto"
	"github.com/intelligencefs/intelligencefs/fetch"
	"github.com/intelligencefs/intelligencefs/fetch/twiliosim"
)

// newDemoCmd builds `demo`: the simulator on loopback, a key generated in
// memory, and a mount made by the same code as `mount`. No account needed.
func (a *app) newDemoCmd() *cobra.Command {
	var (
		latency     time.Duration
		transcripts int
		seed        int64
		serve       bool
	)
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
			if serve {
				return exactArgs(0, "no MOUNTPOINT with --serve")(cmd, args)
			}
			return exactArgs(1, "one MOUNTPOINT")(cmd, args)
		},
	}
	m := addMountFlags(cmd, nil)
	sf := addServeFlags(cmd.Flags())
	sf.cache = m.cacheFlags
	sf.logLevel, sf.logFormat = &m.logLevel, &m.logFormat
	fl := cmd.Flags()
	fl.DurationVar(&latency, "latency", 0, "delay every simulated API request and download by this much (e.g. 80ms)")
	fl.IntVar(&transcripts, "transcripts", 67, "transcripts per simulated service (three services)")
	fl.Int64Var(&seed, "seed", 1, "seed of the generated corpus")
	fl.BoolVar(&serve, "serve", false, "run the web viewer (as serve does) on the simulator instead of mounting it")
	_ = fl.MarkHidden("daemon")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if m.daemon {
			return usagef("demo runs in the foreground (no --daemon)")
		}
		if latency < 0 || transcripts < 1 {
			return usagef("--latency must not be negative and --transcripts must be at least 1")
		}
		if serve {
			if err := sf.validate(); err != nil {
				return err
			}
		} else if !mountSupported {
			return errNeedsLinux
		}
		if !serve && !strings.HasPrefix(args[0], "/dev/fd/") {
			mp := args[0]
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
		connect := func(tune func(*fetch.Config)) (*connection, error) {
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
			return &connection{Client: client, Keys: ring, Credentials: "simulated account " + sim.AccountSID}, nil
		}
		if serve {
			log, err := sf.logger(a.stderr)
			if err != nil {
				return err
			}
			c, err := connect(func(cfg *fetch.Config) {
				m.limitFlags.tune(cfg)
				cfg.Logger = log
			})
			if err != nil {
				return err
			}
			defer c.Client.Close()
			defer c.Keys.Zero()
			return a.runServe(cmd.Context(), c, sf, m.limitFlags.workers(), log)
		}
		return a.runMount(cmd.Context(), mountRequest{
			flags:      m,
			mountPoint: args[0],
			fsName:     "intelligencefs-demo",
			connect:    connect,
			onReady:    func(mp string) { a.printDemoHints(mp, sim) },
		})
	}
	return cmd
}

// printDemoHints prints three commands to try on the demo mount.
func (a *app) printDemoHints(mp string, sim *twiliosim.Server) {
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
	fmt.Fprintf(a.stdout, "intelligencefs demo: a simulated account (%d services, %d transcripts) is mounted at %s;\n", len(sim.Services()), n, mp)
	fmt.Fprintf(a.stdout, "its private key exists only in this process's memory. Try, in another terminal:\n\n")
	fmt.Fprintf(a.stdout, "  grep -rl --include=sentences.txt refund %s/services/call-centre-encrypted/transcripts | head\n", mp)
	if tr.SID != "" {
		dir := filepath.Join(mp, "services", svc.SID, "transcripts", tr.SID)
		fmt.Fprintf(a.stdout, "  jq -c . %s/operator-results/*.json\n", dir)
		fmt.Fprintf(a.stdout, "  cat %s/sentences.txt\n", dir)
	}
	fmt.Fprintf(a.stdout, "\nPress Ctrl-C to unmount.\n")
}
