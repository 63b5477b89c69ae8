package search

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

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
// Folders are created mode 0700 and files 0600. Each file is written to a
// temporary file in its folder and renamed into place once complete and
// synced, so a reader (or a crash) never sees half a file, and a file of an
// earlier export is replaced whole. Operator results the search did not
// fetch are fetched now. It returns the paths written.
func Export(ctx context.Context, dir string, r *Result) ([]string, error) {
	t := r.Transcript
	opDocs, err := r.OperatorResults(ctx)
	if err != nil {
		return nil, err
	}
	base := filepath.Join(dir, t.SID)
	if err := mkdirPrivate(base); err != nil {
		return nil, err
	}
	var written []string
	put := func(name string, data []byte) error {
		p := filepath.Join(base, name)
		if err := writeAtomic(p, data); err != nil {
			return err
		}
		written = append(written, p)
		return nil
	}
	if err := put("transcript.json", t.JSON()); err != nil {
		return written, err
	}
	if r.Sentences != nil {
		if err := put("sentences.json", r.Sentences); err != nil {
			return written, err
		}
		if txt, err := sentencetext.RenderLabeled(r.Sentences, sentencetext.LabelsFromChannel(t.Channel())); err == nil {
			err = put("sentences.txt", txt)
			clear(txt)
			if err != nil {
				return written, err
			}
		}
	}
	if len(opDocs) > 0 {
		if err := mkdirPrivate(filepath.Join(base, "operator-results")); err != nil {
			return written, err
		}
		for i, d := range opDocs {
			if err := put(filepath.Join("operator-results", strconv.Itoa(i+1)+".json"), d); err != nil {
				return written, err
			}
		}
	}
	return written, nil
}

// mkdirPrivate creates dir (and missing parents) mode 0700, and makes an
// existing one 0700 too: the folders of an export hold plaintext.
func mkdirPrivate(dir string) error {
	if err := os.MkdirAll(dir, ExportDirMode); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	if err := os.Chmod(dir, ExportDirMode); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	return nil
}

// writeAtomic writes data to path through a temporary file in the same
// folder (mode 0600), synced, then renamed over path.
func writeAtomic(path string, data []byte) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
			err = fmt.Errorf("export %s: %w", path, err)
		}
	}()
	if err = f.Chmod(ExportFileMode); err != nil {
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
	return os.Rename(tmp, path)
}
