package catalog

import (
	"fmt"

	"github.com/intelligencefs/intelligencefs/fs/plaincache"
	"github.com/intelligencefs/intelligencefs/fs/sentencetext"
)

// deriveTxt renders sentences.txt from the sentences document doc straight
// into an off-heap buffer of the exact size (nil for empty output), with the
// one renderer the search command and the viewer share (package
// sentencetext), speakers named by labels. Parse failures wrap errNoTxt.
func (c *Catalog) deriveTxt(doc []byte, labels sentencetext.Labels) (*plaincache.Buffer, error) {
	lines, err := sentencetext.Parse(doc)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errNoTxt, err)
	}
	labels.Apply(lines)
	n := sentencetext.Len(lines)
	if n == 0 {
		return nil, nil
	}
	buf, err := c.cache.Alloc(n)
	if err != nil {
		return nil, err
	}
	out := sentencetext.Append(buf.Bytes()[:0], lines)
	if len(out) != n || &out[0] != &buf.Bytes()[0] {
		clear(out)
		buf.Release()
		return nil, fmt.Errorf("sentences.txt: rendered %d bytes, counted %d", len(out), n)
	}
	return buf, nil
}
