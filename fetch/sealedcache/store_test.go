package sealedcache

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/intelligencefs/intelligencefs/crypto"
)

var (
	keyOnce sync.Once
	testKey *rsa.PrivateKey
)

func key(t testing.TB) *rsa.PrivateKey {
	keyOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		testKey = k
	})
	return testKey
}

func seal(t testing.TB, plain string) crypto.Envelope {
	env, err := crypto.Seal(&key(t).PublicKey, []byte(plain))
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func sid(i int) string { return fmt.Sprintf("GT%032x", 0xabc000+i) }

var v1 = Version{Credential: "CR" + strings.Repeat("1", 32), Updated: time.Date(2026, 2, 9, 10, 0, 0, 0, time.UTC)}

// logSink collects log lines.
type logSink struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logSink) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logSink) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// sealKey is the tests' entry key (the product derives it from the keys).
var sealKey = bytes.Repeat([]byte{7}, 32)

func open(t *testing.T, dir string, max int64) (*Store, *logSink) {
	t.Helper()
	var sink logSink
	s, err := Open(Options{Dir: dir, MaxBytes: max, SealKey: sealKey,
		Logger: slog.New(slog.NewTextHandler(&sink, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s, &sink
}

func mustOpen(t *testing.T, env crypto.Envelope, want string) {
	t.Helper()
	got, err := crypto.Open(key(t), env, nil)
	if err != nil || string(got) != want {
		t.Fatalf("envelope opens to %q, %v; want %q", got, err, want)
	}
}

// mustGet reads sid(1)'s sentences entry and checks it opens to want.
func mustGet(t *testing.T, s *Store, want string) {
	t.Helper()
	env, _, ok := s.Get(sid(1), Sentences, v1)
	if !ok {
		t.Fatal("miss")
	}
	mustOpen(t, env, want)
}

func TestRoundTripAndModes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "cache")
	s, _ := open(t, dir, 0)
	env := seal(t, `{"sentences":[]}`)
	s.Put(sid(1), Sentences, v1, env, "")
	op := seal(t, `{"operator":1}`)
	s.Put(sid(1), OperatorResult(0), v1, op, "abc")
	s.PutCount(sid(1), v1, []string{"abc", "def"})
	s.Flush()

	got, _, ok := s.Get(sid(1), Sentences, v1)
	if !ok {
		t.Fatal("sentences: miss after Put")
	}
	mustOpen(t, got, `{"sentences":[]}`)
	if !bytes.Equal(got.Body, env.Body) || !bytes.Equal(got.WrappedKey, env.WrappedKey) || !bytes.Equal(got.IV, env.IV) {
		t.Error("entry differs from the envelope stored")
	}
	got, ok2key, ok := s.Get(sid(1), OperatorResult(0), v1)
	if !ok || ok2key != "abc" {
		t.Fatalf("operator result: ok %v, object key %q", ok, ok2key)
	}
	mustOpen(t, got, `{"operator":1}`)
	if _, _, ok := s.Get(sid(1), OperatorResult(1), v1); ok {
		t.Error("operator result 1 was never stored but hits")
	}
	keys, ok := s.Count(sid(1), v1)
	if !ok || strings.Join(keys, ",") != "abc,def" {
		t.Errorf("count: %v %v", keys, ok)
	}
	// The other redaction variant is another entry.
	if _, _, ok := s.Get(sid(1), Sentences, Version{Credential: v1.Credential, Updated: v1.Updated, Unredacted: true}); ok {
		t.Error("unredacted variant hits on the redacted entry")
	}

	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		want := os.FileMode(0o600)
		if fi.IsDir() {
			want = 0o700
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %04o, want %04o", p, fi.Mode().Perm(), want)
		}
		if strings.HasPrefix(fi.Name(), ".tmp-") {
			t.Errorf("temporary file left: %s", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// No plaintext, no URL on disk.
	for _, p := range entryFiles(t, dir) {
		b, _ := os.ReadFile(p)
		if bytes.Contains(b, []byte("sentences")) || bytes.Contains(b, []byte("operator\"")) || bytes.Contains(b, []byte("http")) {
			t.Errorf("%s holds plaintext or a URL", p)
		}
	}
}

func entryFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			out = append(out, p)
		}
		return nil
	})
	return out
}

