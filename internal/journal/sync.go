package journal

import (
	"fmt"
	"time"
)

// Sync is the fsync policy of a journal: when an appended record is flushed
// from the operating system's cache to the disk (SPEC.md, the -fsync flag).
type Sync time.Duration

const (
	// SyncAlways flushes every group commit before Append returns: a record
	// whose Append returned survives a crash or a power cut.
	SyncAlways Sync = 0
	// SyncNever leaves flushing to the operating system: Append returns once
	// the record is written; a power cut may lose what was not yet flushed.
	SyncNever Sync = -1
)

// SyncEvery returns the policy that writes at once and flushes at least every
// d (d > 0): a power cut may lose the last d of appends.
func SyncEvery(d time.Duration) Sync { return Sync(d) }

// ParseSync parses an fsync policy: "always", "never" or a Go duration above
// zero such as "50ms".
func ParseSync(s string) (Sync, error) {
	switch s {
	case "always":
		return SyncAlways, nil
	case "never":
		return SyncNever, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf(`fsync policy %q: want "always", "never" or a duration above zero such as "50ms"`, s)
	}
	return SyncEvery(d), nil
}

// String returns the policy as ParseSync accepts it.
func (s Sync) String() string {
	switch {
	case s == SyncAlways:
		return "always"
	case s < 0:
		return "never"
	}
	return time.Duration(s).String()
}
