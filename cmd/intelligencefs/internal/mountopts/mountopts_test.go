package mountopts_test

import (
	"io"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/cmd/mount"
	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/cmdutil"
	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/factory"
	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/mountopts"
)

func TestParseMountOptions(t *testing.T) {
	tests := []struct {
		in   string
		want []mountopts.Option
	}{
		{"", nil},
		{"ro", []mountopts.Option{{Key: "ro"}}},
		{"cache_size=64MiB,prefetch=4,allow_other", []mountopts.Option{
			{Key: "cache_size", Value: "64MiB", HasValue: true},
			{Key: "prefetch", Value: "4", HasValue: true},
			{Key: "allow_other"},
		}},
		{",,ro,,", []mountopts.Option{{Key: "ro"}}},
		{"private_key=CR0123456789abcdef0123456789abcdef=/etc/k.pem", []mountopts.Option{
			{Key: "private_key", Value: "CR0123456789abcdef0123456789abcdef=/etc/k.pem", HasValue: true},
		}},
		{`env_file=/etc/a\,b,ro`, []mountopts.Option{{Key: "env_file", Value: "/etc/a,b", HasValue: true}, {Key: "ro"}}},
		{"x-systemd.automount,_netdev", []mountopts.Option{{Key: "x-systemd.automount"}, {Key: "_netdev"}}},
		{"uid=", []mountopts.Option{{Key: "uid", HasValue: true}}},
	}
	for _, tt := range tests {
		got, err := mountopts.Parse(tt.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.in, err)
			continue
		}
		if len(got) != len(tt.want) {
			t.Errorf("Parse(%q) = %v, want %v", tt.in, got, tt.want)
			continue
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("Parse(%q)[%d] = %+v, want %+v", tt.in, i, got[i], tt.want[i])
			}
		}
	}
	for _, bad := range []string{"=x", "a b=1", "\x01"} {
		if _, err := mountopts.Parse(bad); err == nil {
			t.Errorf("Parse(%q): no error", bad)
		}
	}
}

// newTestMountFlags returns the command `mount` is, carrying exactly the
// flags the fstab form applies -o keys to.
func newTestMountFlags() (*cobra.Command, func(name string) string) {
	f := &factory.Factory{Stdout: io.Discard, Stderr: io.Discard, Getenv: func(string) string { return "" }}
	cmd := mount.NewCmd(f)
	return cmd, func(name string) string { return cmd.Flags().Lookup(name).Value.String() }
}

func TestApplyMountOptions(t *testing.T) {
	cmd, value := newTestMountFlags()
	opts, err := mountopts.Parse("rw,defaults,nodev,nosuid,noexec,noatime,_netdev,user,users,auto,noauto,nofail,x-systemd.requires=network-online.target," +
		"cache_size=64MiB,prefetch=4,allow_other,uid=1000,umask=0027,mlock=off,env_file=/etc/intelligencefs/env," +
		"private_key=/a.pem,private_key=CR0123456789abcdef0123456789abcdef=/b.pem,api_url=http://127.0.0.1:1,full_relist=2h,debug_fuse")
	if err != nil {
		t.Fatal(err)
	}
	if err := mountopts.Apply(cmd.Flags(), opts); err != nil {
		t.Fatal(err)
	}
	for flag, want := range map[string]string{
		"cache-size": "64MiB", "prefetch": "4", "allow-other": "true", "uid": "1000", "umask": "0027",
		"mlock": "off", "env-file": "/etc/intelligencefs/env", "private-key": "[/a.pem,CR0123456789abcdef0123456789abcdef=/b.pem]",
		"api-url": "http://127.0.0.1:1", "full-relist": "2h0m0s", "debug-fuse": "true",
	} {
		if got := value(flag); got != want {
			t.Errorf("--%s = %q, want %q", flag, got, want)
		}
	}
}

func TestApplyMountOptionsRefuses(t *testing.T) {
	for _, tt := range []struct{ opt, want string }{
		{"auth_token=s3cr3tvalue", "secrets are not accepted"},
		{"api_secret=s3cr3tvalue", "secrets are not accepted"},
		{"passphrase=s3cr3tvalue", "secrets are not accepted"},
		{"TWILIO_AUTH_TOKEN=s3cr3tvalue", "secrets are not accepted"},
		{"password=s3cr3tvalue", "secrets are not accepted"},
		{"token=s3cr3tvalue", "secrets are not accepted"},
		{"no_such_option=1", "unknown mount option"},
		{"daemon", "daemonizes"},
		{"cache_size", "needs a value"},
		{"cache_size=lots", "invalid value"},
	} {
		cmd, _ := newTestMountFlags()
		opts, err := mountopts.Parse(tt.opt)
		if err != nil {
			t.Fatal(err)
		}
		err = mountopts.Apply(cmd.Flags(), opts)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("-o %s: err = %v, want %q", tt.opt, err, tt.want)
			continue
		}
		if strings.Contains(err.Error(), "s3cr3tvalue") {
			t.Errorf("-o %s: the error quotes the secret: %v", tt.opt, err)
		}
		if cmdutil.ExitCode(err) != 2 {
			t.Errorf("-o %s: exit code %d, want 2", tt.opt, cmdutil.ExitCode(err))
		}
	}
	// passphrase_file names a file, not a secret.
	cmd, value := newTestMountFlags()
	opts, _ := mountopts.Parse("passphrase_file=/etc/pw")
	if err := mountopts.Apply(cmd.Flags(), opts); err != nil || value("passphrase-file") != "/etc/pw" {
		t.Errorf("passphrase_file: %v, %q", err, value("passphrase-file"))
	}
}

