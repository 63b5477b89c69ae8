// Package davserver serves the mounted tree (package vtree) read-only over
// WebDAV class 1, with golang.org/x/net/webdav doing the protocol: PROPFIND
// at depth 0 or 1 (never infinity), GET with Range, HEAD, ETag,
// Last-Modified and OPTIONS. Every method that would write answers 403 and
// LOCK/UNLOCK 405 before any lookup; names desktop clients probe for
// (.DS_Store, ._*, desktop.ini, Thumbs.db) answer 404 at once.
//
// Only the owner reads: every request needs the run's Basic credential and
// a Host header naming the bound address (no DNS rebinding), and no CORS
// header is ever sent, so a web page in the owner's browser cannot read it.
package davserver

import (
	"context"
	"crypto/subtle"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path"
	"strings"
	"time"

	"golang.org/x/net/webdav"

	"github.com/intelligencefs/intelligencefs/fs/vtree"
)

// Options configure a Server.
type Options struct {
	// Tree is what is served. Required.
	Tree *vtree.Tree
	// User and Password are the one credential accepted (HTTP Basic).
	// Both required.
	User, Password string
	// Hosts are the Host header values accepted ("127.0.0.1:8080",
	// "localhost:8080"); any other is refused with 421 before the
	// credential is looked at. Required.
	Hosts []string
	// Logger receives one line per request that failed on the server's
	// side (never a credential or content). Nil discards.
	Logger *slog.Logger
}

// Server is the WebDAV handler.
type Server struct {
	o     Options
	hosts map[string]bool
	dav   *webdav.Handler
}

// New builds the handler.
func New(o Options) (*Server, error) {
	if o.Tree == nil || o.User == "" || o.Password == "" || len(o.Hosts) == 0 {
		return nil, errors.New("davserver: Tree, User, Password and Hosts are required")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{o: o, hosts: map[string]bool{}}
	for _, h := range o.Hosts {
		s.hosts[strings.ToLower(h)] = true
	}
	s.dav = &webdav.Handler{
		FileSystem: davFS{t: o.Tree},
		// The handler insists on a lock system; LOCK never reaches it.
		LockSystem: webdav.NewMemLS(),
		Logger: func(r *http.Request, err error) {
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				o.Logger.Debug("webdav", "method", r.Method, "path", r.URL.Path, "err", err)
			}
		},
	}
	return s, nil
}

// allowed is the Allow header: what this read-only server does.
const allowed = "OPTIONS, GET, HEAD, PROPFIND"

