package metrics

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"
)

// timeoutError is an error with a Timeout method, as *command.TimeoutError
// and net.Error have.
type timeoutError bool

func (e timeoutError) Error() string { return "timeout error" }
func (e timeoutError) Timeout() bool { return bool(e) }

// TestAttemptsCount checks that each attempt is counted in exactly one of
// Done, Failed and Timeout, a timeout known by its Timeout method alone.
func TestAttemptsCount(t *testing.T) {
	for _, tt := range []struct {
		name                  string
		err                   error
		done, failed, timeout int64
	}{
		{"nil", nil, 1, 0, 0},
		{"failed", errors.New("exit status 1"), 0, 1, 0},
		{"timeout", timeoutError(true), 0, 0, 1},
		{"wrapped timeout", fmt.Errorf("attempt 2: %w", timeoutError(true)), 0, 0, 1},
		{"Timeout() false", timeoutError(false), 0, 1, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := NewAttempts()
			a.Count(tt.err)
			if d, f, to := a.Done.Load(), a.Failed.Load(), a.Timeout.Load(); d != tt.done || f != tt.failed || to != tt.timeout {
				t.Errorf("Count(%v): done %d, failed %d, timeout %d; want %d, %d, %d", tt.err, d, f, to, tt.done, tt.failed, tt.timeout)
			}
		})
	}
}

// TestHistogramWriteText checks the buckets are cumulative, each bound
// inclusive, and the sum in seconds.
func TestHistogramWriteText(t *testing.T) {
	h := newHistogram(time.Millisecond, time.Second)
	for _, d := range []time.Duration{500 * time.Microsecond, time.Millisecond, 2 * time.Second} {
		h.Observe(d)
	}
	var b bytes.Buffer
	h.WriteText(&b, "x_seconds", "How long x took.")
	const want = `# HELP x_seconds How long x took.
# TYPE x_seconds histogram
x_seconds_bucket{le="0.001"} 2
x_seconds_bucket{le="1"} 2
x_seconds_bucket{le="+Inf"} 3
x_seconds_sum 2.0015
x_seconds_count 3
`
	if got := b.String(); got != want {
		t.Errorf("WriteText:\n%s\nwant:\n%s", got, want)
	}
}