func TestOpenRefusesUnsafeDir(t *testing.T) {
	cases := []struct {
		name  string
		setup func(dir string) error
		want  string
	}{
		{"group readable", func(d string) error { return os.Chmod(d, 0o750) }, "mode 0750"},
		{"world accessible", func(d string) error { return os.Chmod(d, 0o701) }, "mode 0701"},
		{"not a directory", func(d string) error {
			os.Remove(d)
			return os.WriteFile(d, nil, 0o600)
		}, "not a directory"},
		{"another owner", func(d string) error {
			if os.Geteuid() != 0 {
				return errSkip
			}
			return os.Chown(d, 65534, 65534)
		}, "owned by uid 65534"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := filepath.Join(t.TempDir(), "c")
			if err := os.Mkdir(d, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := tc.setup(d); err == errSkip {
				t.Skip("needs root to chown")
			} else if err != nil {
				t.Fatal(err)
			}
			_, err := Open(Options{Dir: d})
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Count(err.Error(), "\n") != 0 {
				t.Fatalf("Open: %v; want one line with %q", err, tc.want)
			}
		})
	}
	if _, err := Open(Options{Dir: filepath.Join(t.TempDir(), "missing"), MustExist: true}); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("MustExist on a missing dir: %v", err)
	}
}

var errSkip = fmt.Errorf("skip")

// TestDamagedEntries: whatever is at an entry's name that is not a
// complete, current entry of that object is a miss and is removed.
func TestDamagedEntries(t *testing.T) {
	cases := []struct {
		name   string
		damage func(t *testing.T, p string, s *Store)
	}{
		{"truncated", func(t *testing.T, p string, _ *Store) { shorten(t, p, -10) }},
		{"truncated into the header", func(t *testing.T, p string, _ *Store) { truncateTo(t, p, 40) }},
		{"empty", func(t *testing.T, p string, _ *Store) { truncateTo(t, p, 0) }},
		{"byte appended", func(t *testing.T, p string, _ *Store) { appendTo(t, p, []byte{0}) }},
		{"byte flipped in the header", func(t *testing.T, p string, _ *Store) {
			b, _ := os.ReadFile(p)
			flip(t, p, bytes.Index(b, []byte(sid(1)))+10)
		}},
		{"byte flipped in the MAC", func(t *testing.T, p string, _ *Store) {
			b, _ := os.ReadFile(p)
			i := bytes.Index(b, []byte(`"mac":"`)) + 9
			if b[i] == '0' { // another hex digit
				b[i] = '1'
			} else {
				b[i] = '0'
			}
			write(t, p, b, 0o600)
		}},
		{"byte flipped in date_updated", func(t *testing.T, p string, _ *Store) {
			b, _ := os.ReadFile(p)
			flip(t, p, bytes.Index(b, []byte("2026-"))+3)
		}},
		{"byte flipped in the magic", func(t *testing.T, p string, _ *Store) { flip(t, p, 2) }},
		{"foreign file", func(t *testing.T, p string, _ *Store) { write(t, p, []byte("PK\x03\x04 not ours at all"), 0o600) }},
		{"foreign file, group readable", func(t *testing.T, p string, _ *Store) {
			b, _ := os.ReadFile(p)
			os.Remove(p)
			write(t, p, b, 0o644)
		}},
		{"another transcript's entry copied over", func(t *testing.T, p string, s *Store) {
			s.Put(sid(2), Sentences, v1, seal(t, "other"), "")
			s.Flush()
			b, err := os.ReadFile(s.path(sid(2), false, "s"))
			if err != nil {
				t.Fatal(err)
			}
			write(t, p, b, 0o600)
		}},
		{"symbolic link", func(t *testing.T, p string, s *Store) {
			os.Remove(p)
			if err := os.Symlink("/etc/passwd", p); err != nil {
				t.Fatal(err)
			}
		}},
		{"fifo", func(t *testing.T, p string, s *Store) {
			os.Remove(p)
			if err := syscall.Mkfifo(p, 0o600); err != nil {
				t.Skip("mkfifo:", err)
			}
		}},
		{"planted: sealed to the same public key, header copied", func(t *testing.T, p string, s *Store) {
			// Anyone with the public key can seal; without the seal key
			// the MAC cannot be made, so it is not served.
			b, _ := os.ReadFile(p)
			h, _, err := decode(b)
			if err != nil {
				t.Fatal(err)
			}
			forged := seal(t, "forged")
			h.Key, h.IV = forged.EncodedKey(), forged.EncodedIV()
			h.seal([]byte("not the key"), forged.Body)
			write(t, p, append(encodeHeader(h, int64(len(forged.Body))), forged.Body...), 0o600)
		}},
		{"written under another key set", func(t *testing.T, p string, _ *Store) {
			other, err := Open(Options{Dir: filepath.Dir(filepath.Dir(filepath.Dir(p))), SealKey: []byte("another key set")})
			if err != nil {
				t.Fatal(err)
			}
			os.Remove(p) // an entry is never overwritten
			other.Put(sid(1), Sentences, v1, seal(t, "other keys"), "")
			other.Close()
		}},
		{"bad base64 key", func(t *testing.T, p string, s *Store) {
			b, _ := os.ReadFile(p)
			write(t, p, bytes.Replace(b, []byte(`"key":"`), []byte(`"key":"!`), 1), 0o600)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, logs := open(t, newDir(t), 0)
			s.Put(sid(1), Sentences, v1, seal(t, "hello"), "")
			s.Flush()
			p := s.path(sid(1), false, "s")
			tc.damage(t, p, s)
			if env, _, ok := s.Get(sid(1), Sentences, v1); ok {
				t.Fatalf("damaged entry hits (%d bytes body)", len(env.Body))
			}
			if _, err := os.Lstat(p); !os.IsNotExist(err) {
				t.Errorf("damaged entry not removed: %v", err)
			}
			if !strings.Contains(logs.String(), "removed an unusable entry") {
				t.Errorf("no debug line for the removal: %s", logs)
			}
			// The object is stored again and read back exactly.
			s.Put(sid(1), Sentences, v1, seal(t, "hello again"), "")
			s.Flush()
			mustGet(t, s, "hello again")
		})
	}
}

