package metrics

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"sync/atomic"
	"time"
)

// Histogram counts durations in buckets, for a Prometheus histogram. It is
// safe for concurrent use.
type Histogram struct {
	bounds []time.Duration // upper bounds of the buckets, ascending; never changed
	counts []atomic.Int64  // counts[i]: observations in (bounds[i-1], bounds[i]]; the last is above every bound
	sum    atomic.Int64    // of all observations, in nanoseconds
}

// newHistogram returns a Histogram with buckets up to the given bounds,
// which must be ascending, and one above them all.
func newHistogram(bounds ...time.Duration) *Histogram {
	return &Histogram{bounds: bounds, counts: make([]atomic.Int64, len(bounds)+1)}
}

// Observe counts d.
func (h *Histogram) Observe(d time.Duration) {
	i, _ := slices.BinarySearch(h.bounds, d)
	h.counts[i].Add(1)
	h.sum.Add(int64(d))
}

// WriteText writes h in the Prometheus text format as the histogram family
// name, with help as its HELP line: a cumulative _bucket sample per bound,
// its le in seconds, then +Inf, _sum in seconds and _count.
func (h *Histogram) WriteText(b *bytes.Buffer, name, help string) {
	Family(b, name, "histogram", help)
	var cumulative int64
	for i := range h.counts {
		cumulative += h.counts[i].Load()
		le := "+Inf"
		if i < len(h.bounds) {
			le = strconv.FormatFloat(h.bounds[i].Seconds(), 'g', -1, 64)
		}
		Sample(b, name+"_bucket", `le="`+le+`"`, cumulative)
	}
	fmt.Fprintf(b, "%s_sum %s\n", name, strconv.FormatFloat(time.Duration(h.sum.Load()).Seconds(), 'g', -1, 64))
	Sample(b, name+"_count", "", cumulative)
}
