package journal

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
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

// syncDir fsyncs the directory dir, so that file creations, renames and
// removals in it survive a power cut.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// path returns the path of name in dir.
func path(dir, name string) string { return filepath.Join(dir, name) }
