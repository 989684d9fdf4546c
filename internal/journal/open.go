package journal

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
)

// Open opens the journal in dir, creating dir (mode 0700) and its missing
// parents if need be, each fsynced in its parent. It takes dir's lock (an
// error wrapping ErrLocked if another open journal holds it), reads and
// checks every file, and only then changes the directory: it fsyncs every
// file it keeps and the directory (what it inherits from the previous
// process may still be only in the page cache), cuts a torn tail (logging a
// warning with the file and offset) and removes the leftovers of an
// interrupted compaction. Damage is an error wrapping ErrCorrupt that names
// the file and offset; the directory is then left exactly as it was.
func Open(dir string, o Options) (*Journal, error) {
	if o.SegmentBytes <= 0 {
		o.SegmentBytes = DefaultSegmentBytes
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	j := &Journal{dir: dir, o: o, log: o.Logger}
	created, err := j.mkdirAll(dir)
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	j.lock = lock
	if err := j.load(created); err != nil {
		lock.Close()
		return nil, err
	}
	j.reqs = make(chan request, 1024)
	j.kick = make(chan struct{}, 1)
	j.quit = make(chan struct{})
	j.writerDone = make(chan struct{})
	j.compDone = make(chan struct{})
	j.compactEnd = sync.NewCond(&j.fmu)
	go j.writeLoop()
	go j.compactLoop()
	return j, nil
}

// load checks every file of the directory, makes what it keeps durable,
// then repairs the directory and sets the journal's state from what it
// found. created says Open made the directory (its parent is fsynced).
func (j *Journal) load(created bool) error {
	l, err := listDir(j.dir)
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	files, leftovers, err := j.check(l)
	if err != nil {
		return err
	}
	if err := j.inherit(files, created); err != nil {
		return fmt.Errorf("journal: making the files of the previous run durable: %w", err)
	}
	if err := j.repair(files, leftovers); err != nil {
		return fmt.Errorf("journal: repair: %w", err)
	}
	for _, f := range files {
		if f.size == 0 {
			continue // removed by repair
		}
		j.files = append(j.files, f)
		j.bytes.Add(f.size)
		j.maxKey.Store(max(j.maxKey.Load(), f.maxKey))
		if f.kind == kindSnap {
			j.snap = &f
		} else {
			j.sealed = append(j.sealed, f)
		}
	}
	j.nextSeq = 1
	if n := len(l.segs); n > 0 {
		j.nextSeq = l.segs[n-1] + 1
	}
	if n := len(l.snaps); n > 0 {
		j.nextSeq = max(j.nextSeq, l.snaps[n-1]+1)
	}
	return nil
}

// inherit fsyncs every file that check kept whole, then the directory and
// its entry in its parent: the previous process may have died (kill -9)
// with them only in the page cache, and this one is about to build on them:
// seal its last segment (a power cut could then tear a file taken as
// sealed), remove the segments its snap file covers, acknowledge new
// records. A file whose torn tail repair cuts is fsynced by the cut. It
// runs under every Sync policy: only the last segment may ever be torn.
func (j *Journal) inherit(files []checkedFile, created bool) error {
	for _, f := range files {
		if f.size < f.disk || f.size == 0 {
			continue // cut or removed, and fsynced, by repair
		}
		if err := j.syncPath(path(j.dir, f.name)); err != nil {
			return err
		}
	}
	if err := j.syncDir(); err != nil {
		return err
	}
	if created {
		return nil // mkdirAll fsynced the parent
	}
	// A directory an older build created may never have been fsynced in
	// its parent. A parent this process cannot open (no read permission)
	// is not a reason to refuse to start: that entry is most likely old.
	parent := filepath.Dir(filepath.Clean(j.dir))
	if err := j.syncPath(parent); err != nil {
		j.log.Warn("journal: cannot fsync the directory's parent", "dir", parent, "err", err)
	}
	return nil
}

// check reads every file of l that belongs to the journal, in replay order,
// and names the leftovers of an interrupted compaction. It changes nothing.
func (j *Journal) check(l dirListing) (files []checkedFile, leftovers []string, err error) {
	leftovers = l.tmps
	var base uint64 // segments numbered <= base are covered by the snap file
	if n := len(l.snaps); n > 0 {
		base = l.snaps[n-1]
		for _, s := range l.snaps[:n-1] {
			leftovers = append(leftovers, snapName(s))
		}
		c, err := checkFile(j.dir, snapName(base), kindSnap, false)
		if err != nil {
			return nil, nil, err
		}
		files = append(files, c)
	}
	var segs []uint64
	for _, s := range l.segs {
		if len(l.snaps) > 0 && s <= base {
			leftovers = append(leftovers, segName(s))
			continue
		}
		segs = append(segs, s)
	}
	for i, s := range segs {
		c, err := checkFile(j.dir, segName(s), kindSegment, i == len(segs)-1)
		if err != nil {
			return nil, nil, err
		}
		files = append(files, c)
	}
	return files, leftovers, nil
}

// repair cuts the torn tail found by check, if any, and removes leftovers.
func (j *Journal) repair(files []checkedFile, leftovers []string) error {
	changed := len(leftovers) > 0
	for _, name := range leftovers {
		if err := os.Remove(path(j.dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	for _, f := range files {
		if f.size < f.disk || f.size == 0 {
			changed = true
			if err := j.cutTail(f); err != nil {
				return err
			}
		}
	}
	if !changed {
		return nil
	}
	return j.syncDir()
}

// Replay calls fn with every record of the journal, in append order, as Open
// found it, and stops at fn's first error, which it returns. A record's Data
// may be kept: it is not reused. Replay may be called once, before the first
// Append.
func (j *Journal) Replay(fn func(Record) error) error {
	if j.started.Load() {
		return errors.New("journal: Replay after Append")
	}
	if j.replayed.Swap(true) {
		return errors.New("journal: Replay called twice")
	}
	for _, f := range j.files {
		b, err := os.ReadFile(path(j.dir, f.name))
		if err != nil {
			return fmt.Errorf("journal: replay: %w", err)
		}
		if int64(len(b)) < f.size {
			return corrupt(j.dir, f.name, len(b), "file shrank since open")
		}
		b = b[:f.size]
		end, err := walkFile(b, fn)
		if err != nil {
			return err
		}
		if end != len(b) {
			return corrupt(j.dir, f.name, end, "bad record (file changed since open)")
		}
	}
	return nil
}
