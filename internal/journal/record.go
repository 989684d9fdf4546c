package journal

import "errors"

// MaxData is the largest payload a Record may carry, in bytes (1 MiB).
const MaxData = 1 << 20

// MaxAppend is the most bytes the records of one Append call may take in a
// file, framing included (2 MiB).
const MaxAppend = 2 << 20

// Record is one entry of the journal. Its fields mean what the owner says;
// the journal only frames, checks and compacts them.
type Record struct {
	Type byte   // owner-defined, 1..255; 0 is refused
	Key  uint64 // owner-defined; compaction keeps a record while its key is 0 or live
	Data []byte // owner-defined payload, at most MaxData bytes
}

// Errors returned by the journal, to be tested with errors.Is.
var (
	// ErrLocked means another open journal (in this process or another)
	// holds the directory's lock.
	ErrLocked = errors.New("journal directory is in use by another process")
	// ErrCorrupt means a file holds damage that is not a torn tail; the
	// journal refused to open and changed nothing on disk.
	ErrCorrupt = errors.New("journal is damaged")
	// ErrFailed means a write or an fsync failed; the journal takes no
	// more records until it is opened again.
	ErrFailed = errors.New("journal failed")
	// ErrClosed means the journal was closed.
	ErrClosed = errors.New("journal closed")
	// ErrInvalid means records were refused: type 0, data over MaxData, or
	// more than MaxAppend bytes in one call.
	ErrInvalid = errors.New("invalid journal record")
)
