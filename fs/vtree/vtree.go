// Package vtree is the mounted tree addressed by path, over the transcript
// model (package catalog), for servers that are not FUSE: WebDAV and NFS.
// It shows what the FUSE mount shows (services/<GA>/service.json,
// services/<GA>/transcripts/<GT>/{transcript.json, sentences.json,
// sentences.txt, operator-results/<n>.json}, unique-name links,
// transcripts/<GT> shortcuts), from the same catalog calls, so names, sizes,
// bytes and errors agree with the mount's.
//
// Not here yet: services/<GA>/transcripts.jsonl and by-date/, which the
// mount renders in package fs; lookups of them are ENOENT (NotFound).
package vtree

import (
	"context"
	"errors"
	"io"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/intelligencefs/intelligencefs/crypto"
	"github.com/intelligencefs/intelligencefs/fetch/record"
	"github.com/intelligencefs/intelligencefs/fs/catalog"
	"github.com/intelligencefs/intelligencefs/fs/plaincache"
)

// Class is what a failure means to a client: the one classification both
// servers map to their own codes (HTTP statuses, NFS3 errors).
type Class int

const (
	// OK is no error.
	OK Class = iota
	// NotFound: no such name (ENOENT; 404; NFS3ERR_NOENT).
	NotFound
	// Denied: credentials or keys refused (EACCES; 403; NFS3ERR_ACCES).
	Denied
	// Gone: the transcript was deleted upstream while known (ENOENT on
	// the mount; 410; NFS3ERR_STALE).
	Gone
	// Retry: upstream unavailable, rate limited or interrupted; asking
	// again may succeed (EIO on the mount; 503; NFS3ERR_JUKEBOX).
	Retry
	// IO: anything else, including content that failed authentication
	// (EIO; 502; NFS3ERR_IO). Never NotFound: a 429 or 5xx must not look
	// like "does not exist".
	IO
)

// ErrGone marks a transcript deleted upstream after it was seen.
var ErrGone = errors.New("transcript deleted upstream")

// ErrNotFound is a name the tree does not have.
var ErrNotFound = errors.New("no such file or directory")

// ClassOf classifies err the way the mount's errno mapping does, with
// "try again" kept apart from other I/O errors.
func ClassOf(err error) Class {
	switch {
	case err == nil:
		return OK
	case errors.Is(err, ErrGone):
		return Gone
	case errors.Is(err, ErrNotFound), errors.Is(err, record.ErrNotFound), errors.Is(err, catalog.ErrAbsent):
		return NotFound
	case errors.Is(err, record.ErrAuth), errors.Is(err, crypto.ErrUnwrap):
		return Denied
	case errors.Is(err, context.Canceled), errors.Is(err, catalog.ErrInterrupted),
		errors.Is(err, context.DeadlineExceeded), errors.Is(err, record.ErrUnavailable):
		return Retry
	}
	return IO
}

// Kind is what a node is.
type Kind int

const (
	// KindRoot is "/".
	KindRoot Kind = iota
	// KindServices is /services.
	KindServices
	// KindShortcuts is /transcripts (lookup-only links, listed empty).
	KindShortcuts
	// KindService is /services/<GA>.
	KindService
	// KindServiceJSON is /services/<GA>/service.json.
	KindServiceJSON
	// KindTranscripts is /services/<GA>/transcripts.
	KindTranscripts
	// KindTranscript is a transcript's folder.
	KindTranscript
	// KindTranscriptJSON is transcript.json.
	KindTranscriptJSON
	// KindContent is sentences.json, sentences.txt or operator-results/<n>.json.
	KindContent
	// KindOpResults is operator-results/.
	KindOpResults
	// KindLink is a symbolic link (unique name, transcripts/<GT>).
	KindLink
)

