package testutil

import (
	"syscall"
	"testing"
	"time"
)

// CPUTime returns the CPU time, user and system, this process has used so
// far; benchmarks report it per op, as a machine busy with other work
// disturbs it less than the wall time.
func CPUTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
