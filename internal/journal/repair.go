package journal

import (
	"errors"
	"fmt"
	"os"
)

// checkedFile is one journal file as Open found it.
type checkedFile struct {
	name   string // base name in the directory
	kind   byte   // kindSegment or kindSnap, from its name and checked against its header
	seq    uint64 // number in its name
	size   int64  // bytes of valid content: where a torn tail is cut
	disk   int64  // bytes on disk when checked
	maxKey uint64 // the largest key of its header and records
}

// corrupt returns an error wrapping ErrCorrupt that names the file and offset.
func corrupt(dir, name string, off int, why string) error {
	return fmt.Errorf("%w: %s at offset %d: %s; nothing was changed on disk",
		ErrCorrupt, path(dir, name), off, why)
}

// checkFile reads and checks every record of the file name in dir. A bad
// record, batch or header that only a torn tail can explain is allowed in
// the last segment (last = true): the result's size is then where to cut.
// Anything else bad is damage, returned as an error wrapping ErrCorrupt.
func checkFile(dir, name string, kind byte, last bool) (checkedFile, error) {
	b, err := os.ReadFile(path(dir, name))
	if err != nil {
		return checkedFile{}, err
	}
	return checkBytes(dir, name, b, kind, last)
}

// checkBytes is checkFile of the file's bytes b.
func checkBytes(dir, name string, b []byte, kind byte, last bool) (checkedFile, error) {
	c := checkedFile{name: name, kind: kind, disk: int64(len(b))}
	_, c.seq, _ = parseName(name)
	h, err := decodeHeader(b)
	switch {
	case errors.Is(err, errBadHeader) && last && !validAfter(b, 0):
		return c, nil // size 0: a header cut short, nothing after it
	case errors.Is(err, errBadHeader):
		return c, corrupt(dir, name, 0, "bad file header followed by valid records")
	case err != nil:
		return c, corrupt(dir, name, 0, err.Error())
	case h.kind != kind:
		return c, corrupt(dir, name, 7, fmt.Sprintf("file kind %d does not match its name", h.kind))
	}
	c.maxKey = h.baseMaxKey
	end, why, _ := walk(b, h, func(r Record) error {
		c.maxKey = max(c.maxKey, r.Key)
		return nil
	})
	c.size = int64(end)
	switch {
	case end == len(b):
		return c, nil
	case !last && h.version == version1:
		return c, corrupt(dir, name, end, "bad record in a sealed file")
	case !last:
		return c, corrupt(dir, name, end, why+" in a sealed file")
	case h.version == version1 && validAfter(b, end):
		return c, corrupt(dir, name, end, "bad record followed by valid records")
	case h.version == version1:
		return c, nil // a torn tail
	}
	if at, ok := durableAfter(b, end, h.salt); ok {
		return c, corrupt(dir, name, end, fmt.Sprintf("bad batch (%s) followed by the batch at offset %d, written once this one was durable", why, at))
	}
	return c, nil // a torn tail: the last batches, not yet durable when the writer stopped
}

// cutTail truncates the torn tail of c and fsyncs the file, or removes the
// file if not even its header is whole, logging a warning that names the
// file and offset.
func (j *Journal) cutTail(c checkedFile) error {
	p := path(j.dir, c.name)
	j.log.Warn("journal: cutting torn tail", "file", p, "offset", c.size, "bytes_cut", c.disk-c.size)
	if c.size == 0 {
		return os.Remove(p)
	}
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	err = f.Truncate(c.size)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		j.synced(p)
	}
	return err
}
