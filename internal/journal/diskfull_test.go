package journal

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// mountTmpfs mounts a tmpfs of the given size (mount's syntax, "1m") on a new
// directory, unmounted when the test ends, or skips the test if it cannot.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs (needs root): %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

func TestDiskFull(t *testing.T) {
	dir := mountTmpfs(t, "1m")
	var logs logBuffer
	j, err := Open(dir, Options{Logger: logs.logger()})
	if err != nil {
		t.Fatal(err)
	}
	var ok []Record
	data := make([]byte, 3000)
	for i := 1; ; i++ {
		r := Record{Type: 1, Key: uint64(i), Data: data}
		err := j.Append(r)
		if err != nil {
			if !errors.Is(err, ErrFailed) || !errors.Is(err, syscall.ENOSPC) {
				t.Errorf("Append on a full disk = %v, want ErrFailed wrapping ENOSPC", err)
			}
			break
		}
		ok = append(ok, r)
		if i > 1000 {
			t.Fatalf("1000 appends of 3 KB fit in a 1 MiB tmpfs")
		}
	}
	if err := j.Append(Record{Type: 1, Key: 9999}); !errors.Is(err, ErrFailed) {
		t.Errorf("Append after the failure = %v, want ErrFailed", err)
	}
	if j.Errors() != 1 {
		t.Errorf("Errors = %d, want 1", j.Errors())
	}
	j.Close()

	// Reopening needs no space: it only cuts the torn tail.
	j = openT(t, dir, Options{})
	got := replayAll(t, j)
	if !equalRecords(got, ok) {
		t.Errorf("Replay = %d records, want the %d whose Append succeeded, and not the failed one", len(got), len(ok))
	}
	j.Close()
}