// Node is one name of the tree, resolved. Sizes of content files are
// filled by Stat (which may fetch); Lookup and ReadDir never fetch content.
type Node struct {
	Path    string // cleaned, from "/"
	Name    string // last element ("" for the root)
	Kind    Kind
	ModTime time.Time
	// Size is the file's size in bytes; for content it is valid when
	// SizeKnown.
	Size      int64
	SizeKnown bool
	// Target is a link's target, relative to the link's folder.
	Target string

	service string
	entry   *catalog.Entry
	listing *catalog.Listing
	content catalog.Kind
	n       int
	meta    []byte // rendered metadata (service.json, transcript.json)
}

// IsDir reports whether the node is a folder.
func (n *Node) IsDir() bool {
	switch n.Kind {
	case KindRoot, KindServices, KindShortcuts, KindService, KindTranscripts, KindTranscript, KindOpResults:
		return true
	}
	return false
}

// IsContent reports whether reading the node fetches and decrypts.
func (n *Node) IsContent() bool { return n.Kind == KindContent }

// Tree resolves paths over one catalog.
type Tree struct {
	cat     *catalog.Catalog
	started time.Time
}

// New returns the tree over cat (which the caller owns and closes).
func New(cat *catalog.Catalog) *Tree { return &Tree{cat: cat, started: time.Now()} }

// Catalog returns the model the tree reads.
func (t *Tree) Catalog() *catalog.Catalog { return t.cat }

// Started is the time shown for nodes with no date of their own (the
// mount's start time, as on the FUSE mount).
func (t *Tree) Started() time.Time { return t.started }

// Split returns p's elements after cleaning; ok is false for a path that
// is not absolute or holds a NUL or an element longer than 255 bytes.
func Split(p string) (elems []string, ok bool) {
	if !strings.HasPrefix(p, "/") || strings.IndexByte(p, 0) >= 0 {
		return nil, false
	}
	c := path.Clean(p)
	if c == "/" {
		return nil, true
	}
	elems = strings.Split(c[1:], "/")
	for _, e := range elems {
		if len(e) > 255 {
			return nil, false
		}
	}
	return elems, true
}

// Junk reports names desktop clients probe for that never exist here
// (.DS_Store, ._*, desktop.ini, Thumbs.db): servers answer them not found
// at once, without a refresh or a fetch.
func Junk(name string) bool {
	switch strings.ToLower(name) {
	case ".ds_store", "desktop.ini", "thumbs.db", ".localized", ".hidden":
		return true
	}
	return strings.HasPrefix(name, "._")
}

func (t *Tree) root() *Node {
	return &Node{Path: "/", Kind: KindRoot, ModTime: t.started}
}

// Lookup resolves p (absolute, "/"-separated). It follows no links: a
// link resolves to a KindLink node; Resolve follows them.
func (t *Tree) Lookup(ctx context.Context, p string) (*Node, error) {
	elems, ok := Split(p)
	if !ok {
		return nil, ErrNotFound
	}
	if len(elems) > 0 && Junk(elems[len(elems)-1]) {
		return nil, ErrNotFound
	}
	n := t.root()
	for _, e := range elems {
		if n.Kind == KindLink || !n.IsDir() {
			return nil, ErrNotFound
		}
		c, err := t.Child(ctx, n, e)
		if err != nil {
			return nil, err
		}
		n = c
	}
	return n, nil
}

// Resolve is Lookup that follows links in every element (at most 8).
func (t *Tree) Resolve(ctx context.Context, p string) (*Node, error) {
	for range 8 {
		elems, ok := Split(p)
		if !ok {
			return nil, ErrNotFound
		}
		n := t.root()
		restart := false
		for i, e := range elems {
			if n.Kind == KindLink {
				p = path.Join(path.Dir(n.Path), n.Target, strings.Join(elems[i:], "/"))
				restart = true
				break
			}
			if !n.IsDir() || Junk(e) {
				return nil, ErrNotFound
			}
			c, err := t.Child(ctx, n, e)
			if err != nil {
				return nil, err
			}
			n = c
		}
		if restart {
			continue
		}
		if n.Kind == KindLink {
			p = path.Join(path.Dir(n.Path), n.Target)
			continue
		}
		return n, nil
	}
	return nil, ErrNotFound
}