// ServeHTTP checks the Host and the credential, refuses writes and locks,
// resolves the path once (so an error keeps its class: 403, 404, 410,
// 503), then lets x/net/webdav answer.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !s.hosts[strings.ToLower(r.Host)] {
		http.Error(w, "this server answers only to the address it is bound to", http.StatusMisdirectedRequest)
		return
	}
	user, pass, ok := r.BasicAuth()
	if !ok || subtle.ConstantTimeCompare([]byte(user), []byte(s.o.User))&
		subtle.ConstantTimeCompare([]byte(pass), []byte(s.o.Password)) != 1 {
		w.Header().Set("WWW-Authenticate", `Basic realm="intelligencefs", charset="UTF-8"`)
		http.Error(w, "credential required", http.StatusUnauthorized)
		return
	}
	w.Header().Set("Cache-Control", "private, no-store")
	switch r.Method {
	case "OPTIONS":
		w.Header().Set("DAV", "1")
		w.Header().Set("Allow", allowed)
		w.Header().Set("MS-Author-Via", "DAV")
		w.WriteHeader(http.StatusOK)
		return
	case "GET", "HEAD", "PROPFIND":
	case "LOCK", "UNLOCK":
		w.Header().Set("Allow", allowed)
		http.Error(w, "read-only: no locks", http.StatusMethodNotAllowed)
		return
	default: // PUT, DELETE, MKCOL, MOVE, COPY, PROPPATCH, POST, …
		w.Header().Set("Allow", allowed)
		http.Error(w, "read-only filesystem", http.StatusForbidden)
		return
	}
	p := r.URL.Path
	if vtree.Junk(path.Base(p)) {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	if r.Method == "PROPFIND" {
		switch d := r.Header.Get("Depth"); d {
		case "0", "1":
		case "":
			// RFC 4918 reads a missing Depth as infinity; a walk of
			// every transcript is never what a client wants here.
			r.Header.Set("Depth", "1")
		default:
			w.Header().Set("Content-Type", `application/xml; charset="utf-8"`)
			w.WriteHeader(http.StatusForbidden)
			io.WriteString(w, `<?xml version="1.0" encoding="utf-8"?><D:error xmlns:D="DAV:"><D:propfind-finite-depth/></D:error>`)
			return
		}
	}
	n, err := s.o.Tree.Resolve(r.Context(), p)
	if err == nil && !n.IsDir() {
		err = s.o.Tree.Stat(r.Context(), n)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	if (r.Method == "GET" || r.Method == "HEAD") && n.IsDir() {
		// A folder has no body; browsers get a plain answer, not XML.
		w.Header().Set("Allow", allowed)
		http.Error(w, "a folder: list it with PROPFIND", http.StatusMethodNotAllowed)
		return
	}
	r = r.WithContext(context.WithValue(r.Context(), resolvedKey{}, resolved{path: path.Clean(p), n: n}))
	s.dav.ServeHTTP(w, r)
}

// Status is the HTTP status of a tree error's class.
func Status(err error) int {
	switch vtree.ClassOf(err) {
	case vtree.OK:
		return http.StatusOK
	case vtree.NotFound:
		return http.StatusNotFound
	case vtree.Denied:
		return http.StatusForbidden
	case vtree.Gone:
		return http.StatusGone
	case vtree.Retry:
		return http.StatusServiceUnavailable
	}
	return http.StatusBadGateway
}

func writeError(w http.ResponseWriter, err error) {
	st := Status(err)
	if st == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "5")
	}
	http.Error(w, http.StatusText(st), st)
}

type resolvedKey struct{}

type resolved struct {
	path string
	n    *vtree.Node
}

// davFS adapts the tree to webdav.FileSystem, read-only. Links are
// followed by path and never listed (WebDAV has no links, and listing a
// unique name would walk its service twice).
type davFS struct{ t *vtree.Tree }

var errReadOnly = &os.PathError{Op: "write", Err: os.ErrPermission}

func (davFS) Mkdir(ctx context.Context, name string, perm os.FileMode) error { return errReadOnly }
func (davFS) RemoveAll(ctx context.Context, name string) error               { return errReadOnly }
func (davFS) Rename(ctx context.Context, o, n string) error                  { return errReadOnly }

// node resolves name, reusing what ServeHTTP resolved for the request.
func (f davFS) node(ctx context.Context, name string) (*vtree.Node, error) {
	if r, ok := ctx.Value(resolvedKey{}).(resolved); ok && r.path == path.Clean(name) {
		return r.n, nil
	}
	n, err := f.t.Resolve(ctx, name)
	if err != nil {
		return nil, asPathError(name, err)
	}
	return n, nil
}

// asPathError keeps the class and makes not-found an fs.ErrNotExist for
// the webdav package.
func asPathError(name string, err error) error {
	switch vtree.ClassOf(err) {
	case vtree.NotFound, vtree.Gone:
		return &os.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	case vtree.Denied:
		return &os.PathError{Op: "open", Path: name, Err: fs.ErrPermission}
	}
	return err
}

// Stat is a PROPFIND's look at each name: a content file's size is
// exact, which may fetch it (as `ls -l` on the mount does; a listing at
// depth 1 is a walk and moves the prefetch window). A content file whose
// size cannot be had is listed with size 0; a GET then reports its error.
func (f davFS) Stat(ctx context.Context, name string) (os.FileInfo, error) {
	n, err := f.node(ctx, name)
	if err != nil {
		return nil, err
	}
	if err := f.t.Stat(ctx, n); err != nil && vtree.ClassOf(err) == vtree.NotFound {
		return nil, asPathError(name, err)
	}
	return info{n}, nil
}

