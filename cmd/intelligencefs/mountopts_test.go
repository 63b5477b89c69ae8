package main

import (
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

func TestParseMountOptions(t *testing.T) {
	tests := []struct {
		in   string
		want []mountOption
	}{
		{"", nil},
		{"ro", []mountOption{{Key: "ro"}}},
		{"cache_size=64MiB,prefetch=4,allow_other", []mountOption{
			{Key: "cache_size", Value: "64MiB", HasValue: true},
			{Key: "prefetch", Value: "4", HasValue: true},
			{Key: "allow_other"},
		}},
		{",,ro,,", []mountOption{{Key: "ro"}}},
		{"private_key=CR0123456789abcdef0123456789abcdef=/etc/k.pem", []mountOption{
			{Key: "private_key", Value: "CR0123456789abcdef0123456789abcdef=/etc/k.pem", HasValue: true},
		}},
		{`env_file=/etc/a\,b,ro`, []mountOption{{Key: "env_file", Value: "/etc/a,b", HasValue: true}, {Key: "ro"}}},
		{"x-systemd.automount,_netdev", []mountOption{{Key: "x-systemd.automount"}, {Key: "_netdev"}}},
		{"uid=", []mountOption{{Key: "uid", HasValue: true}}},
	}
	for _, tt := range tests {
		got, err := ParseMountOptions(tt.in)
		if err != nil {
			t.Errorf("ParseMountOptions(%q): %v", tt.in, err)
			continue
		}
		if len(got) != len(tt.want) {
			t.Errorf("ParseMountOptions(%q) = %v, want %v", tt.in, got, tt.want)
			continue
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("ParseMountOptions(%q)[%d] = %+v, want %+v", tt.in, i, got[i], tt.want[i])
			}
		}
	}
	for _, bad := range []string{"=x", "a b=1", "\x01"} {
		if _, err := ParseMountOptions(bad); err == nil {
			t.Errorf("ParseMountOptions(%q): no error", bad)
		}
	}
}

// newTestMountFlags returns a command carrying exactly the flags the fstab
// form applies -o keys to.
func newTestMountFlags() (*cobra.Command, *mountFlags) {
	a := &app{getenv: func(string) string { return "" }}
	cmd := &cobra.Command{Use: "x"}
	conn := a.addConnFlags(cmd, true)
	return cmd, addMountFlags(cmd, conn)
}

func TestApplyMountOptions(t *testing.T) {
	cmd, m := newTestMountFlags()
	opts, err := ParseMountOptions("rw,defaults,nodev,nosuid,noexec,noatime,_netdev,user,users,auto,noauto,nofail,x-systemd.requires=network-online.target," +
		"cache_size=64MiB,prefetch=4,allow_other,uid=1000,umask=0027,mlock=off,env_file=/etc/intelligencefs/env," +
		"private_key=/a.pem,private_key=CR0123456789abcdef0123456789abcdef=/b.pem,api_url=http://127.0.0.1:1,full_relist=2h,debug_fuse")
	if err != nil {
		t.Fatal(err)
	}
	if err := applyMountOptions(cmd.Flags(), opts); err != nil {
		t.Fatal(err)
	}
	if int64(m.cacheSize) != 64<<20 || m.prefetch != 4 || !m.allowOther || m.uid != 1000 || m.umask.String() != "0027" ||
		m.mlock != "off" || m.conn.envFile != "/etc/intelligencefs/env" || len(m.conn.keys.privateKeys) != 2 ||
		m.conn.apiURL != "http://127.0.0.1:1" || m.fullRelist.String() != "2h0m0s" || !m.debugFUSE {
		t.Errorf("flags not applied: %+v", m)
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
		opts, err := ParseMountOptions(tt.opt)
		if err != nil {
			t.Fatal(err)
		}
		err = applyMountOptions(cmd.Flags(), opts)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("-o %s: err = %v, want %q", tt.opt, err, tt.want)
			continue
		}
		if strings.Contains(err.Error(), "s3cr3tvalue") {
			t.Errorf("-o %s: the error quotes the secret: %v", tt.opt, err)
		}
		if exitCode(err) != 2 {
			t.Errorf("-o %s: exit code %d, want 2", tt.opt, exitCode(err))
		}
	}
	// passphrase_file names a file, not a secret.
	cmd, m := newTestMountFlags()
	opts, _ := ParseMountOptions("passphrase_file=/etc/pw")
	if err := applyMountOptions(cmd.Flags(), opts); err != nil || m.conn.keys.passphraseFile != "/etc/pw" {
		t.Errorf("passphrase_file: %v, %q", err, m.conn.keys.passphraseFile)
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
		if got := isFstabForm(tt.argv0, tt.args, known); got != tt.want {
			t.Errorf("isFstabForm(%q, %q) = %v, want %v", tt.argv0, tt.args, got, tt.want)
		}
	}
	inv, err := parseFstabArgs([]string{"AC0123456789abcdef0123456789abcdef", "/dev/fd/5", "-f", "-o", "ro,cache_size=1G", "-oallow_other", "-t", "fuse.intelligencefs"})
	if err != nil {
		t.Fatal(err)
	}
	if inv.Source != "AC0123456789abcdef0123456789abcdef" || inv.MountPoint != "/dev/fd/5" || !inv.Foreground || len(inv.Options) != 3 {
		t.Errorf("parseFstabArgs = %+v", inv)
	}
	if _, err := parseFstabArgs([]string{"only-one"}); err == nil {
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
		opts, err := ParseMountOptions(s)
		if err != nil {
			return
		}
		for _, o := range opts {
			if o.Key == "" || strings.ContainsAny(o.Key, " \t\n") {
				t.Fatalf("bad key %q from %q", o.Key, s)
			}
			kind, _ := classifyMountOption(o)
			cmd, _ := newTestMountFlags()
			err := applyMountOptions(cmd.Flags(), []mountOption{o})
			if kind == optSecret {
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
					err2 := applyMountOptions(cmd2.Flags(), []mountOption{other})
					if err2 == nil || err2.Error() != err.Error() {
						t.Fatalf("error %q quotes the value of %q", err, o.Key)
					}
				}
			}
		}
	})
}
