package journal

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// syncLog records the paths the journal fsyncs, in order (Options.synced).
type syncLog struct {
	mu    sync.Mutex // guards paths
	paths []string
}

func (s *syncLog) add(p string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.paths = append(s.paths, p)
}

// list returns the paths fsynced so far.
func (s *syncLog) list() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.paths)
}

// with returns o recording its fsyncs in s.
func (s *syncLog) with(o Options) Options {
	o.synced = s.add
	return o
}

// inOrder reports whether want appears in got as a subsequence.
func inOrder(got, want []string) bool {
	i := 0
	for _, p := range got {
		if i < len(want) && p == want[i] {
			i++
		}
	}
	return i == len(want)
}

// TestOpenFsyncsCreatedDirs opens a journal three levels below an existing
// directory: each level Open creates is fsynced in its parent, outermost
// first, before Open returns (so before any Append is acknowledged), under
// every policy.
func TestOpenFsyncsCreatedDirs(t *testing.T) {
	for _, sync := range []Sync{SyncAlways, SyncEvery(time.Hour), SyncNever} {
		t.Run(sync.String(), func(t *testing.T) {
			base := t.TempDir()
			dir := filepath.Join(base, "a", "b", "jobs")
			var s syncLog
			j := openT(t, dir, s.with(Options{Sync: sync}))
			atOpen := s.list()
			want := []string{base, filepath.Join(base, "a"), filepath.Join(base, "a", "b")}
			if !inOrder(atOpen, want) {
				t.Errorf("fsyncs by Open = %q, want %q among them, in that order", atOpen, want)
			}
			if err := j.Append(rec(1)); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestOpenFsyncsRelativeDir: a relative directory's parent is ".".
func TestOpenFsyncsRelativeDir(t *testing.T) {
	t.Chdir(t.TempDir())
	var s syncLog
	openT(t, "jobs", s.with(Options{}))
	if got := s.list(); !inOrder(got, []string{".", "jobs"}) {
		t.Errorf("fsyncs by Open = %q, want \".\" then \"jobs\"", got)
	}
}

// TestOpenFsyncsWhatItInherits closes a journal of several segments written
// without fsyncs (as a kill -9 under -fsync never leaves it: maybe only in
// the page cache), then opens it again: before Open returns, every file is
// fsynced, then the directory, then its parent.
func TestOpenFsyncsWhatItInherits(t *testing.T) {
	dir := t.TempDir()
	j := openT(t, dir, Options{Sync: SyncNever, SegmentBytes: 200})
	for i := 1; i <= 20; i++ {
		if err := j.Append(rec(i)); err != nil {
			t.Fatal(err)
		}
	}
	j.Close()
	var want []string
	for name := range snapshotDir(t, dir) {
		want = append(want, filepath.Join(dir, name))
	}
	if len(want) < 3 {
		t.Fatalf("%d files, want several segments", len(want))
	}
	slices.Sort(want) // replay order: segment numbers are fixed-width
	want = append(want, dir, filepath.Dir(dir))
	for _, sync := range []Sync{SyncNever, SyncAlways} {
		var s syncLog
		j := openT(t, dir, s.with(Options{Sync: sync}))
		if got := s.list(); !inOrder(got, want) {
			t.Errorf("%v: fsyncs by Open = %q, want %q in that order", sync, got, want)
		}
		j.Close()
	}
}

// TestOpenFsyncsCutTail: a start that cuts a torn tail fsyncs the cut file,
// then the directory.
func TestOpenFsyncsCutTail(t *testing.T) {
	files, _, last := smallJournal(t, 20)
	files[last] = append(files[last], 1, 2, 3, 4, 5)
	dir := writeDir(t, files)
	var s syncLog
	openT(t, dir, s.with(Options{}))
	got := s.list()
	if !inOrder(got, []string{filepath.Join(dir, last), dir}) {
		t.Errorf("fsyncs by Open = %q, want %s then %s", got, last, dir)
	}
	if strings.Count(strings.Join(got, "\n"), filepath.Join(dir, last)) != 1 {
		t.Errorf("fsyncs by Open = %q: want %s fsynced once, by its cut", got, last)
	}
}

// TestOpenFsyncsSnapBeforeRemovingLeftovers stops a compaction after its
// rename (its directory not yet fsynced), then opens the journal: the snap
// file and the directory are fsynced before the segments it covers are
// removed, since the removal is durable only if the rename is.
func TestOpenFsyncsSnapBeforeRemovingLeftovers(t *testing.T) {
	dir := t.TempDir()
	o := Options{Sync: SyncNever, SegmentBytes: 512, Live: func(k uint64) bool { return k%2 == 0 }}
	stopped := make(chan struct{})
	o.stopAt = func(step string) bool {
		if step == "renamed" {
			close(stopped)
			return true
		}
		return false
	}
	j := openT(t, dir, o)
	for i := 1; ; i++ {
		if err := j.Append(rec(i)); err != nil {
			t.Fatal(err)
		}
		select {
		case <-stopped:
		default:
			continue
		}
		break
	}
	j.Close()
	var snap string
	var leftovers []string
	l, err := listDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(l.snaps) != 1 {
		t.Fatalf("snap files %v, want one", l.snaps)
	}
	snap = filepath.Join(dir, snapName(l.snaps[0]))
	for _, s := range l.segs {
		if s <= l.snaps[0] {
			leftovers = append(leftovers, filepath.Join(dir, segName(s)))
		}
	}
	if len(leftovers) == 0 {
		t.Fatal("no segment covered by the snap file left behind")
	}
	var s syncLog
	var mu sync.Mutex
	var missing []string // leftovers already gone when the directory was fsynced
	dirSynced := false
	o2 := s.with(Options{})
	o2.synced = func(p string) {
		s.add(p)
		mu.Lock()
		defer mu.Unlock()
		if p == dir && !dirSynced {
			dirSynced = true
			for _, f := range leftovers {
				if _, err := os.Stat(f); err != nil {
					missing = append(missing, f)
				}
			}
		}
	}
	openT(t, dir, o2)
	if got := s.list(); !inOrder(got, []string{snap, dir}) {
		t.Errorf("fsyncs by Open = %q, want %s then %s", got, snap, dir)
	}
	if len(missing) > 0 {
		t.Errorf("%q removed before the directory holding the snap file's rename was fsynced", missing)
	}
	for _, f := range leftovers {
		if _, err := os.Stat(f); err == nil {
			t.Errorf("leftover %s still there after Open", f)
		}
	}
}

// checkRemoved checks that err, and the journal's Err, wrap ErrFailed and
// say the segment was removed, and that the failure was counted once.
func checkRemoved(t *testing.T, j *Journal, err error, logs *logBuffer) {
	t.Helper()
	if !errors.Is(err, ErrFailed) || !errors.Is(err, errRemoved) {
		t.Errorf("error = %v, want ErrFailed wrapping errRemoved", err)
	}
	if err := j.Err(); !errors.Is(err, ErrFailed) || !errors.Is(err, errRemoved) {
		t.Errorf("Err = %v, want ErrFailed wrapping errRemoved", err)
	}
	if err := j.Append(rec(1000)); !errors.Is(err, ErrFailed) {
		t.Errorf("Append after the failure = %v, want ErrFailed", err)
	}
	if got := j.Errors(); got != 1 {
		t.Errorf("Errors = %d, want 1", got)
	}
	if got := strings.Count(logs.String(), "journal failed"); got != 1 {
		t.Errorf("logged the failure %d times, want once:\n%s", got, logs)
	}
}

// TestRemovedDirFailsJournal removes the directory under an open journal
// (rm -rf): under SyncAlways the next Append fails, wrapping ErrFailed, and
// so does Err, as after a disk error; so before the first segment exists.
func TestRemovedDirFailsJournal(t *testing.T) {
	for _, first := range []bool{false, true} {
		name := "after an append"
		if first {
			name = "before the first append"
		}
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "jobs")
			var logs logBuffer
			j := openT(t, dir, Options{Logger: logs.logger()})
			if !first {
				if err := j.Append(rec(1)); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.RemoveAll(dir); err != nil {
				t.Fatal(err)
			}
			err := j.Append(rec(2))
			if first {
				// No segment yet: the create fails.
				if !errors.Is(err, ErrFailed) || !errors.Is(err, os.ErrNotExist) {
					t.Errorf("Append = %v, want ErrFailed wrapping ENOENT", err)
				}
				return
			}
			checkRemoved(t, j, err, &logs)
			if err := j.Close(); !errors.Is(err, ErrFailed) {
				t.Errorf("Close = %v, want ErrFailed", err)
			}
		})
	}
}

// TestRemovedSegmentFailsJournal removes only the segment being written.
func TestRemovedSegmentFailsJournal(t *testing.T) {
	dir := t.TempDir()
	var logs logBuffer
	j := openT(t, dir, Options{Logger: logs.logger()})
	if err := j.Append(rec(1)); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, segName(1))); err != nil {
		t.Fatal(err)
	}
	checkRemoved(t, j, j.Append(rec(2)), &logs)
}

// TestRemovedDirFailsJournalLazily: under SyncEvery the periodic fsync
// finds the segment gone, under SyncNever the periodic check does: the
// journal fails within one period of the removal.
func TestRemovedDirFailsJournalLazily(t *testing.T) {
	for _, sync := range []Sync{SyncEvery(50 * time.Millisecond), SyncNever} {
		t.Run(sync.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				dir := filepath.Join(t.TempDir(), "jobs")
				var logs logBuffer
				j, err := Open(dir, Options{Sync: sync, Logger: logs.logger()})
				if err != nil {
					t.Fatal(err)
				}
				defer j.Close()
				if err := j.Append(rec(1)); err != nil {
					t.Fatal(err)
				}
				if err := os.RemoveAll(dir); err != nil {
					t.Fatal(err)
				}
				if err := j.Append(rec(2)); err != nil {
					t.Fatalf("Append right after the removal = %v, want nil (no fsync yet)", err)
				}
				time.Sleep(unlinkedCheck + 50*time.Millisecond)
				synctest.Wait()
				checkRemoved(t, j, j.Err(), &logs)
			})
		})
	}
}