func shorten(t *testing.T, p string, by int64) {
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	truncateTo(t, p, fi.Size()+by)
}

func truncateTo(t *testing.T, p string, n int64) {
	if err := os.Truncate(p, n); err != nil {
		t.Fatal(err)
	}
}

func appendTo(t *testing.T, p string, b []byte) {
	f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write(b)
	f.Close()
}

func flip(t *testing.T, p string, at int) {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b[at] ^= 0x20
	write(t, p, b, 0o600)
}

func write(t *testing.T, p string, b []byte, mode os.FileMode) {
	if err := os.WriteFile(p, b, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
}

// TestStale: another date_updated or credential makes the entry stale.
func TestStale(t *testing.T) {
	for _, tc := range []struct {
		name string
		v    Version
	}{
		{"updated later", Version{Credential: v1.Credential, Updated: v1.Updated.Add(time.Second)}},
		{"another credential", Version{Credential: "CR" + strings.Repeat("2", 32), Updated: v1.Updated}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := open(t, newDir(t), 0)
			s.Put(sid(1), Sentences, v1, seal(t, "x"), "")
			s.PutCount(sid(1), v1, []string{"a"})
			s.Flush()
			if _, _, ok := s.Get(sid(1), Sentences, tc.v); ok {
				t.Error("stale sentences hit")
			}
			if _, ok := s.Count(sid(1), tc.v); ok {
				t.Error("stale count hit")
			}
			if _, _, ok := s.Get(sid(1), Sentences, v1); ok {
				t.Error("stale entry was not removed")
			}
		})
	}
	s, _ := open(t, newDir(t), 0)
	s.Put(sid(1), Sentences, Version{Credential: v1.Credential}, seal(t, "x"), "")
	s.Flush()
	if u, _ := s.Usage(); u.Entries != 0 {
		t.Error("an entry without date_updated was stored")
	}
	nokey, err := Open(Options{Dir: s.root})
	if err != nil {
		t.Fatal(err)
	}
	nokey.Put(sid(1), Sentences, v1, seal(t, "x"), "")
	nokey.Close()
	if u, _ := s.Usage(); u.Entries != 0 {
		t.Error("a store without a seal key wrote an entry")
	}
}

