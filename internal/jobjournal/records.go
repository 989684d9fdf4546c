package jobjournal

import (
	"encoding/binary"
	"errors"
	"time"

	"workqueue/internal/job"
)

// The types of the records the server keeps in its write-ahead journal, one
// for each step of a job's life. Each record's key is the job's sequence
// number; the journal knows nothing else of them.
const (
	recAccepted byte = 1 + iota // answered 201: name, delay, enqueued_at, idempotency key, policy
	recStarted                  // a worker started an attempt
	recRetry                    // an attempt failed and the job waits for its next one
	recFinished                 // the job reached a final state: done, canceled or failed
	recRefused                  // answered 503 after its acceptance was journaled: forget it
	recRetried                  // failed or canceled, made to run again by POST /work/<id>/retry
)

// recNode names the server's -node: its data is the name, its key 0, so
// that compaction keeps it for good. A journal has at most one, written
// before its first job; one without it is of a server without -node. Its
// number stands apart from the job records', which grow one by one.
const recNode byte = 64

// errBadRecord is a journal record the server cannot decode: the journal's
// checksum held, so it was written by another version or is damage.
var errBadRecord = errors.New("journal record cannot be decoded")

// jobRecord is the content of one journal record about a job. Which fields
// a record carries depends on its type:
//   - recAccepted: Name, Delay, EnqueuedAt, Key, and Policy if it is not
//     the zero Policy (written at the end, so records from before it, which
//     lack it, still decode);
//   - recStarted: Attempts (the attempt that started), Worker, StartedAt;
//   - recRetry: Attempts, RetryAt, Err;
//   - recFinished: State, Attempts, Worker, StartedAt, FinishedAt, Err,
//     Output, Truncated;
//   - recRefused: nothing;
//   - recRetried: Attempts (its retries count from there).
type jobRecord struct {
	Name       string
	Delay      time.Duration
	EnqueuedAt time.Time
	Key        string     // idempotency key, or ""
	Policy     job.Policy // the job's own retries and timeout
	State      job.State
	Attempts   int
	Worker     int
	StartedAt  time.Time
	FinishedAt time.Time
	RetryAt    time.Time
	Err        string
	Output     string
	Truncated  bool
}

// appendRecord appends the encoding of rec, a record of type typ, to b. Each
// field is a varint, or a varint length and that many bytes, in the order the
// type's fields are listed on jobRecord; times are Unix nanoseconds, zero for
// the zero time.
func appendRecord(b []byte, typ byte, rec *jobRecord) []byte {
	switch typ {
	case recAccepted:
		b = appendString(b, rec.Name)
		b = binary.AppendVarint(b, int64(rec.Delay))
		b = appendTime(b, rec.EnqueuedAt)
		b = appendString(b, rec.Key)
		if rec.Policy != (job.Policy{}) {
			r := uint64(0) // retries + 1, or 0 for none given
			if rec.Policy.SetRetries {
				r = uint64(rec.Policy.Retries) + 1
			}
			b = binary.AppendUvarint(b, r)
			b = binary.AppendVarint(b, int64(rec.Policy.Timeout))
		}
	case recStarted:
		b = binary.AppendUvarint(b, uint64(rec.Attempts))
		b = binary.AppendUvarint(b, uint64(rec.Worker))
		b = appendTime(b, rec.StartedAt)
	case recRetry:
		b = binary.AppendUvarint(b, uint64(rec.Attempts))
		b = appendTime(b, rec.RetryAt)
		b = appendString(b, rec.Err)
	case recFinished:
		b = binary.AppendUvarint(b, uint64(rec.State))
		b = binary.AppendUvarint(b, uint64(rec.Attempts))
		b = binary.AppendUvarint(b, uint64(rec.Worker))
		b = appendTime(b, rec.StartedAt)
		b = appendTime(b, rec.FinishedAt)
		b = appendString(b, rec.Err)
		b = appendString(b, rec.Output)
		t := uint64(0)
		if rec.Truncated {
			t = 1
		}
		b = binary.AppendUvarint(b, t)
	case recRefused:
	case recRetried:
		b = binary.AppendUvarint(b, uint64(rec.Attempts))
	}
	return b
}

