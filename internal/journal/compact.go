package journal

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"
)

// errStopped means a test's stopAt hook stopped a compaction.
var errStopped = errors.New("compaction stopped by test hook")

// compactLoop is the compactor goroutine: it compacts each time the writer
// asks, until Close closes quit.
func (j *Journal) compactLoop() {
	defer close(j.compDone)
	for {
		select {
		case <-j.kick:
			j.compact()
		case <-j.quit:
			return
		}
	}
}

// compact rewrites the snap file and the sealed segments into a new snap
// file, keeping the records whose key is 0 or live (doc.go, "Compaction").
func (j *Journal) compact() {
	defer func() {
		j.fmu.Lock()
		j.compacting = false
		j.compactEnd.Broadcast()
		j.fmu.Unlock()
	}()
	j.fmu.Lock()
	var inputs []checkedFile
	if j.snap != nil {
		inputs = append(inputs, *j.snap)
	}
	n := len(j.sealed)
	inputs = append(inputs, j.sealed...)
	j.fmu.Unlock()
	if n == 0 || j.Err() != nil {
		return
	}
	if err := covers(inputs); err != nil {
		j.fail(fmt.Errorf("compaction: %w", err))
		return
	}
	out, err := j.rewrite(inputs)
	if errors.Is(err, errStopped) {
		j.fmu.Lock()
		j.stopped = true // as after a crash: nothing more happens
		j.fmu.Unlock()
		return
	}
	if err != nil {
		j.fail(fmt.Errorf("compaction: %w", err))
		return
	}
	j.fmu.Lock()
	j.snap = &out
	j.sealed = j.sealed[n:]
	j.fmu.Unlock()
	j.compactions.Add(1)
}

// covers checks that inputs are what a compaction may replace: at most one
// snap file, first, then segments in increasing order above it. The new snap
// file's name claims every segment up to the last input, and the next Open
// removes those as leftovers, so an input list that is anything else would
// delete records the compaction never read.
func covers(inputs []checkedFile) error {
	var prev uint64
	for i, in := range inputs {
		switch {
		case in.kind == kindSnap && i != 0:
			return fmt.Errorf("%s: a snap file after the first input", in.name)
		case in.kind != kindSnap && in.kind != kindSegment:
			return fmt.Errorf("%s: unknown file kind %d", in.name, in.kind)
		case i > 0 && in.seq <= prev:
			return fmt.Errorf("%s: not above %d", in.name, prev)
		}
		prev = in.seq
	}
	return nil
}

// rewrite performs the steps of a compaction of inputs, the last of which is
// a segment numbered N: write and fsync snap-N.wqj.tmp, rename it to
// snap-N.wqj, fsync the directory, remove the inputs. It returns the new file.
func (j *Journal) rewrite(inputs []checkedFile) (checkedFile, error) {
	last := inputs[len(inputs)-1]
	out := checkedFile{name: snapName(last.seq), kind: kindSnap, seq: last.seq}
	for _, in := range inputs {
		out.maxKey = max(out.maxKey, in.maxKey)
	}
	tmp := out.name + tmpSuffix
	size, err := j.writeSnap(tmp, inputs, out.maxKey)
	out.size = size
	if err != nil {
		return out, err
	}
	if err := j.step("renamed", os.Rename(path(j.dir, tmp), path(j.dir, out.name))); err != nil {
		return out, err
	}
	if err := j.step("dir-synced", j.syncDir()); err != nil {
		return out, err
	}
	for i, in := range inputs {
		if err := os.Remove(path(j.dir, in.name)); err != nil {
			return out, err
		}
		j.bytes.Add(-in.size)
		if err := j.step(fmt.Sprintf("removed-%d", i), nil); err != nil {
			return out, err
		}
	}
	return out, j.syncDir()
}

// step returns err, or errStopped if the test hook stops the compaction
// after the step named: "tmp-written", "tmp-synced", "renamed", "dir-synced",
// "removed-0", "removed-1", ...
func (j *Journal) step(name string, err error) error {
	if err == nil && j.o.stopAt != nil && j.o.stopAt(name) {
		return errStopped
	}
	return err
}

// snapBatch is the size past which writeSnap ends a batch of a snap file.
const snapBatch = 256 << 10

// writeSnap writes the kept records of inputs to the new file tmp, after a
// header with the base max key, in batches of about snapBatch bytes, and
// fsyncs it. It returns the file's size.
func (j *Journal) writeSnap(tmp string, inputs []checkedFile, maxKey uint64) (int64, error) {
	f, err := os.OpenFile(path(j.dir, tmp), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return 0, err
	}
	cw := &countingWriter{f: f, total: &j.bytes}
	salt := newSalt()
	_, err = cw.Write(appendHeader(nil, kindSnap, maxKey, salt))
	batch := make([]byte, batchHeaderSize, batchHeaderSize+snapBatch)
	flush := func() error {
		if len(batch) == batchHeaderSize {
			return nil
		}
		// synced 0: a snap file is never the last file, never torn.
		putBatchHeader(batch, cw.n, 0, salt)
		_, err := cw.Write(batch)
		batch = batch[:batchHeaderSize]
		return err
	}
	for _, in := range inputs {
		if err != nil {
			break
		}
		err = j.copyLive(in, func(r Record) error {
			batch = appendRecord(batch, r)
			if len(batch) < batchHeaderSize+snapBatch {
				return nil
			}
			return flush()
		})
	}
	if err == nil {
		err = j.step("tmp-written", flush())
	}
	if err == nil {
		if err = f.Sync(); err == nil {
			j.synced(path(j.dir, tmp))
		}
		err = j.step("tmp-synced", err)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil && !errors.Is(err, errStopped) {
		os.Remove(path(j.dir, tmp))
		j.bytes.Add(-cw.n)
	}
	return cw.n, err
}

// copyLive calls keep with each record of in whose key is 0 or live.
func (j *Journal) copyLive(in checkedFile, keep func(Record) error) error {
	b, err := os.ReadFile(path(j.dir, in.name))
	if err != nil {
		return err
	}
	if int64(len(b)) < in.size {
		return fmt.Errorf("%s: shorter than the %d bytes written", in.name, in.size)
	}
	end, err := walkFile(b[:in.size], func(r Record) error {
		if r.Key != 0 && !j.o.Live(r.Key) {
			return nil
		}
		return keep(r)
	})
	if err == nil && end != int(in.size) {
		err = fmt.Errorf("%s: bad record or batch at offset %d", in.name, end)
	}
	return err
}

// countingWriter writes to f, adding every byte written to n and total.
type countingWriter struct {
	f     *os.File
	n     int64
	total *atomic.Int64
}

// Write writes b to the file and counts what was written.
func (c *countingWriter) Write(b []byte) (int, error) {
	n, err := c.f.Write(b)
	c.n += int64(n)
	c.total.Add(int64(n))
	return n, err
}
