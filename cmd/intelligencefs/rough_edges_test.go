package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/intelligencefs/intelligencefs/crypto"
	"github.com/intelligencefs/intelligencefs/fetch/twiliosim"
)

// TestUsageErrors: invocations that are mistakes exit 2 with one line
// naming what was wrong.
func TestUsageErrors(t *testing.T) {
	sim := newSim(t, twiliosim.Options{Corpus: twiliosim.CorpusOptions{TranscriptsPerService: -1}})
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"cat of a name that is no SID", []string{"cat", "nonsense"}, `"nonsense" is not a transcript SID`},
		{"decrypt with both forms", []string{"decrypt", "--private-key", "k.pem", "--headers", "h.txt", "--iv", "AAAA", "body.bin"}, "either --headers FILE or --encrypted-key"},
		{"decrypt with both forms (key)", []string{"decrypt", "--private-key", "k.pem", "--headers", "h.txt", "--encrypted-key", "AAAA", "body.bin"}, "either --headers FILE or --encrypted-key"},
		{"--unredacted on keys", []string{"keys", "list", "--unredacted"}, "unknown flag: --unredacted"},
		{"--unredacted on services", []string{"services", "list", "--unredacted"}, "unknown flag: --unredacted"},
		{"-o secret on mount", []string{"mount", "-o", "auth_token=x", "/nonexistent"}, "secrets are not accepted"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			oneErrorLine(t, runCLI(t, simEnv(sim), tc.args...), 2, tc.want)
		})
	}
}

// TestListJSON: services list and keys list --json print the resources as
// a JSON array that jq reads.
func TestListJSON(t *testing.T) {
	key := newKey(t)
	sim := newSim(t, twiliosim.Options{
		Keys:   []twiliosim.Credential{{PublicKey: &key.PublicKey, FriendlyName: "prod key"}},
		Corpus: twiliosim.CorpusOptions{TranscriptsPerService: -1},
	})
	var svcs []map[string]any
	if err := json.Unmarshal([]byte(mustRun(t, simEnv(sim), "services", "list", "--json").stdout), &svcs); err != nil {
		t.Fatal(err)
	}
	if len(svcs) != len(sim.Services()) {
		t.Fatalf("%d services, want %d", len(svcs), len(sim.Services()))
	}
	for i, s := range sim.Services() {
		var want map[string]any
		json.Unmarshal(s.JSON, &want)
		if svcs[i]["sid"] != s.SID || svcs[i]["unique_name"] != want["unique_name"] || svcs[i]["data_logging"] != want["data_logging"] {
			t.Errorf("service %d: %v, want %v", i, svcs[i], want)
		}
	}
	var keys []map[string]any
	if err := json.Unmarshal([]byte(mustRun(t, simEnv(sim), "keys", "list", "--json").stdout), &keys); err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || keys[0]["sid"] != sim.CredentialSIDs()[0] || keys[0]["friendly_name"] != "prod key" ||
		!strings.HasPrefix(keys[0]["date_created"].(string), "20") {
		t.Errorf("keys list --json: %v", keys)
	}
}

// TestVersion: `version` and `--version` say the module and how it was
// built.
func TestVersion(t *testing.T) {
	a := mustRun(t, baseEnv(), "version").stdout
	b := mustRun(t, baseEnv(), "--version").stdout
	if a != b || !strings.HasPrefix(a, "intelligencefs ") || !strings.Contains(a, "module github.com/intelligencefs/intelligencefs") || !strings.Contains(a, "go1.") {
		t.Errorf("version %q, --version %q", a, b)
	}
}

// TestCompletionValues: shell completion offers the values of the enum
// flags.
func TestCompletionValues(t *testing.T) {
	for flag, want := range map[string][]string{
		"--mlock":      {"auto", "required", "off"},
		"--log-level":  {"debug", "info", "warn", "error"},
		"--log-format": {"text", "json"},
	} {
		out := mustRun(t, baseEnv(), "__complete", "mount", flag, "").stdout
		for _, v := range want {
			if !strings.Contains(out, v+"\n") {
				t.Errorf("completion of %s lacks %s:\n%s", flag, v, out)
			}
		}
	}
}

// TestManPages: every page has ENVIRONMENT and EXIT STATUS, the root and
// mount pages the fstab form; without --dir they go where man looks.
func TestManPages(t *testing.T) {
	home, err := os.MkdirTemp("", "home") // reachable by an unprivileged user
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(home) })
	env := []string{"HOME=" + home, "PATH=" + os.Getenv("PATH")}
	// As a user (setpriv drops root): the default is under HOME.
	dir := filepath.Join(home, ".local", "share", "man", "man1")
	if err := os.Chown(home, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	res := runCLIUnder(t, []string{"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"}, env, "man")
	if res.code != 0 || !strings.Contains(res.stdout, dir) {
		t.Fatalf("man without --dir: %d %q %q", res.code, res.stdout, res.stderr)
	}
	pages, _ := filepath.Glob(filepath.Join(dir, "*.1"))
	if len(pages) < 10 {
		t.Fatalf("%d pages in %s", len(pages), dir)
	}
	for _, p := range pages {
		b, _ := os.ReadFile(p)
		for _, sec := range []string{".SH ENVIRONMENT", ".SH EXIT STATUS", "TWILIO_AUTH_TOKEN"} {
			if !strings.Contains(string(b), sec) {
				t.Errorf("%s lacks %s", filepath.Base(p), sec)
			}
		}
		base := filepath.Base(p)
		if (base == "intelligencefs.1" || base == "intelligencefs-mount.1") && !strings.Contains(string(b), "fuse.intelligencefs") {
			t.Errorf("%s lacks the fstab form", base)
		}
	}
}

// TestPublicKeyGivenAsPrivate: keygen's public_key.pem (0644) given as
// --private-key is named a public key, not told to chmod; doctor does not
// then claim no key was given.
func TestPublicKeyGivenAsPrivate(t *testing.T) {
	key := newKey(t)
	sim := newSim(t, twiliosim.Options{Keys: []twiliosim.Credential{{PublicKey: &key.PublicKey}}, Corpus: twiliosim.CorpusOptions{TranscriptsPerService: 3}})
	pub := filepath.Join(t.TempDir(), "public_key.pem")
	b, err := crypto.MarshalPublicKeyPEM(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pub, b, 0o644); err != nil {
		t.Fatal(err)
	}
	res := runCLI(t, simEnv(sim), "cat", "--private-key", pub, "GT"+strings.Repeat("0", 32))
	if res.code == 0 || !strings.Contains(res.stderr, "public key") || strings.Contains(res.stderr, "chmod") {
		t.Errorf("cat with a public key: %d %q", res.code, res.stderr)
	}
	res = runCLI(t, simEnv(sim), "doctor", "--private-key", pub)
	if !strings.Contains(res.stdout, "public key") || strings.Contains(res.stdout, "chmod") {
		t.Errorf("doctor's key line:\n%s", res.stdout)
	}
	if strings.Contains(res.stdout, "no --private-key given") || !strings.Contains(res.stdout, "the --private-key given did not load") {
		t.Errorf("doctor's service line:\n%s", res.stdout)
	}
}
