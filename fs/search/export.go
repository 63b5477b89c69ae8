package search

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"

	"github.com/intelligencefs/intelligencefs/fetch/record"
	"github.com/intelligencefs/intelligencefs/fs/sentencetext"
)

// decodeJSON decodes doc (numbers kept as json.Number). Its errors never
// quote the document.
func decodeJSON(doc []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(doc))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, fmt.Errorf("not JSON: syntax error at offset %d", se.Offset)
		}
		return nil, errors.New("not JSON")
	}
	return v, nil
}

// Export file and folder modes: private to the user, as the mount's files.
const (
	ExportFileMode os.FileMode = 0o600
	ExportDirMode  os.FileMode = 0o700
)

// Export writes what an access request hands over of the transcript of r
// under dir/<GT…>/, laid out as the mount shows it: transcript.json,
// sentences.json (byte for byte), sentences.txt (when derivable) and
// operator-results/<n>.json. This puts plaintext on disk, which nothing else
// in this program does: callers do it only on the user's explicit request.
//
// Everything is written below dir and nowhere else: through an os.Root
// opened on dir, so no name, symbolic link or ".." leads out of it, and the
// transcript's folder is named only by a well-formed SID (anything else is
// refused before a byte is written). dir is created (mode 0700) when
// missing. Folders Export creates are mode 0700 and files 0600; a folder
// that exists already is never chmodded: one that is not a private folder
// of the user (group or others may enter it, or it is a symbolic link) is
// refused with one line saying so. Each file is written to a temporary
// file in its folder and renamed into place once complete and synced, so a
// reader (or a crash) never sees half a file, and a file of an earlier
// export is replaced whole. Operator results the search did not fetch are
// fetched now. It returns the paths written.
func Export(ctx context.Context, dir string, r *Result) ([]string, error) {
	t := r.Transcript
	if !record.IsSID(t.SID, record.PrefixTranscript) {
		return nil, fmt.Errorf("export: the transcript SID %s is not GT followed by 32 hex digits; nothing written", record.QuoteText(t.SID, 40))
	}
	opDocs, err := r.OperatorResults(ctx)
	if err != nil {
		return nil, err
	}
	root, err := openExportRoot(dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	e := exporter{root: root, dir: dir}
	if err := e.mkdirPrivate(t.SID); err != nil {
		return nil, err
	}
	put := func(name string, data []byte) error {
		name = path.Join(t.SID, name)
		if err := e.writeAtomic(name, data); err != nil {
			return err
		}
		e.written = append(e.written, filepath.Join(dir, filepath.FromSlash(name)))
		return nil
	}
	if err := put("transcript.json", t.JSON()); err != nil {
		return e.written, err
	}
	if r.Sentences != nil {
		if err := put("sentences.json", r.Sentences); err != nil {
			return e.written, err
		}
		if txt, err := sentencetext.RenderLabeled(r.Sentences, sentencetext.LabelsFromChannel(t.Channel())); err == nil {
			err = put("sentences.txt", txt)
			clear(txt)
			if err != nil {
				return e.written, err
			}
		}
	}
	if len(opDocs) > 0 {
		if err := e.mkdirPrivate(path.Join(t.SID, "operator-results")); err != nil {
			return e.written, err
		}
		for i, d := range opDocs {
			if err := put(path.Join("operator-results", strconv.Itoa(i+1)+".json"), d); err != nil {
				return e.written, err
			}
		}
	}
	return e.written, nil
}

// openExportRoot creates dir (and missing parents) mode 0700 when it does
// not exist, and opens it as the root every write goes through.
func openExportRoot(dir string) (*os.Root, error) {
	if _, err := os.Lstat(dir); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, ExportDirMode); err != nil {
			return nil, fmt.Errorf("export: %w", err)
		}
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	return root, nil
}

// exporter writes one transcript's files below its root.
type exporter struct {
	root    *os.Root
	dir     string // the root's path, for messages
	written []string
}

// show is name (slash-separated, below the root) as the user knows it.
func (e *exporter) show(name string) string { return filepath.Join(e.dir, filepath.FromSlash(name)) }

// mkdirPrivate creates the folder name below the root mode 0700, or
// accepts an existing one that is a private folder of the user. It never
// changes the mode of a folder it did not create.
func (e *exporter) mkdirPrivate(name string) error {
	err := e.root.Mkdir(name, ExportDirMode)
	if err == nil {
		return nil
	}
	if !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("export: %s: %w", e.show(name), unwrapPath(err))
	}
	fi, err := e.root.Lstat(name)
	if err != nil {
		return fmt.Errorf("export: %s: %w", e.show(name), unwrapPath(err))
	}
	switch {
	case !fi.IsDir():
		return fmt.Errorf("export: %s exists and is not a folder (a %s); nothing written there", e.show(name), fileKind(fi.Mode()))
	case fi.Mode().Perm()&0o077 != 0:
		return fmt.Errorf("export: %s exists with mode %04o: group or others may read the plaintext it would hold, and this export did not create it, so it is left as is; chmod 700 it or remove it", e.show(name), fi.Mode().Perm())
	}
	return nil
}

// fileKind names what a mode is, for messages.
func fileKind(m fs.FileMode) string {
	switch {
	case m&fs.ModeSymlink != 0:
		return "symbolic link"
	case m.IsRegular():
		return "file"
	}
	return "special file"
}

// writeAtomic writes data to name (below the root) through a temporary
// file in the same folder (mode 0600), synced, then renamed over name.
func (e *exporter) writeAtomic(name string, data []byte) (err error) {
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	tmp := path.Join(path.Dir(name), "."+path.Base(name)+".tmp-"+hex.EncodeToString(rnd[:]))
	f, err := e.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, ExportFileMode)
	if err != nil {
		return fmt.Errorf("export %s: %w", e.show(name), unwrapPath(err))
	}
	defer func() {
		if err != nil {
			f.Close()
			e.root.Remove(tmp)
			err = fmt.Errorf("export %s: %w", e.show(name), unwrapPath(err))
		}
	}()
	if err = f.Chmod(ExportFileMode); err != nil { // created here: the umask may have taken bits
		return err
	}
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	return e.root.Rename(tmp, name)
}

// unwrapPath drops the *PathError around err: messages name the path once.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return le.Err
	}
	return err
}