func (t *Tree) child(parent *Node, name string, k Kind, mt time.Time) *Node {
	if mt.IsZero() {
		mt = t.started
	}
	return &Node{Path: path.Join(parent.Path, name), Name: name, Kind: k, ModTime: mt,
		service: parent.service, entry: parent.entry, listing: parent.listing}
}

func (t *Tree) gone(e *catalog.Entry) error {
	if t.cat.IsGone(e.SID()) {
		return ErrGone
	}
	return nil
}

// Child resolves one name in folder parent, making the same catalog calls
// as the mount's LOOKUP (never a content fetch; operator-results/<n>.json
// needs the count).
func (t *Tree) Child(ctx context.Context, parent *Node, name string) (*Node, error) {
	if Junk(name) {
		return nil, ErrNotFound
	}
	switch parent.Kind {
	case KindRoot:
		switch name {
		case "services":
			return t.child(parent, name, KindServices, time.Time{}), nil
		case "transcripts":
			return t.child(parent, name, KindShortcuts, time.Time{}), nil
		}
	case KindServices:
		if record.IsSID(name, "GA") {
			s, err := t.cat.Service(ctx, name)
			if err != nil {
				return nil, err
			}
			n := t.child(parent, name, KindService, time.Time{})
			n.service = s.SID
			n.meta = s.JSON()
			return n, nil
		}
		if !validLinkName(name) {
			return nil, ErrNotFound
		}
		list, err := t.cat.Services(ctx)
		if err != nil {
			return nil, err
		}
		for _, s := range list {
			if s.UniqueName == name {
				n := t.child(parent, name, KindLink, time.Time{})
				n.Target = s.SID
				n.Size = int64(len(n.Target))
				n.SizeKnown = true
				return n, nil
			}
		}
	case KindShortcuts:
		if !record.IsSID(name, "GT") {
			return nil, ErrNotFound
		}
		tr, err := t.cat.TranscriptByID(ctx, name)
		if err != nil {
			return nil, err
		}
		if !record.IsSID(tr.ServiceSID, "GA") || tr.SID != name {
			err := errors.New("the transcript names a service that is not a well-formed SID; no link made")
			t.cat.LogFailure(name, "", "transcript link", err)
			return nil, err
		}
		n := t.child(parent, name, KindLink, time.Time{})
		n.Target = "../services/" + tr.ServiceSID + "/transcripts/" + tr.SID
		n.Size = int64(len(n.Target))
		n.SizeKnown = true
		return n, nil
	case KindService:
		switch name {
		case "service.json":
			n := t.child(parent, name, KindServiceJSON, time.Time{})
			n.meta = parent.meta
			n.Size, n.SizeKnown = int64(len(n.meta)), true
			return n, nil
		case "transcripts":
			n := t.child(parent, name, KindTranscripts, time.Time{})
			n.listing = t.cat.Listing(record.TranscriptQuery{ServiceSID: parent.service}, "")
			return n, nil
		}
	case KindTranscripts:
		if !record.IsSID(name, "GT") {
			return nil, ErrNotFound
		}
		tr, err := parent.listing.Find(ctx, name)
		if err != nil {
			return nil, err
		}
		n := t.child(parent, name, KindTranscript, tr.DateUpdated)
		n.entry = t.cat.Entry(tr)
		return n, nil
	case KindTranscript:
		if err := t.gone(parent.entry); err != nil {
			return nil, err
		}
		if !hasName(t.transcriptNames(parent.entry), name) {
			return nil, ErrNotFound
		}
		if name != "transcript.json" {
			t.cat.Touched(parent.listing, parent.entry.SID(), 0)
		}
		e := parent.entry
		mt := e.Transcript().DateUpdated
		switch name {
		case "transcript.json":
			n := t.child(parent, name, KindTranscriptJSON, time.Time{})
			n.meta, n.ModTime = e.MetaJSON()
			if n.ModTime.IsZero() {
				n.ModTime = t.started
			}
			n.Size, n.SizeKnown = int64(len(n.meta)), true
			return n, nil
		case "sentences.json":
			return t.contentNode(parent, name, catalog.KindSentences, 0, mt), nil
		case "sentences.txt":
			return t.contentNode(parent, name, catalog.KindTxt, 0, mt), nil
		case "operator-results":
			return t.child(parent, name, KindOpResults, mt), nil
		}
	case KindOpResults:
		if err := t.gone(parent.entry); err != nil {
			return nil, err
		}
		num, ok := strings.CutSuffix(name, ".json")
		i, err := strconv.Atoi(num)
		if !ok || err != nil || i < 1 || strconv.Itoa(i) != num {
			return nil, ErrNotFound
		}
		t.cat.Touched(parent.listing, parent.entry.SID(), catalog.MaskOpList)
		count, err := t.cat.OpCount(ctx, parent.entry)
		if err != nil {
			return nil, err
		}
		if i > count {
			return nil, ErrNotFound
		}
		return t.contentNode(parent, name, catalog.KindOpResult, i, parent.entry.Transcript().DateUpdated), nil
	}
	return nil, ErrNotFound
}

