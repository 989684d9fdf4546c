package journal

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
)

// Names of the journal's files, as doc.go describes them.
const (
	lockName   = "LOCK"
	segPrefix  = "seg-"
	snapPrefix = "snap-"
	fileSuffix = ".wqj"
	tmpSuffix  = ".tmp"
)

// segName returns the file name of segment seq.
func segName(seq uint64) string { return fmt.Sprintf("%s%016x%s", segPrefix, seq, fileSuffix) }

// snapName returns the file name of the snap file covering segments <= seq.
func snapName(seq uint64) string { return fmt.Sprintf("%s%016x%s", snapPrefix, seq, fileSuffix) }

// parseName returns the prefix and number of a journal file name; ok is false
// for any name that is not a segment or a snap file.
func parseName(name string) (prefix string, seq uint64, ok bool) {
	for _, p := range []string{segPrefix, snapPrefix} {
		hex, found := strings.CutPrefix(name, p)
		if !found {
			continue
		}
		hex, found = strings.CutSuffix(hex, fileSuffix)
		if !found || len(hex) != 16 {
			return "", 0, false
		}
		n, err := strconv.ParseUint(hex, 16, 64)
		if err != nil || hex != fmt.Sprintf("%016x", n) {
			return "", 0, false
		}
		return p, n, true
	}
	return "", 0, false
}

// dirListing is what a journal directory holds, sorted.
type dirListing struct {
	segs  []uint64 // segment numbers, increasing
	snaps []uint64 // snap numbers, increasing
	tmps  []string // names of leftover .tmp files
}

// listDir reads the journal file names of dir; other names are ignored.
func listDir(dir string) (dirListing, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return dirListing{}, err
	}
	var l dirListing
	for _, e := range ents {
		name := e.Name()
		if !e.Type().IsRegular() {
			continue
		}
		if base, ok := strings.CutSuffix(name, tmpSuffix); ok {
			if _, _, ok := parseName(base); ok {
				l.tmps = append(l.tmps, name)
			}
			continue
		}
		switch p, n, ok := parseName(name); {
		case ok && p == segPrefix:
			l.segs = append(l.segs, n)
		case ok:
			l.snaps = append(l.snaps, n)
		}
	}
	sort.Slice(l.segs, func(a, b int) bool { return l.segs[a] < l.segs[b] })
	sort.Slice(l.snaps, func(a, b int) bool { return l.snaps[a] < l.snaps[b] })
	return l, nil
}

// syncPath fsyncs the file or directory p: for a directory, so that file
// creations, renames and removals in it survive a power cut. It tells the
// test hook Options.synced.
func (j *Journal) syncPath(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		j.synced(p)
	}
	return err
}

// syncDir fsyncs the journal's directory.
func (j *Journal) syncDir() error { return j.syncPath(j.dir) }

// synced tells the test hook, if any, that p was fsynced.
func (j *Journal) synced(p string) {
	if j.o.synced != nil {
		j.o.synced(p)
	}
}

// mkdirAll creates dir (mode 0700) and every missing parent, like
// os.MkdirAll, fsyncing the parent of each directory it creates, outermost
// first, so that none of them can vanish in a power cut once Open returned.
// It returns whether it created dir.
func (j *Journal) mkdirAll(dir string) (created bool, err error) {
	if dir == "" {
		return false, &os.PathError{Op: "mkdir", Path: dir, Err: syscall.ENOENT} // as os.MkdirAll
	}
	var missing []string // innermost first
	for p := filepath.Clean(dir); ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err == nil {
			if !fi.IsDir() {
				return false, &os.PathError{Op: "mkdir", Path: p, Err: syscall.ENOTDIR}
			}
			break
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return false, err
		}
		missing = append(missing, p)
		if filepath.Dir(p) == p {
			break
		}
	}
	for i := len(missing) - 1; i >= 0; i-- {
		p := missing[i]
		if err := os.Mkdir(p, 0o700); err != nil {
			// Another process may have made it meanwhile: fine if it
			// is a directory; its parent is fsynced all the same.
			if fi, serr := os.Stat(p); serr != nil || !fi.IsDir() {
				return false, err
			}
		}
		if err := j.syncPath(filepath.Dir(p)); err != nil {
			return false, fmt.Errorf("making %s durable: %w", p, err)
		}
	}
	return len(missing) > 0, nil
}

// path returns the path of name in dir.
func path(dir, name string) string { return filepath.Join(dir, name) }
