package catalog

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/intelligencefs/intelligencefs/fs/plaincache"
	"github.com/intelligencefs/intelligencefs/fs/sentencetext"
)

// TestDeriveTxtInArena: the mount's sentences.txt is rendered into an
// off-heap buffer of the exact size, byte-equal to renderSentencesTxt, and
// a parse failure is errNoTxt (ErrAbsent: ENOENT) without allocating.
func TestDeriveTxtInArena(t *testing.T) {
	c, err := plaincache.New(plaincache.Options{MaxBytes: 1 << 20, Mlock: plaincache.MlockOff})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := &Catalog{cache: c}
	doc := []byte(`[{"sentence_index":0,"start_time":61.25,"media_channel":1,"transcript":"caf\u00e9 \ud83d\ude00 line\nbreak ` + "\xff" + `"}]`)
	want, err := sentencetext.Render(doc)
	if err != nil {
		t.Fatal(err)
	}
	buf, err := r.deriveTxt(doc, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("arena %q, heap %q", buf.Bytes(), want)
	}
	if st := c.Stats(); st.LiveBytes == 0 {
		t.Errorf("the text view is not in the cache's arena: %+v", st)
	}
	buf.Release()
	if _, err := r.deriveTxt([]byte(`{"sentences":5}`), nil); !errors.Is(err, ErrAbsent) || !strings.Contains(err.Error(), "not derivable") {
		t.Errorf("bad document: %v", err)
	}
	if _, err := r.deriveTxt([]byte(`{"sentences":[{"transcript":"SECRETTEXT"}x`), nil); err == nil || strings.Contains(err.Error(), "SECRETTEXT") || strings.Contains(err.Error(), "'x'") {
		t.Errorf("syntax error quotes the document: %v", err)
	}
}