func TestDropCancelsAndRemoves(t *testing.T) {
	s, _ := open(t, newDir(t), 0)
	for i := range 3 {
		s.Put(sid(1), OperatorResult(i), v1, seal(t, "r"), "k")
	}
	s.Put(sid(1), Sentences, Version{Credential: v1.Credential, Updated: v1.Updated, Unredacted: true}, seal(t, "u"), "")
	s.PutCount(sid(1), v1, []string{"k", "k", "k"})
	s.Put(sid(2), Sentences, v1, seal(t, "keep"), "")
	if err := s.Drop(sid(1)); err != nil { // may race the writes: none may survive
		t.Fatal(err)
	}
	s.Flush()
	if err := s.Drop(sid(1)); err != nil {
		t.Fatal(err)
	}
	s.Put(sid(1), Sentences, v1, seal(t, "after"), "")
	s.Flush()
	if err := s.Drop(sid(1)); err != nil {
		t.Fatal(err)
	}
	for _, p := range entryFiles(t, s.root) {
		if strings.Contains(p, sid(1)) {
			t.Errorf("left after Drop: %s", p)
		}
	}
	if _, _, ok := s.Get(sid(2), Sentences, v1); !ok {
		t.Error("Drop removed another transcript's entry")
	}
}

// TestEvictionLRU: the bound holds and the least recently used go first.
func TestEvictionLRU(t *testing.T) {
	env := seal(t, strings.Repeat("x", 4000))
	s, _ := open(t, newDir(t), 0)
	s.Put(sid(0), Sentences, v1, env, "")
	s.Flush()
	u, _ := s.Usage()
	per := u.Bytes
	s.Close()

	dir := newDir(t)
	s, _ = open(t, dir, per*10)
	for i := range 8 {
		s.Put(sid(i), Sentences, v1, env, "")
		s.Flush()
		past := time.Now().Add(-time.Duration(100-i) * time.Minute)
		os.Chtimes(s.path(sid(i), false, "s"), past, past)
	}
	if _, _, ok := s.Get(sid(0), Sentences, v1); !ok { // now the most recent
		t.Fatal("miss")
	}
	for i := 8; i < 14; i++ {
		s.Put(sid(i), Sentences, v1, env, "")
		s.Flush()
		if _, _, ok := s.Get(sid(0), Sentences, v1); !ok { // read again: stays the most recent
			t.Fatalf("entry 0 evicted after %d", i)
		}
	}
	u, err := s.Usage()
	if err != nil {
		t.Fatal(err)
	}
	if u.Bytes > per*10 {
		t.Errorf("%d bytes on disk, bound %d", u.Bytes, per*10)
	}
	if _, _, ok := s.Get(sid(0), Sentences, v1); !ok {
		t.Error("the entry read last was evicted before older ones")
	}
	for i := 1; i < 5; i++ {
		if _, _, ok := s.Get(sid(i), Sentences, v1); ok {
			t.Errorf("least recently used entry %d survived", i)
		}
	}
}

// TestSharedDir: stores of several "processes" write and read the same
// entries at once; a reader sees a complete entry or none.
func TestSharedDir(t *testing.T) {
	dir := newDir(t)
	envs := make([]crypto.Envelope, 4)
	for i := range envs {
		envs[i] = seal(t, fmt.Sprintf("doc %d %s", i, strings.Repeat("y", 20000)))
	}
	var wg sync.WaitGroup
	stores := make([]*Store, 3)
	for i := range stores {
		stores[i], _ = open(t, dir, 0)
	}
	errs := make(chan string, 100)
	for w, s := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for round := range 40 {
				i := (round + w) % len(envs)
				s.Put(sid(i), Sentences, v1, envs[i], "")
				if env, _, ok := s.Get(sid((i+1)%len(envs)), Sentences, v1); ok {
					j := (i + 1) % len(envs)
					if !bytes.Equal(env.Body, envs[j].Body) {
						errs <- fmt.Sprintf("entry %d read with other bytes", j)
					}
				}
				if round%10 == 0 {
					s.Remove(sid(i), Sentences)
				}
			}
			s.Flush()
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	for i := range envs {
		stores[0].Put(sid(i), Sentences, v1, envs[i], "")
	}
	stores[0].Flush()
	for i := range envs {
		env, _, ok := stores[1].Get(sid(i), Sentences, v1)
		if !ok || !bytes.Equal(env.Body, envs[i].Body) {
			t.Errorf("entry %d: ok %v after the storm", i, ok)
		}
	}
}

