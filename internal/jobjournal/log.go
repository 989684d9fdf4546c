// Package jobjournal records each job's life in the write-ahead journal
// (internal/journal) and, at start, folds the records back into the jobs
// they describe.
//
// A job's acceptance is durable (per -fsync) before its 201 is sent, and a
// cancel before its 200. Its start, retries and finish go out with the next
// group commit, nobody waiting: its finish only after its line was written
// to standard output, so a crash can repeat a greeting, never lose one.
package jobjournal

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"workqueue/internal/job"
	"workqueue/internal/journal"
)

// ErrJournal is why POST /work answers 503 once the journal cannot be
// written: every error the Log returns for a failed journal wraps it.
var ErrJournal = errors.New("the journal cannot be written")

// Log records each job's life in the write-ahead journal (-journal) and
// rebuilds the server's jobs from it at start. Its methods on a nil *Log
// record nothing: that is the server without -journal, whose path costs one
// nil check.
type Log struct {
	j      *journal.Journal
	dir    string // -journal
	log    *slog.Logger
	warned sync.Once // logs, once, what a failed journal means for the jobs
}

// Unrecorded says what a failed journal means for the jobs still running or
// queued: what becomes of them is no longer recorded, so the next start
// finds them as the journal last saw them, and runs them again.
const Unrecorded = "from now on no change of a job is recorded: jobs that finish now will run again at the next start, " +
	"and cancels are refused; fix the disk and restart the server"

// Open opens the journal in dir (-journal). o.Live, the store's Has, tells
// compaction which jobs are still kept; o.Logger and o.OnFsync are handed to
// the journal. The error says if the directory is in use by another
// process, or names the file and offset of damage.
func Open(dir string, o journal.Options) (*Log, error) {
	j, err := journal.Open(dir, o)
	if errors.Is(err, journal.ErrLocked) {
		return nil, fmt.Errorf("-journal %s is in use by another process: %w", dir, err)
	}
	if err != nil {
		return nil, fmt.Errorf("-journal %s: %w", dir, err)
	}
	return &Log{j: j, dir: dir, log: o.Logger}, nil
}

// Dir returns the journal's directory, as -journal named it.
func (l *Log) Dir() string { return l.dir }

// Journal returns the write-ahead journal beneath, for its counters
// (MaxKey, Bytes, Compactions, Errors).
func (l *Log) Journal() *journal.Journal { return l.j }

// record returns the journal record of type typ about r.
func record(typ byte, r *job.Job, rec *jobRecord) journal.Record {
	return journal.Record{Type: typ, Key: r.Seq, Data: appendRecord(nil, typ, rec)}
}

// acceptanceRecord returns the record of r's acceptance.
func acceptanceRecord(r *job.Job) journal.Record {
	rec := acceptance(r)
	return record(recAccepted, r, &rec)
}

// Err returns why the journal failed, wrapping ErrJournal, or nil.
func (l *Log) Err() error {
	if l == nil {
		return nil
	}
	if err := l.j.Err(); err != nil {
		l.failed()
		return fmt.Errorf("%w in %s: %v", ErrJournal, l.dir, err)
	}
	return nil
}

// failed logs, the first time the Log finds the journal failed, what that
// means for the jobs (Unrecorded).
func (l *Log) failed() {
	l.warned.Do(func() {
		if l.log != nil {
			l.log.Error("the journal cannot record the jobs' changes: "+Unrecorded, "dir", l.dir)
		}
	})
}

// Node journals node, the server's -node, and waits until it is durable.
// Call it once, on a journal whose Replay found no node and no record, before
// the first job is accepted.
func (l *Log) Node(node string) error {
	if l == nil {
		return nil
	}
	if err := l.j.Append(journal.Record{Type: recNode, Data: []byte(node)}); err != nil {
		return fmt.Errorf("%w in %s: %v", ErrJournal, l.dir, err)
	}
	return nil
}

// Accepted journals r's acceptance and waits until it is durable. An error
// means r must be refused: it will never run.
func (l *Log) Accepted(r *job.Job) error {
	if l == nil {
		return nil
	}
	if err := l.j.Append(acceptanceRecord(r)); err != nil {
		return fmt.Errorf("%w in %s: %v", ErrJournal, l.dir, err)
	}
	return nil
}

