package journal

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
)

func TestLockSameProcess(t *testing.T) {
	dir := t.TempDir()
	j := openT(t, dir, Options{})
	_, err := Open(dir, Options{})
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), dir) {
		t.Fatalf("second Open = %v, want ErrLocked naming %s", err, dir)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	j2, err := Open(dir, Options{})
	if err != nil {
		t.Fatalf("Open after Close = %v", err)
	}
	j2.Close()
}

// lockHelperEnv names the directory the helper process opens.
const lockHelperEnv = "JOURNAL_LOCK_HELPER_DIR"

// TestLockHelperProcess is not a test: TestLockOtherProcess runs the test
// binary again to open the journal from a second process. It exits 3 if the
// journal was locked, 0 if it opened it.
func TestLockHelperProcess(t *testing.T) {
	dir := os.Getenv(lockHelperEnv)
	if dir == "" {
		t.Skip("helper process for TestLockOtherProcess")
	}
	j, err := Open(dir, Options{})
	if err != nil {
		os.Stdout.WriteString(err.Error())
		if errors.Is(err, ErrLocked) {
			os.Exit(3)
		}
		os.Exit(1)
	}
	j.Close()
	os.Exit(0)
}

func TestLockOtherProcess(t *testing.T) {
	dir := t.TempDir()
	j := openT(t, dir, Options{})
	helper := func() (int, string) {
		cmd := exec.Command(os.Args[0], "-test.run=^TestLockHelperProcess$")
		cmd.Env = append(os.Environ(), lockHelperEnv+"="+dir)
		out, err := cmd.Output()
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return exit.ExitCode(), string(out)
		}
		if err != nil {
			t.Fatalf("running the helper: %v", err)
		}
		return 0, string(out)
	}
	if code, out := helper(); code != 3 || !strings.Contains(out, "in use") {
		t.Errorf("second process while locked: exit %d, output %q; want exit 3 saying the journal is in use", code, out)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if code, out := helper(); code != 0 {
		t.Errorf("second process after Close: exit %d, output %q; want 0", code, out)
	}
}
