package journal

import (
	"errors"
	"fmt"
	"syscall"
	"time"
)

// unlinkedCheck is how often, under SyncNever (no fsync to check after), the
// writer checks that the segment it wrote to since is still linked.
const unlinkedCheck = time.Second

// maxBatch is how many bytes of waiting requests one group commit takes at
// most, or SegmentBytes if smaller (it may exceed this by its last request).
const maxBatch = 4 << 20

// request is one Append or AppendAsync call waiting for the writer.
type request struct {
	buf    []byte     // batchHeaderSize bytes of room, then the call's records, framed, in order
	maxKey uint64     // the largest key among them
	done   chan error // buffered 1: the outcome; nil for AppendAsync
}

// Append writes recs to the journal, contiguously and in order, and returns
// once they are durable as the Sync policy says: written and fsynced under
// SyncAlways, written otherwise. Concurrent calls share one write and one
// fsync (group commit). It fails with ErrInvalid for bad records, ErrClosed
// after Close, and an error wrapping ErrFailed once a write or fsync failed.
// If Append fails, a prefix of recs may still be found on disk at the next
// Open.
func (j *Journal) Append(recs ...Record) error {
	done := make(chan error, 1)
	if err := j.enqueue(recs, done); err != nil {
		return err
	}
	return <-done
}

// AppendAsync queues recs for the next group commit and returns at once,
// without waiting for them to be written: for records whose durability no
// one waits on. It returns an error only if it refused them (as Append
// would); a later write or fsync failure fails the journal (see Err).
func (j *Journal) AppendAsync(recs ...Record) error {
	return j.enqueue(recs, nil)
}

// AppendAck queues recs like AppendAsync, without waiting, and returns a
// channel that receives their outcome once they are durable as Append would
// wait for (or at once, if they were refused): a caller can do other work
// while its records are flushed, and wait only when it must.
func (j *Journal) AppendAck(recs ...Record) <-chan error {
	done := make(chan error, 1)
	if err := j.enqueue(recs, done); err != nil {
		done <- err
	}
	return done
}

// enqueue checks and frames recs and hands them to the writer.
func (j *Journal) enqueue(recs []Record, done chan error) error {
	size := 0
	var maxKey uint64
	for _, r := range recs {
		if err := checkRecord(r); err != nil {
			return err
		}
		size += encodedSize(r)
		maxKey = max(maxKey, r.Key)
	}
	if size > MaxAppend {
		return fmt.Errorf("%w: %d bytes in one call (at most %d)", ErrInvalid, size, MaxAppend)
	}
	buf := make([]byte, batchHeaderSize, batchHeaderSize+size) // room for the batch header
	for _, r := range recs {
		buf = appendRecord(buf, r)
	}
	j.started.Store(true)
	j.mu.RLock()
	defer j.mu.RUnlock()
	if j.closed {
		return ErrClosed
	}
	if err := j.Err(); err != nil {
		return err
	}
	if len(recs) == 0 {
		if done != nil {
			done <- nil
		}
		return nil
	}
	j.reqs <- request{buf: buf, maxKey: maxKey, done: done}
	if j.o.enqueued != nil {
		j.o.enqueued()
	}
	return nil
}

// writeLoop is the writer goroutine: it commits batches of requests until
// Close closes reqs, fsyncing on a ticker under SyncEvery, then flushes and
// closes the segment.
func (j *Journal) writeLoop() {
	defer close(j.writerDone)
	var tick <-chan time.Time
	switch {
	case j.o.Sync > 0:
		t := time.NewTicker(time.Duration(j.o.Sync))
		defer t.Stop()
		tick = t.C
	case j.o.Sync == SyncNever:
		t := time.NewTicker(unlinkedCheck)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case r, ok := <-j.reqs:
			if !ok {
				j.closeSegment()
				return
			}
			batch, open := j.gather(r)
			j.commit(batch)
			if !open {
				j.closeSegment()
				return
			}
		case <-tick:
			switch {
			case j.Err() != nil:
			case j.o.Sync == SyncNever && j.unchecked:
				j.checkLinked()
			case j.o.Sync != SyncNever && j.dirty:
				j.fsync()
			}
		}
	}
}

// gather returns first and every request waiting after it, up to maxBatch
// bytes; open is false if reqs was found closed.
func (j *Journal) gather(first request) (batch []request, open bool) {
	batch = append(batch, first)
	size, limit := len(first.buf)-batchHeaderSize, min(maxBatch, int(j.o.SegmentBytes))
	for size < limit {
		select {
		case r, ok := <-j.reqs:
			if !ok {
				return batch, false
			}
			batch = append(batch, r)
			size += len(r.buf) - batchHeaderSize
		default:
			return batch, true
		}
	}
	return batch, true
}

