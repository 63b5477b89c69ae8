package daemon

import (
	"bytes"
	"io"
	"strings"
	"testing"
)

func TestSecretsRoundTrip(t *testing.T) {
	in := map[string][]byte{"/a.pem": []byte("pw one"), "b.pem": {}, "c": []byte("x\x00y")}
	env := map[string]string{"TWILIO_AUTH_TOKEN": "tok", "c": "not the passphrase"}
	out, outEnv, err := decodeSecrets(encodeSecrets(in, env))
	if err != nil || len(out) != len(in) || len(outEnv) != len(env) {
		t.Fatalf("%v %v %v", out, outEnv, err)
	}
	for k, v := range in {
		if string(out[k]) != string(v) {
			t.Errorf("%s: %q", k, out[k])
		}
	}
	for k, v := range env {
		if outEnv[k] != v {
			t.Errorf("%s: %q", k, outEnv[k])
		}
	}
	for _, garbled := range [][]byte{{0, 0, 0, 9, 'a'}, {0, 0, 0, 1, 'a'}, {0, 0}, {0, 0, 0, 2, 'x', 'k', 0, 0, 0, 0}} {
		if _, _, err := decodeSecrets(garbled); err == nil {
			t.Errorf("garbled input %q accepted", garbled)
		}
	}
}

// pipeEnd records what the child writes on its status pipe.
type pipeEnd struct {
	bytes.Buffer
	closed bool
}

func (p *pipeEnd) Close() error { p.closed = true; return nil }

// TestChildHandOver: log lines reach the parent until the last status line,
// then go to the log's own destination; Ready zeroes the passphrases; the
// pipe carries exactly one last line and is closed.
func TestChildHandOver(t *testing.T) {
	for _, tc := range []struct {
		name string
		end  func(*Child)
		last string
	}{
		{"ready", (*Child).Ready, "ready"},
		{"fail", func(c *Child) { c.Fail(2, "bad\nflag") }, "error 2 bad flag"},
		{"fail-without-code", func(c *Child) { c.Fail(0, "it broke") }, "error 1 it broke"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status := &pipeEnd{}
			pw := []byte("secret")
			c, err := newChild(bytes.NewReader(encodeSecrets(map[string][]byte{"k.pem": pw}, map[string]string{"TOKEN": "t"})), status)
			if err != nil {
				t.Fatal(err)
			}
			if got := string(c.Passphrases()["k.pem"]); got != "secret" {
				t.Fatalf("passphrase %q", got)
			}
			if got := c.Getenv(func(string) string { return "from the environment" }); got("TOKEN") != "t" || got("OTHER") != "from the environment" {
				t.Errorf("Getenv: %q %q", got("TOKEN"), got("OTHER"))
			}
			kept := c.Passphrases()["k.pem"]
			var after bytes.Buffer
			w := c.LogWriter(&after)
			io.WriteString(w, "level=INFO msg=one\nlevel=INFO msg=two\n")
			tc.end(c)
			tc.end(c) // a second end says nothing more
			io.WriteString(w, "level=INFO msg=three\n")
			want := "log level=INFO msg=one\nlog level=INFO msg=two\n" + tc.last + "\n"
			if status.String() != want || !status.closed {
				t.Errorf("status pipe %q (closed %v), want %q", status.String(), status.closed, want)
			}
			if after.String() != "level=INFO msg=three\n" {
				t.Errorf("after the hand-over the log got %q", after.String())
			}
			if tc.last == "ready" && (len(c.Passphrases()) != 0 || !bytes.Equal(kept, make([]byte, len(kept)))) {
				t.Errorf("Ready left the passphrases: %q", kept)
			}
		})
	}
}

func TestNewChildGarbled(t *testing.T) {
	if _, err := newChild(strings.NewReader("\x00\x00\x00\x09a"), &pipeEnd{}); err == nil {
		t.Error("a garbled hand-over was accepted")
	}
}

// TestSplitEnv: the secret variables leave the child's environment and go
// to the hand-over, everything else stays, in order.
func TestSplitEnv(t *testing.T) {
	rest, secrets := splitEnv([]string{"PATH=/bin", "TWILIO_AUTH_TOKEN=tok=en", "HOME=/h", "TWILIO_API_SECRET="},
		[]string{"TWILIO_AUTH_TOKEN", "TWILIO_API_SECRET", "INTELLIGENCEFS_KEY_PASSPHRASE"})
	if strings.Join(rest, " ") != "PATH=/bin HOME=/h" || len(secrets) != 2 || secrets["TWILIO_AUTH_TOKEN"] != "tok=en" || secrets["TWILIO_API_SECRET"] != "" {
		t.Errorf("rest %q, secrets %q", rest, secrets)
	}
}
