package fs

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/intelligencefs/intelligencefs/fetch/record"
)

// earliestYear bounds the year probe when the service's creation date is
// unknown (Conversational Intelligence predates no transcript before it).
const earliestYear = 2018

// dateDir is services/<GA>/by-date and its year and month folders. Which
// years, months and days exist is derived without listing transcripts: one
// PageSize=1 date-bounded request per candidate period, cached.
type dateDir struct {
	folder
	service string
	level   int // 0 by-date, 1 year, 2 month
	year    int
	month   time.Month
}

// period returns the bounds of child i of this folder (a year, month or day).
func (d *dateDir) period(i int) (time.Time, time.Time) {
	switch d.level {
	case 0:
		from := time.Date(i, 1, 1, 0, 0, 0, 0, time.UTC)
		return from, from.AddDate(1, 0, 0)
	case 1:
		from := time.Date(d.year, time.Month(i), 1, 0, 0, 0, 0, time.UTC)
		return from, from.AddDate(0, 1, 0)
	default:
		from := time.Date(d.year, d.month, i, 0, 0, 0, 0, time.UTC)
		return from, from.AddDate(0, 0, 1)
	}
}

// candidates is the range of child numbers worth probing.
func (d *dateDir) candidates(ctx context.Context) (lo, hi int) {
	now := time.Now().UTC()
	switch d.level {
	case 0:
		lo = earliestYear
		if s, err := d.r.cat.Service(ctx, d.service); err == nil {
			if c := s.DateCreated; !c.IsZero() {
				lo = c.UTC().Year()
			}
		}
		return lo, now.Year()
	case 1:
		return 1, 12
	default:
		return 1, time.Date(d.year, d.month+1, 0, 0, 0, 0, 0, time.UTC).Day()
	}
}

func (d *dateDir) name(i int) string {
	if d.level == 0 {
		return strconv.Itoa(i)
	}
	return fmt.Sprintf("%02d", i)
}

var _ = (gofs.NodeReaddirer)((*dateDir)(nil))

// Readdir probes every candidate period concurrently and lists those that
// hold transcripts.
func (d *dateDir) Readdir(ctx context.Context) (gofs.DirStream, syscall.Errno) {
	lo, hi := d.candidates(ctx)
	if hi < lo {
		return gofs.NewListDirStream(nil), 0
	}
	has := make([]bool, hi-lo+1)
	errs := make([]error, hi-lo+1)
	var wg sync.WaitGroup
	sem := make(chan struct{}, d.r.opts.Concurrency)
	now := time.Now()
	for i := lo; i <= hi; i++ {
		from, to := d.period(i)
		if from.After(now) {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			has[i-lo], errs[i-lo] = d.r.cat.HasTranscripts(ctx, d.service, from, to)
		}()
	}
	wg.Wait()
	var ents []fuse.DirEntry
	for i := lo; i <= hi; i++ {
		if errs[i-lo] != nil {
			return nil, errnoOf(errs[i-lo])
		}
		if has[i-lo] {
			ents = append(ents, fuse.DirEntry{Name: d.name(i), Mode: syscall.S_IFDIR})
		}
	}
	return gofs.NewListDirStream(ents), 0
}

var _ = (gofs.NodeLookuper)((*dateDir)(nil))

// Lookup accepts only well-formed period names that hold transcripts.
func (d *dateDir) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	want := 2
	if d.level == 0 {
		want = 4
	}
	i, err := strconv.Atoi(name)
	if err != nil || len(name) != want || d.name(i) != name {
		return nil, syscall.ENOENT
	}
	lo, hi := 1, 12
	switch d.level {
	case 0:
		lo, hi = 1970, 9999
	case 2:
		_, hi = d.candidates(ctx)
	}
	if i < lo || i > hi {
		return nil, syscall.ENOENT
	}
	from, to := d.period(i)
	ok, err := d.r.cat.HasTranscripts(ctx, d.service, from, to)
	if err != nil {
		return nil, errnoOf(err)
	}
	if !ok {
		return nil, syscall.ENOENT
	}
	d.r.dirAttr(&out.Attr, time.Time{})
	setEntryTimeouts(out, d.r.opts.DirCacheTime, d.r.opts.DirCacheTime)
	if ch := d.GetChild(name); ch != nil {
		return ch, 0
	}
	var node gofs.InodeEmbedder
	switch d.level {
	case 0:
		node = &dateDir{folder: newFolder(d.r), service: d.service, level: 1, year: i}
	case 1:
		node = &dateDir{folder: newFolder(d.r), service: d.service, level: 2, year: d.year, month: time.Month(i)}
	default:
		l := d.r.cat.Listing(record.TranscriptQuery{ServiceSID: d.service, AfterDateCreated: from, BeforeDateCreated: to}, from.Format("2006-01-02"))
		node = &transcriptsDir{folder: newFolder(d.r), l: l}
	}
	return d.NewInode(ctx, node, gofs.StableAttr{Mode: syscall.S_IFDIR}), 0
}