// commit writes batch with one write and, under SyncAlways, one fsync, then
// answers every waiter. No lock is held meanwhile.
func (j *Journal) commit(batch []request) {
	err := j.Err()
	if err == nil {
		err = j.writeBatch(batch)
	}
	for _, r := range batch {
		if r.done != nil {
			r.done <- err
		}
	}
}

// writeBatch writes batch to the segment as one batch (doc.go, "Batches"),
// starting a new segment first if this one is full, and fsyncs under
// SyncAlways.
func (j *Journal) writeBatch(batch []request) error {
	buf := batch[0].buf // a lone request's room for the header saves a copy
	if len(batch) > 1 {
		n := batchHeaderSize
		for _, r := range batch {
			n += len(r.buf) - batchHeaderSize
		}
		buf = make([]byte, batchHeaderSize, n)
		for _, r := range batch {
			buf = append(buf, r.buf[batchHeaderSize:]...)
		}
	}
	if j.seg == nil || (j.segSize > headerSize && j.segSize+int64(len(buf)) > j.o.SegmentBytes) {
		if err := j.roll(); err != nil {
			return j.fail(err)
		}
	}
	putBatchHeader(buf, j.segSize, j.syncedTo, j.segSalt)
	for _, r := range batch {
		j.segMaxKey = max(j.segMaxKey, r.maxKey)
		if r.maxKey > j.maxKey.Load() {
			j.maxKey.Store(r.maxKey) // only the writer stores
		}
	}
	before := j.segSize
	n, err := j.seg.Write(buf)
	j.segSize += int64(n)
	j.bytes.Add(int64(n))
	if err != nil {
		err = j.fail(err)
	} else {
		j.dirty, j.unchecked = true, true
		if j.o.Sync == SyncAlways {
			err = j.fsync()
		}
	}
	if err != nil {
		j.cutFailed(before)
	}
	return err
}

// cutFailed truncates the segment back to size, its size before a batch
// whose write or fsync failed. Every caller of that batch is told it failed
// (the server answers 503: the job never runs), so the next Open must find
// none of its records, not even those a short write put on disk whole, or
// those an fsync did not confirm. If the truncate fails too, it logs that
// the batch's records may be replayed.
func (j *Journal) cutFailed(size int64) {
	if err := j.seg.Truncate(size); err != nil {
		j.log.Error("journal: cannot cut off a failed write; its records may be replayed at the next start",
			"file", j.segName, "offset", size, "err", err)
		return
	}
	j.bytes.Add(size - j.segSize)
	j.segSize = size
}

// fsync flushes the segment to disk, reporting its latency to OnFsync, then
// checks that the segment is still linked in the directory; a failure fails
// the journal, and no fsync is ever retried after one.
func (j *Journal) fsync() error {
	start := time.Now()
	err := j.seg.Sync()
	if j.o.OnFsync != nil {
		j.o.OnFsync(time.Since(start))
	}
	if err != nil {
		return j.fail(err)
	}
	if j.o.synced != nil { // no path built on the hot path
		j.synced(path(j.dir, j.segName))
	}
	j.dirty, j.syncedTo = false, j.segSize
	return j.checkLinked()
}

// errRemoved means the segment being appended to was removed from the
// directory while open (rm -rf of the journal's directory): what is written
// to it can be fsynced but will never be found by the next Open.
var errRemoved = errors.New("the segment was removed from the journal's directory while open (rm of its files?): records written to it would be lost")

// checkLinked fails the journal if the segment it appends to no longer has
// a name (its link count is 0): an unlinked file takes writes and fsyncs
// without error, so without this a removed directory would go on being
// acknowledged. It costs one fstat(2); the writer calls it after each fsync
// of the segment and, under SyncNever, every unlinkedCheck.
func (j *Journal) checkLinked() error {
	j.unchecked = false
	fi, err := j.seg.Stat()
	if err != nil {
		return j.fail(fmt.Errorf("%s: %w", path(j.dir, j.segName), err))
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Nlink == 0 {
		return j.fail(fmt.Errorf("%s: %w", path(j.dir, j.segName), errRemoved))
	}
	return nil
}

// closeSegment fsyncs (unless the journal failed) and closes the segment.
func (j *Journal) closeSegment() {
	if j.seg == nil {
		return
	}
	if j.dirty && j.Err() == nil {
		j.fsync()
	}
	if err := j.seg.Close(); err != nil && j.Err() == nil {
		j.fail(err)
	}
	j.seg = nil
}