// TestFirstWriterWins: an entry is written once; another copy of it (a
// second process that also downloaded the object) does not replace it.
func TestFirstWriterWins(t *testing.T) {
	dir := newDir(t)
	a, _ := open(t, dir, 0)
	b, _ := open(t, dir, 0)
	a.Put(sid(1), Sentences, v1, seal(t, "first"), "")
	a.Flush()
	b.Put(sid(1), Sentences, v1, seal(t, "second"), "")
	b.Flush()
	mustGet(t, b, "first")
	if m, _ := filepath.Glob(filepath.Join(dir, "v1", "*", ".tmp-*")); len(m) != 0 {
		t.Errorf("temporary files left: %v", m)
	}
}

func TestUsageAndPurge(t *testing.T) {
	s, _ := open(t, newDir(t), 0)
	for i := range 3 {
		s.Put(sid(i), Sentences, v1, seal(t, "s"), "")
		s.Put(sid(i), OperatorResult(0), v1, seal(t, "o"), "k")
		s.PutCount(sid(i), v1, []string{"k"})
	}
	s.Flush()
	os.WriteFile(filepath.Join(s.dir, "zz-not-ours"), []byte("x"), 0o600)
	u, err := s.Usage()
	if err != nil || u.Entries != 6 || u.Transcripts != 3 || u.Bytes == 0 || u.Oldest.IsZero() {
		t.Fatalf("usage %+v, %v", u, err)
	}
	if n, err := s.Purge(sid(1)); err != nil || n != 3 {
		t.Fatalf("purge one: %d, %v", n, err)
	}
	if _, err := s.Purge("GTnope"); err == nil {
		t.Error("purge of a malformed SID accepted")
	}
	if n, err := s.Purge(); err != nil || n != 6 {
		t.Fatalf("purge all: %d, %v", n, err)
	}
	if u, _ := s.Usage(); u.Entries != 0 || u.Bytes != 0 {
		t.Errorf("after purge: %+v", u)
	}
	if _, err := os.Stat(filepath.Join(s.dir, "zz-not-ours")); err != nil {
		t.Error("purge removed a file that is not an entry")
	}
}

func TestByCredential(t *testing.T) {
	s, _ := open(t, newDir(t), 0)
	v2 := Version{Credential: "CR" + strings.Repeat("2", 32), Updated: v1.Updated}
	s.Put(sid(1), Sentences, v1, seal(t, "a"), "")
	s.Put(sid(2), Sentences, v1, seal(t, "b"), "")
	s.Put(sid(3), OperatorResult(0), v2, seal(t, "c"), "k")
	s.PutCount(sid(3), v2, []string{"k"})
	s.Flush()
	got, unverified, err := s.ByCredential()
	if err != nil || unverified != 0 || len(got) != 2 || got[0].Credential != v1.Credential || got[0].Entries != 2 || got[1].Entries != 1 {
		t.Fatalf("%+v %d %v", got, unverified, err)
	}
	mustOpen(t, got[1].Sample, "c")
}