func TestFstabArgs(t *testing.T) {
	known := map[string]bool{"mount": true, "decrypt": true}
	for _, tt := range []struct {
		argv0 string
		args  []string
		want  bool
	}{
		{"intelligencefs", []string{"twilio", "/mnt", "-o", "ro"}, true},
		{"intelligencefs", []string{"-o", "ro", "twilio", "/mnt"}, true},
		{"intelligencefs", []string{"mount", "/mnt"}, false},
		{"intelligencefs", []string{"decrypt", "a", "b"}, false},
		{"intelligencefs", []string{"bogus"}, false},
		{"intelligencefs", []string{"--help"}, false},
		{"/sbin/mount.fuse.intelligencefs", []string{"twilio", "/mnt"}, true},
	} {
		if got := mountopts.IsFstabForm(tt.argv0, tt.args, known); got != tt.want {
			t.Errorf("mountopts.IsFstabForm(%q, %q) = %v, want %v", tt.argv0, tt.args, got, tt.want)
		}
	}
	inv, err := mountopts.ParseFstabArgs([]string{"AC0123456789abcdef0123456789abcdef", "/dev/fd/5", "-f", "-o", "ro,cache_size=1G", "-oallow_other", "-t", "fuse.intelligencefs"})
	if err != nil {
		t.Fatal(err)
	}
	if inv.Source != "AC0123456789abcdef0123456789abcdef" || inv.MountPoint != "/dev/fd/5" || !inv.Foreground || len(inv.Options) != 3 {
		t.Errorf("parseFstabArgs = %+v", inv)
	}
	if _, err := mountopts.ParseFstabArgs([]string{"only-one"}); err == nil {
		t.Error("one positional: no error")
	}
}

// FuzzParseMountOptions checks that no -o string makes the parser or the
// flag application panic, that a refused secret never appears in the error,
// and that keys come out non-empty and printable.
func FuzzParseMountOptions(f *testing.F) {
	for _, s := range []string{
		"ro", "cache_size=64MiB,prefetch=4,allow_other", `env_file=/a\,b`, "auth_token=abc", ",,=,",
		"private_key=CR0123456789abcdef0123456789abcdef=/k.pem", "x-systemd.automount,_netdev,rw", "umask=0027,uid=1000,gid=1000",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		opts, err := mountopts.Parse(s)
		if err != nil {
			return
		}
		for _, o := range opts {
			if o.Key == "" || strings.ContainsAny(o.Key, " \t\n") {
				t.Fatalf("bad key %q from %q", o.Key, s)
			}
			kind, _ := mountopts.Classify(o)
			cmd, _ := newTestMountFlags()
			err := mountopts.Apply(cmd.Flags(), []mountopts.Option{o})
			if kind == mountopts.KindSecret {
				if err == nil {
					t.Fatalf("secret-looking %q accepted", o.Key)
				}
				if len(o.Value) >= 4 && strings.Contains(err.Error(), o.Value) && !strings.Contains(o.Key, o.Value) {
					// The value may stand in the fixed text by chance
					// ("mode 0600"): quoting it means the message
					// changes with the value.
					other := o
					other.Value = "canary-not-in-any-message"
					cmd2, _ := newTestMountFlags()
					err2 := mountopts.Apply(cmd2.Flags(), []mountopts.Option{other})
					if err2 == nil || err2.Error() != err.Error() {
						t.Fatalf("error %q quotes the value of %q", err, o.Key)
					}
				}
			}
		}
	})
}

// TestSealedCacheOption: -o sealed_cache= and sealed_cache_size= set the
// flags of the fstab form.
func TestSealedCacheOption(t *testing.T) {
	cmd, value := newTestMountFlags()
	opts, err := mountopts.Parse("sealed_cache=/var/cache/ifs,sealed_cache_size=1GiB")
	if err != nil {
		t.Fatal(err)
	}
	if err := mountopts.Apply(cmd.Flags(), opts); err != nil {
		t.Fatal(err)
	}
	if value("sealed-cache") != "/var/cache/ifs" || value("sealed-cache-size") != "1GiB" {
		t.Errorf("sealed flags: %q, %q", value("sealed-cache"), value("sealed-cache-size"))
	}
}