// AcceptedAll journals the acceptance of every job of rs, a batch, as one
// unit and waits until it is durable: one Append, so one group commit,
// framed as one batch with its length and checksum (internal/journal,
// doc.go), which a crash leaves on disk whole or not at all. An error means
// none must run; it wraps journal.ErrInvalid, and leaves the journal
// working, if the records exceed journal.MaxAppend bytes.
func (l *Log) AcceptedAll(rs []*job.Job) error {
	if l == nil {
		return nil
	}
	recs := make([]journal.Record, len(rs))
	for i, r := range rs {
		recs[i] = acceptanceRecord(r)
	}
	if err := l.j.Append(recs...); err != nil {
		if errors.Is(err, journal.ErrInvalid) {
			return err
		}
		return fmt.Errorf("%w in %s: %v", ErrJournal, l.dir, err)
	}
	return nil
}

// RefusedAll journals that every job of rs, a batch whose acceptance was
// journaled, was refused all the same (see Refused).
func (l *Log) RefusedAll(rs []*job.Job) {
	if l == nil {
		return
	}
	recs := make([]journal.Record, len(rs))
	for i, r := range rs {
		recs[i] = record(recRefused, r, &jobRecord{})
	}
	l.j.AppendAsync(recs...)
}

// Refused journals that r, whose acceptance was journaled, was refused all
// the same because WorkQueue was full or closed: replay forgets it.
func (l *Log) Refused(r *job.Job) {
	if l != nil {
		l.j.Append(record(recRefused, r, &jobRecord{}))
	}
}

// Started journals that r started an attempt, without waiting, and returns
// a channel that answers once the record is durable (nil without a journal).
// The worker waits on it before it writes r's greeting: a greeting that a
// crash repeats then always comes with attempts that say so.
func (l *Log) Started(r *job.Job) <-chan error {
	if l == nil {
		return nil
	}
	rec := jobRecordOf(r)
	ack := l.j.AppendAck(record(recStarted, r, &rec))
	if l.j.Err() != nil {
		l.failed()
	}
	return ack
}

// Durable waits for ack, from started, if there is one. A journal that
// failed does not stop the job: accepted jobs keep running.
func Durable(ack <-chan error) {
	if ack != nil {
		<-ack
	}
}

// Retrying journals that an attempt of r failed and r waits for another.
func (l *Log) Retrying(r *job.Job) {
	if l != nil {
		rec := jobRecordOf(r)
		if l.j.AppendAsync(record(recRetry, r, &rec)) != nil {
			l.failed()
		}
	}
}

// Retried journals that r, failed or canceled, was made to run again (POST
// /work/<id>/retry), and waits until it is durable.
func (l *Log) Retried(r *job.Job) error {
	if l == nil {
		return nil
	}
	rec := jobRecordOf(r)
	if err := l.j.Append(record(recRetried, r, &rec)); err != nil {
		l.failed()
		return fmt.Errorf("%w in %s: %v", ErrJournal, l.dir, err)
	}
	return nil
}

// Finished journals r's final state. A cancel waits until it is durable, so
// that a job answered canceled stays canceled through a crash; a done or
// failed job does not wait: at worst a crash runs it again.
func (l *Log) Finished(r *job.Job) error {
	if l == nil {
		return nil
	}
	rec := jobRecordOf(r)
	jr := record(recFinished, r, &rec)
	var err error
	if rec.State == job.Canceled {
		err = l.j.Append(jr)
	} else {
		err = l.j.AppendAsync(jr)
	}
	if err != nil {
		l.failed()
		return fmt.Errorf("%w in %s: %v", ErrJournal, l.dir, err)
	}
	return nil
}

// Close flushes what is pending and releases the journal.
func (l *Log) Close() error {
	if l == nil {
		return nil
	}
	return l.j.Close()
}

// FinishedDurable journals r's final state, as Finished does, and waits
// until it is durable whatever the state: a remote worker's done or fail is
// answered only once it is (POST /work/<id>/done).
func (l *Log) FinishedDurable(r *job.Job) error {
	if l == nil {
		return nil
	}
	rec := jobRecordOf(r)
	if err := l.j.Append(record(recFinished, r, &rec)); err != nil {
		l.failed()
		return fmt.Errorf("%w in %s: %v", ErrJournal, l.dir, err)
	}
	return nil
}