// TestByCredentialChecksMACs: doctor's view counts only entries whose MAC
// holds under the store's key. An entry planted with another key (naming
// a credential of its own choosing), one whose header was edited to name
// another credential, and one damaged are counted unverified, never
// grouped; a store without a key refuses. ByCredential changes nothing.
// Before, it read headers without their MAC and reported the planted
// credential as the cache's.
func TestByCredentialChecksMACs(t *testing.T) {
	dir := newDir(t)
	s, _ := open(t, dir, 0)
	s.Put(sid(1), Sentences, v1, seal(t, "real"), "")
	s.Flush()
	planter, err := Open(Options{Dir: dir, SealKey: bytes.Repeat([]byte{9}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	planted := Version{Credential: "CR" + strings.Repeat("e", 32), Updated: v1.Updated}
	planter.Put(sid(2), Sentences, planted, seal(t, "planted"), "")
	planter.Put(sid(3), Sentences, v1, seal(t, "to edit"), "")
	planter.Put(sid(4), Sentences, v1, seal(t, "to damage"), "")
	planter.Close()
	s.Put(sid(3), OperatorResult(0), v1, seal(t, "edited"), "k")
	s.Put(sid(4), OperatorResult(0), v1, seal(t, "damaged"), "k")
	s.Flush()
	edit := func(i int, from, to string) {
		p := s.path(sid(i), false, OperatorResult(0).name())
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		write(t, p, bytes.Replace(b, []byte(from), []byte(to), 1), 0o600)
	}
	edit(3, v1.Credential, planted.Credential)
	p4 := s.path(sid(4), false, OperatorResult(0).name())
	fi, err := os.Stat(p4)
	if err != nil {
		t.Fatal(err)
	}
	flip(t, p4, int(fi.Size())-1) // the body's last byte
	before := entryFiles(t, dir)
	got, unverified, err := s.ByCredential()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Credential != v1.Credential || got[0].Entries != 1 || got[0].SampleSID != sid(1) {
		t.Errorf("groups %+v: want only sid(1)'s entry under %s", got, v1.Credential)
	}
	if unverified != 5 {
		t.Errorf("%d unverified entries, want 5 (three under another key, one edited, one damaged)", unverified)
	}
	if after := entryFiles(t, dir); strings.Join(after, " ") != strings.Join(before, " ") {
		t.Errorf("ByCredential changed the directory: %v, was %v", after, before)
	}
	keyless, err := Open(Options{Dir: dir, MustExist: true})
	if err != nil {
		t.Fatal(err)
	}
	defer keyless.Close()
	if _, _, err := keyless.ByCredential(); !errors.Is(err, ErrNoSealKey) {
		t.Errorf("without a key: %v", err)
	}
}

// mountTmpfs mounts a small tmpfs (root only) and unmounts it at the end.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a tmpfs")
	}
	d := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size+",mode=0700", "tmpfs", d).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", d).Run() })
	return d
}

// TestFullDisk: writes stop with one warning; reads of what is there go on.
func TestFullDisk(t *testing.T) {
	d := mountTmpfs(t, "64k")
	s, logs := open(t, d, 0)
	s.Put(sid(0), Sentences, v1, seal(t, "small"), "")
	s.Flush()
	big := seal(t, strings.Repeat("z", 40000))
	for i := 1; i < 6; i++ {
		s.Put(sid(i), Sentences, v1, big, "")
		s.Flush()
	}
	if s.Writable() {
		t.Fatal("still writable after filling the disk")
	}
	if n := strings.Count(logs.String(), "level=WARN"); n != 1 {
		t.Errorf("%d warnings, want 1:\n%s", n, logs)
	}
	if !strings.Contains(logs.String(), "no space left") {
		t.Errorf("warning does not say why: %s", logs)
	}
	env, _, ok := s.Get(sid(0), Sentences, v1)
	if !ok {
		t.Fatal("read of an entry written before the disk filled failed")
	}
	mustOpen(t, env, "small")
	for _, p := range entryFiles(t, d) {
		if strings.Contains(p, ".tmp-") {
			t.Errorf("temporary file left: %s", p)
		}
	}
}

// TestReadOnlyDir: a read-only DIR serves its entries and writes nothing,
// with one warning.
func TestReadOnlyDir(t *testing.T) {
	d := mountTmpfs(t, "1m")
	s, _ := open(t, d, 0)
	s.Put(sid(0), Sentences, v1, seal(t, "kept"), "")
	s.Close()
	if out, err := exec.Command("mount", "-o", "remount,ro", d).CombinedOutput(); err != nil {
		t.Skipf("cannot remount read-only: %v %s", err, out)
	}
	s, logs := open(t, d, 0)
	env, _, ok := s.Get(sid(0), Sentences, v1)
	if !ok {
		t.Fatal("miss on a read-only DIR")
	}
	mustOpen(t, env, "kept")
	for i := 1; i < 4; i++ {
		s.Put(sid(i), Sentences, v1, seal(t, "new"), "")
		s.Flush()
	}
	if s.Writable() || strings.Count(logs.String(), "level=WARN") != 1 || !strings.Contains(logs.String(), "read-only") {
		t.Errorf("writable %v, log:\n%s", s.Writable(), logs)
	}
	s.Remove(sid(0), Sentences) // cannot: no error, no warning
	if strings.Count(logs.String(), "level=WARN") != 1 {
		t.Errorf("a failed removal warned:\n%s", logs)
	}
}

// newDir is a cache directory that does not exist yet (Open creates it).
func newDir(t *testing.T) string { return filepath.Join(t.TempDir(), "cache") }
