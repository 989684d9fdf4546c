package journal

import (
	"os"
)

// roll seals the segment being appended to, if any, and starts the next one:
// its header is written and fsynced (under every policy: a bad header is
// then damage whatever follows it), then the directory is fsynced (unless
// the policy is SyncNever), so that no record goes into a file a power cut
// could lose. It runs on the writer.
func (j *Journal) roll() error {
	if j.seg != nil {
		if j.dirty { // even under SyncNever: only the last file may be torn
			if err := j.fsync(); err != nil {
				return err
			}
		}
		if err := j.seg.Close(); err != nil {
			return err
		}
		j.seg = nil
		j.seal(checkedFile{name: j.segName, kind: kindSegment, seq: j.nextSeq - 1, size: j.segSize, maxKey: j.segMaxKey})
	}
	seq := j.nextSeq
	j.nextSeq++
	name := segName(seq)
	f, err := os.OpenFile(path(j.dir, name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	var sf segmentFile = f
	if j.o.wrap != nil {
		sf = j.o.wrap(f)
	}
	base, salt := j.maxKey.Load(), newSalt()
	n, err := sf.Write(appendHeader(nil, kindSegment, base, salt))
	j.bytes.Add(int64(n))
	if err == nil {
		if err = sf.Sync(); err == nil {
			j.synced(path(j.dir, name))
		}
	}
	if err == nil && j.o.Sync != SyncNever {
		err = j.syncDir()
	}
	if err != nil {
		sf.Close()
		return err
	}
	j.seg, j.segName, j.segSize, j.segMaxKey, j.segSalt = sf, name, headerSize, base, salt
	j.dirty, j.syncedTo = false, headerSize
	return nil
}

// seal adds c to the sealed segments, asks for a compaction once those not
// yet compacted hold 2 × SegmentBytes, and waits for the compaction in
// progress while they hold 3 × SegmentBytes, which bounds the journal's size.
func (j *Journal) seal(c checkedFile) {
	j.fmu.Lock()
	defer j.fmu.Unlock()
	j.sealed = append(j.sealed, c)
	for {
		var waiting int64
		for _, s := range j.sealed {
			waiting += s.size
		}
		if !j.compacting && !j.stopped && j.o.Live != nil && waiting >= 2*j.o.SegmentBytes && j.Err() == nil {
			j.compacting = true
			j.kick <- struct{}{} // never blocks: empty while compacting is false
		}
		if !j.compacting || waiting < 3*j.o.SegmentBytes {
			return
		}
		j.compactEnd.Wait()
	}
}
