package journal

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultSegmentBytes is the size past which a segment is sealed and a new one
// started, when Options.SegmentBytes is 0.
const DefaultSegmentBytes = 2 << 20

// Options configure a Journal. The zero value is valid: SyncAlways, no
// compaction (every record is kept), logs discarded.
type Options struct {
	// Sync is the fsync policy.
	Sync Sync
	// Live reports whether the records of key must still be kept; records
	// with key 0 are always kept. It is called from the compaction
	// goroutine, so it must be safe for concurrent use. Once it answers
	// false for a key it must never answer true again. Nil: no compaction.
	Live func(key uint64) bool
	// Logger receives the warnings (a torn tail cut) and the one error
	// logged when the journal fails. Nil: logs are discarded.
	Logger *slog.Logger
	// OnFsync, if not nil, is called by the writer after each fsync of a
	// segment with how long it took.
	OnFsync func(time.Duration)
	// SegmentBytes is the size in bytes past which the writer starts a new
	// segment; 0 means DefaultSegmentBytes.
	SegmentBytes int64

	// wrap, if not nil, wraps each new segment file (tests inject faults).
	wrap func(*os.File) segmentFile
	// stopAt, if not nil, is called after each step of a compaction; true
	// stops the compaction there, leaving its files as a crash would.
	stopAt func(step string) bool
	// enqueued, if not nil, is called after each request reaches the writer's
	// queue (tests use it to know who is waiting).
	enqueued func()
	// synced, if not nil, is called with the path of each file or directory
	// after the journal fsynced it (tests check what is made durable, and
	// in which order). It may be called from the writer, the compactor and
	// Open, so it must be safe for concurrent use.
	synced func(path string)
}

// segmentFile is what the writer needs of the segment it appends to.
type segmentFile interface {
	Write(b []byte) (int, error)
	Sync() error
	Truncate(size int64) error
	Stat() (os.FileInfo, error)
	Close() error
}

// Journal is an open write-ahead journal. Its methods are safe for concurrent
// use, except that Replay must return before the first Append.
type Journal struct {
	dir  string
	o    Options
	log  *slog.Logger
	lock *os.File // holds the directory's flock; closed by Close

	mu     sync.RWMutex // guards closed and every send on reqs
	closed bool
	reqs   chan request // group commit requests; closed by Close, read by the writer

	errMu sync.Mutex // guards err
	err   error      // the first write or fsync error, wrapping ErrFailed

	files    []checkedFile // the files Open found, in replay order
	started  atomic.Bool   // set by the first Append
	replayed atomic.Bool   // set by the first Replay

	maxKey      atomic.Uint64 // the largest key ever appended
	bytes       atomic.Int64  // bytes of every journal file on disk
	compactions atomic.Int64  // compactions completed
	errs        atomic.Int64  // write, fsync and compaction errors

	fmu        sync.Mutex    // guards snap, sealed and compacting
	compactEnd *sync.Cond    // on fmu: broadcast when compacting turns false
	snap       *checkedFile  // the current snap file, if any
	sealed     []checkedFile // sealed segments not yet compacted, in order
	compacting bool          // a compaction was asked for and has not ended
	stopped    bool          // a test hook stopped a compaction: no more

	seg        segmentFile   // the segment being appended to; writer-owned
	segSize    int64         // bytes in seg; writer-owned
	segMaxKey  uint64        // the largest key in seg; writer-owned
	segName    string        // seg's file name; writer-owned
	segSalt    uint64        // seg's salt, in its header and each batch header's CRC; writer-owned
	syncedTo   int64         // seg was fsynced up to this offset; writer-owned
	nextSeq    uint64        // the number of the next segment; writer-owned
	dirty      bool          // seg has writes not yet fsynced; writer-owned
	unchecked  bool          // seg has writes since checkLinked; writer-owned
	kick       chan struct{} // buffer 1: the writer asks for a compaction
	quit       chan struct{} // closed by Close: the compactor stops
	writerDone chan struct{} // closed by the writer when it ends
	compDone   chan struct{} // closed by the compactor when it ends
}

// MaxKey returns the largest key ever appended to the journal, across
// compactions and restarts.
func (j *Journal) MaxKey() uint64 { return j.maxKey.Load() }

// Bytes returns the size in bytes of every journal file on disk now.
func (j *Journal) Bytes() int64 { return j.bytes.Load() }

// Compactions returns how many compactions have completed since Open.
func (j *Journal) Compactions() int64 { return j.compactions.Load() }

// Errors returns how many write, fsync and compaction errors occurred since
// Open (the first one fails the journal).
func (j *Journal) Errors() int64 { return j.errs.Load() }

// Err returns nil, or the error (wrapping ErrFailed) that failed the journal.
func (j *Journal) Err() error {
	j.errMu.Lock()
	defer j.errMu.Unlock()
	return j.err
}

// fail puts the journal in its failed state, once: it records err, counts it
// and logs it. It returns the journal's error.
func (j *Journal) fail(err error) error {
	j.errMu.Lock()
	defer j.errMu.Unlock()
	if errors.Is(err, ErrFailed) {
		return j.err // already failed, counted and logged
	}
	j.errs.Add(1)
	if j.err == nil {
		j.err = fmt.Errorf("%w: %w", ErrFailed, err)
		j.log.Error("journal failed; it takes no more records until restarted", "dir", j.dir, "err", err)
	}
	return j.err
}

// Close writes and fsyncs what is waiting, stops the compactor (after the
// compaction in progress, if any), closes the files and releases the lock.
// Appends after Close fail with ErrClosed. It returns the journal's error.
func (j *Journal) Close() error {
	j.mu.Lock()
	if j.closed {
		j.mu.Unlock()
		return ErrClosed
	}
	j.closed = true
	close(j.reqs)
	j.mu.Unlock()
	<-j.writerDone
	close(j.quit)
	<-j.compDone
	return errors.Join(j.Err(), j.lock.Close())
}