func (t *Tree) contentNode(parent *Node, name string, k catalog.Kind, i int, mt time.Time) *Node {
	n := t.child(parent, name, KindContent, mt)
	n.content, n.n = k, i
	n.Size, n.SizeKnown = n.entry.Size(catalog.ContentKey(n.entry.SID(), k, i))
	return n
}

func (t *Tree) transcriptNames(e *catalog.Entry) []string {
	names := []string{"transcript.json"}
	if !e.Transcript().Completed() {
		return names
	}
	names = append(names, "sentences.json")
	if !e.NoTxt() {
		names = append(names, "sentences.txt")
	}
	return append(names, "operator-results")
}

func hasName(names []string, n string) bool {
	for _, x := range names {
		if x == n {
			return true
		}
	}
	return false
}

// validLinkName rejects unique names that cannot be a single path element.
func validLinkName(n string) bool {
	return n != "" && n != "." && n != ".." && len(n) <= 255 && !strings.ContainsAny(n, "/\x00")
}

// DirEntry is one name of a listing: its kind from the listing alone.
type DirEntry struct {
	Name string
	Kind Kind
}

// IsDir reports whether the entry is a folder.
func (d DirEntry) IsDir() bool { return (&Node{Kind: d.Kind}).IsDir() }

// ReadDir lists folder n as the mount's READDIR does: services/ lists
// services and unique-name links; a service lists service.json and
// transcripts/ (by-date/ only by path); transcripts/ lists its listing
// (waiting for the first load); a transcript folder lists its names from
// metadata (no fetch); operator-results/ needs the count (one call per
// transcript); the shortcut folder lists empty.
func (t *Tree) ReadDir(ctx context.Context, n *Node) ([]DirEntry, error) {
	switch n.Kind {
	case KindRoot:
		return []DirEntry{{"services", KindServices}, {"transcripts", KindShortcuts}}, nil
	case KindShortcuts:
		return nil, nil
	case KindServices:
		list, err := t.cat.Services(ctx)
		if err != nil {
			return nil, err
		}
		seen := map[string]bool{}
		var ents []DirEntry
		for _, s := range list {
			ents = append(ents, DirEntry{s.SID, KindService})
			seen[s.SID] = true
		}
		for _, s := range list {
			if validLinkName(s.UniqueName) && !seen[s.UniqueName] {
				seen[s.UniqueName] = true
				ents = append(ents, DirEntry{s.UniqueName, KindLink})
			}
		}
		sort.Slice(ents, func(i, j int) bool { return ents[i].Name < ents[j].Name })
		return ents, nil
	case KindService:
		return []DirEntry{{"service.json", KindServiceJSON}, {"transcripts", KindTranscripts}}, nil
	case KindTranscripts:
		g, err := n.listing.Open(ctx)
		if err != nil {
			return nil, err
		}
		var ents []DirEntry
		for pos := 0; ; {
			sid, next, more, err := n.listing.Next(ctx, g, pos)
			if !more {
				return ents, err
			}
			pos = next
			ents = append(ents, DirEntry{sid, KindTranscript})
		}
	case KindTranscript:
		if err := t.gone(n.entry); err != nil {
			return nil, err
		}
		if n.entry.Transcript().Completed() {
			t.cat.Touched(n.listing, n.entry.SID(), catalog.MaskInner)
		}
		var ents []DirEntry
		for _, name := range t.transcriptNames(n.entry) {
			k := KindContent
			switch name {
			case "transcript.json":
				k = KindTranscriptJSON
			case "operator-results":
				k = KindOpResults
			}
			ents = append(ents, DirEntry{name, k})
		}
		return ents, nil
	case KindOpResults:
		if err := t.gone(n.entry); err != nil {
			return nil, err
		}
		t.cat.Touched(n.listing, n.entry.SID(), catalog.MaskOpList)
		count, err := t.cat.OpCount(ctx, n.entry)
		if err != nil {
			return nil, err
		}
		ents := make([]DirEntry, count)
		for i := range ents {
			ents[i] = DirEntry{strconv.Itoa(i+1) + ".json", KindContent}
		}
		return ents, nil
	}
	return nil, errors.New("not a folder")
}