// decodeRecord decodes the data of a record of type typ. It returns
// errBadRecord for an unknown type, a short or overlong record, or a field
// out of range; it never panics.
func decodeRecord(typ byte, data []byte) (jobRecord, error) {
	d := recordDecoder{b: data}
	var rec jobRecord
	switch typ {
	case recAccepted:
		rec.Name = d.string()
		rec.Delay = time.Duration(d.varint())
		rec.EnqueuedAt = d.time()
		rec.Key = d.string()
		if len(d.b) > 0 { // a policy, since it was journaled
			if r := d.count(); r > 0 {
				rec.Policy.Retries, rec.Policy.SetRetries = r-1, true
			}
			rec.Policy.Timeout = time.Duration(d.varint())
			if rec.Policy.Timeout < 0 || rec.Policy == (job.Policy{}) {
				d.bad = true // written only when not zero
			}
		}
	case recStarted:
		rec.Attempts = d.count()
		rec.Worker = d.count()
		rec.StartedAt = d.time()
	case recRetry:
		rec.Attempts = d.count()
		rec.RetryAt = d.time()
		rec.Err = d.string()
	case recFinished:
		rec.State = job.State(d.uvarint())
		rec.Attempts = d.count()
		rec.Worker = d.count()
		rec.StartedAt = d.time()
		rec.FinishedAt = d.time()
		rec.Err = d.string()
		rec.Output = d.string()
		rec.Truncated = d.uvarint() == 1
		if !rec.State.Final() || rec.State > job.Failed {
			d.bad = true
		}
	case recRefused:
	case recRetried:
		rec.Attempts = d.count()
	default:
		d.bad = true
	}
	if d.bad || len(d.b) != 0 {
		return jobRecord{}, errBadRecord
	}
	return rec, nil
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return binary.AppendVarint(b, 0)
	}
	return binary.AppendVarint(b, t.UnixNano())
}

// recordDecoder reads the fields of a record, remembering the first error
// so that a caller checks once at the end.
type recordDecoder struct {
	b   []byte
	bad bool
}

func (d *recordDecoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.bad, d.b = true, nil
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *recordDecoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.bad, d.b = true, nil
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads a small non-negative number: an attempt or a worker's number.
func (d *recordDecoder) count() int {
	v := d.uvarint()
	if v > 1<<30 {
		d.bad = true
		return 0
	}
	return int(v)
}

func (d *recordDecoder) time() time.Time {
	ns := d.varint()
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

func (d *recordDecoder) string() string {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.bad, d.b = true, nil
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

// jobRecordOf returns r's life as a journal record holds it.
func jobRecordOf(r *job.Job) jobRecord {
	st := r.Status()
	return jobRecord{State: st.State, Attempts: int(st.Attempts), Worker: int(st.Worker),
		StartedAt: job.UTC(st.StartedAt), FinishedAt: job.UTC(st.FinishedAt), RetryAt: job.UTC(st.RetryAt),
		Err: st.Err, Output: st.Output, Truncated: st.Truncated}
}

// restore applies a record of type typ, other than recAccepted, to st, a
// job's status as the records before it left it, while the journal is
// replayed.
func restore(st *job.Status, typ byte, rec *jobRecord) {
	st.Attempts, st.Err = int32(rec.Attempts), rec.Err
	switch typ {
	case recStarted:
		st.State, st.Worker, st.StartedAt = job.Running, int32(rec.Worker), job.UnixNano(rec.StartedAt)
	case recRetry:
		st.State, st.RetryAt = job.Queued, job.UnixNano(rec.RetryAt)
		st.Output, st.Truncated = rec.Output, rec.Truncated // the failed attempt's
	case recRetried:
		st.State, st.Worker, st.Base = job.Queued, 0, int32(rec.Attempts)
		st.StartedAt, st.FinishedAt, st.RetryAt = 0, 0, 0
	case recFinished:
		st.State, st.Worker = rec.State, int32(rec.Worker)
		st.StartedAt, st.FinishedAt = job.UnixNano(rec.StartedAt), job.UnixNano(rec.FinishedAt)
		st.Output, st.Truncated = rec.Output, rec.Truncated
	}
}

// TypeAccepted is the type byte of a job's acceptance record, the first of
// its records: a tool that cuts a journal by hand finds each job's start by
// it (its key is the job's number).
const TypeAccepted = recAccepted

// recordFrame is the bytes the journal adds to each record's data: a 4-byte
// length, a 4-byte CRC, a type byte and an 8-byte key (internal/journal).
const recordFrame = 4 + 4 + 1 + 8

// Footprint returns about how many bytes of the journal r's records take
// now, each with its frame: its acceptance, its last start if it started,
// its finish if it finished. It is what a compaction must keep of a job the
// store keeps, and so what bounds the journal's size.
func Footprint(r *job.Job) int64 {
	rec := jobRecordOf(r)
	acc := jobRecord{Name: r.Name, Delay: r.Delay, EnqueuedAt: r.EnqueuedAt, Key: r.Key, Policy: r.Policy}
	buf := appendRecord(nil, recAccepted, &acc)
	n := int64(recordFrame + len(buf))
	if rec.State != job.Queued {
		buf = appendRecord(buf[:0], recStarted, &rec)
		n += int64(recordFrame + len(buf))
	}
	if rec.State.Final() {
		buf = appendRecord(buf[:0], recFinished, &rec)
		n += int64(recordFrame + len(buf))
	}
	return n
}