// OpenFile opens lazily: the content is loaded at the first Read or Seek,
// so a PROPFIND, which opens every name it reports, loads nothing.
func (f davFS) OpenFile(ctx context.Context, name string, flag int, perm os.FileMode) (webdav.File, error) {
	if flag&(os.O_WRONLY|os.O_RDWR|os.O_CREATE|os.O_TRUNC|os.O_APPEND) != 0 {
		return nil, errReadOnly
	}
	n, err := f.node(ctx, name)
	if err != nil {
		return nil, err
	}
	return &file{t: f.t, n: n, ctx: ctx}, nil
}

// info is a node as an os.FileInfo, with the content type by name so
// the webdav package never reads a file to sniff one.
type info struct{ n *vtree.Node }

func (i info) Name() string { return i.n.Name }
func (i info) Size() int64 {
	if i.n.IsDir() {
		return 0
	}
	return i.n.Size
}
func (i info) Mode() os.FileMode {
	if i.n.IsDir() {
		return os.ModeDir | 0o500
	}
	return 0o400
}
func (i info) ModTime() time.Time { return i.n.ModTime }
func (i info) IsDir() bool        { return i.n.IsDir() }
func (i info) Sys() any           { return nil }

// ContentType implements webdav.ContentTyper.
func (i info) ContentType(ctx context.Context) (string, error) {
	switch path.Ext(i.n.Name) {
	case ".json":
		return "application/json", nil
	case ".txt":
		return "text/plain; charset=utf-8", nil
	}
	return "application/octet-stream", nil
}

// dirInfo is a listing's entry: name and kind only (its details come from
// the Stat the webdav package makes of each name).
type dirInfo struct{ e vtree.DirEntry }

func (d dirInfo) Name() string { return d.e.Name }
func (d dirInfo) Size() int64  { return 0 }
func (d dirInfo) Mode() os.FileMode {
	if d.e.IsDir() {
		return os.ModeDir | 0o500
	}
	return 0o400
}
func (d dirInfo) ModTime() time.Time { return time.Time{} }
func (d dirInfo) IsDir() bool        { return d.e.IsDir() }
func (d dirInfo) Sys() any           { return nil }

// file is an open name: a folder to list, or a file read through a
// vtree.File opened on first use (and pinned until Close).
type file struct {
	t   *vtree.Tree
	n   *vtree.Node
	ctx context.Context
	f   *vtree.File
	off int64
}

func (f *file) open() error {
	if f.f != nil {
		return nil
	}
	if f.n.IsDir() {
		return &os.PathError{Op: "read", Path: f.n.Path, Err: errors.New("is a directory")}
	}
	v, err := f.t.Open(f.ctx, f.n)
	if err != nil {
		return err
	}
	f.f = v
	return nil
}

func (f *file) Close() error {
	if f.f != nil {
		return f.f.Close()
	}
	return nil
}

func (f *file) Read(p []byte) (int, error) {
	if err := f.open(); err != nil {
		return 0, err
	}
	n, err := f.f.ReadAt(p, f.off)
	f.off += int64(n)
	return n, err
}

func (f *file) Seek(off int64, whence int) (int64, error) {
	if err := f.open(); err != nil {
		return 0, err
	}
	switch whence {
	case io.SeekCurrent:
		off += f.off
	case io.SeekEnd:
		off += f.f.Size()
	}
	if off < 0 {
		return 0, errors.New("negative offset")
	}
	f.off = off
	return off, nil
}

func (f *file) Readdir(count int) ([]fs.FileInfo, error) {
	ents, err := f.t.ReadDir(f.ctx, f.n)
	if err != nil {
		return nil, err
	}
	out := make([]fs.FileInfo, 0, len(ents))
	for _, e := range ents {
		if e.Kind == vtree.KindLink {
			continue
		}
		out = append(out, dirInfo{e})
	}
	return out, nil
}

func (f *file) Stat() (fs.FileInfo, error) {
	if !f.n.IsDir() {
		_ = f.t.Stat(f.ctx, f.n) // size 0 where it cannot be had (davFS.Stat)
	}
	return info{f.n}, nil
}

func (f *file) Write(p []byte) (int, error) { return 0, errReadOnly }