// Stat fills a content node's exact size, fetching and decrypting it if
// it was never seen (as a stat on the mount does); other nodes are
// complete already. A stat is a step of a walk: it moves the prefetch
// window.
func (t *Tree) Stat(ctx context.Context, n *Node) error {
	if n.Kind != KindContent {
		return nil
	}
	if err := t.gone(n.entry); err != nil {
		return err
	}
	t.cat.Touched(n.listing, n.entry.SID(), catalog.MaskOf(n.content))
	if n.SizeKnown {
		return nil
	}
	buf, err := t.cat.LoadContent(ctx, n.entry, n.content, n.n)
	if err != nil {
		return err
	}
	n.Size, n.SizeKnown = int64(bufLen(buf)), true
	if buf != nil {
		buf.Release()
	}
	return nil
}

func bufLen(b *plaincache.Buffer) int {
	if b == nil {
		return 0
	}
	return len(b.Bytes())
}

// File is an open file: a snapshot of metadata, or pinned plaintext that
// stays in memory until Close.
type File struct {
	data   []byte
	buf    *plaincache.Buffer
	closed bool
}

// Open reads n's bytes: metadata renders, content loads through the
// catalog (cache, prefetch join, sealed cache, fetch) and stays pinned
// until Close. Opening moves the prefetch window like an open on the mount.
func (t *Tree) Open(ctx context.Context, n *Node) (*File, error) {
	switch n.Kind {
	case KindServiceJSON, KindTranscriptJSON:
		return &File{data: n.meta}, nil
	case KindContent:
		if err := t.gone(n.entry); err != nil {
			return nil, err
		}
		t.cat.Touched(n.listing, n.entry.SID(), catalog.MaskOf(n.content))
		buf, err := t.cat.LoadContent(ctx, n.entry, n.content, n.n)
		if err != nil {
			return nil, err
		}
		f := &File{buf: buf}
		if buf != nil {
			f.data = buf.Bytes()
		}
		n.Size, n.SizeKnown = int64(len(f.data)), true
		return f, nil
	}
	return nil, errors.New("not a file")
}

// Size is the open file's length.
func (f *File) Size() int64 { return int64(len(f.data)) }

// ReadAt copies bytes from off (io.ReaderAt).
func (f *File) ReadAt(p []byte, off int64) (int, error) {
	if f.closed {
		return 0, errors.New("file closed")
	}
	if off < 0 {
		return 0, errors.New("negative offset")
	}
	if off >= int64(len(f.data)) {
		return 0, io.EOF
	}
	n := copy(p, f.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// Close drops the pin; the bytes may be evicted and zeroed after it.
func (f *File) Close() error {
	f.closed = true
	if f.buf != nil {
		f.data = nil
		f.buf.Release()
		f.buf = nil
	}
	return nil
}
