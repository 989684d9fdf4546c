package main

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"

	"workqueue/internal/config"
	"workqueue/internal/job"
	"workqueue/internal/journal"
	"workqueue/internal/metrics"
)

// errJournal is why POST /work answers 503 once the journal cannot be
// written (SPEC.md, "The journal": disk errors).
var errJournal = errors.New("the journal cannot be written")

// jobJournal records each job's life in the write-ahead journal (-journal)
// and rebuilds the server's jobs from it at start. Its methods on a nil
// *jobJournal record nothing: that is the server without -journal, whose
// path costs one nil check.
//
// A job's acceptance is durable (per -fsync) before its 201 is sent, and a
// cancel before its 200. Its start, retries and finish go out with the next
// group commit, nobody waiting: its finish only after its line was written
// to standard output, so a crash can repeat a greeting, never lose one.
type jobJournal struct {
	j   *journal.Journal
	dir string // -journal
	log *slog.Logger
}

// openJournal opens the journal in cfg.JournalDir for s, whose store tells
// compaction which jobs are still kept. The error says if the directory is
// in use by another process, or names the file and offset of damage.
func openJournal(cfg config.Config, s *server) (*jobJournal, error) {
	j, err := journal.Open(cfg.JournalDir, journal.Options{
		Sync:    cfg.Fsync,
		Live:    s.jobs.Has,
		Logger:  s.log,
		OnFsync: s.stats.Fsync.Observe,
	})
	if errors.Is(err, journal.ErrLocked) {
		return nil, fmt.Errorf("-journal %s is in use by another process: %w", cfg.JournalDir, err)
	}
	if err != nil {
		return nil, fmt.Errorf("-journal %s: %w", cfg.JournalDir, err)
	}
	return &jobJournal{j: j, dir: cfg.JournalDir, log: s.log}, nil
}

// record returns the journal record of type typ about r.
func record(typ byte, r *WorkRequest, rec *jobRecord) journal.Record {
	return journal.Record{Type: typ, Key: r.Seq, Data: appendRecord(nil, typ, rec)}
}

// err returns why the journal failed, wrapping errJournal, or nil.
func (jj *jobJournal) err() error {
	if jj == nil {
		return nil
	}
	if err := jj.j.Err(); err != nil {
		return fmt.Errorf("%w in %s: %v", errJournal, jj.dir, err)
	}
	return nil
}

// accepted journals r's acceptance and waits until it is durable. An error
// means r must be refused: it will never run.
func (jj *jobJournal) accepted(r *WorkRequest) error {
	if jj == nil {
		return nil
	}
	rec := jobRecord{Name: r.Name, Delay: r.Delay, EnqueuedAt: r.EnqueuedAt, Key: r.Key}
	if err := jj.j.Append(record(recAccepted, r, &rec)); err != nil {
		return fmt.Errorf("%w in %s: %v", errJournal, jj.dir, err)
	}
	return nil
}

// refused journals that r, whose acceptance was journaled, was refused all
// the same because WorkQueue was full or closed: replay forgets it.
func (jj *jobJournal) refused(r *WorkRequest) {
	if jj != nil {
		jj.j.Append(record(recRefused, r, &jobRecord{}))
	}
}

// started journals that r started an attempt, without waiting, and returns
// a channel that answers once the record is durable (nil without a journal).
// The worker waits on it before it writes r's greeting: a greeting that a
// crash repeats then always comes with attempts that say so.
func (jj *jobJournal) started(r *WorkRequest) <-chan error {
	if jj == nil {
		return nil
	}
	rec := jobRecordOf(r)
	return jj.j.AppendAck(record(recStarted, r, &rec))
}

// durable waits for ack, from started, if there is one. A journal that
// failed does not stop the job: accepted jobs keep running.
func durable(ack <-chan error) {
	if ack != nil {
		<-ack
	}
}

// retrying journals that an attempt of r failed and r waits for another.
func (jj *jobJournal) retrying(r *WorkRequest) {
	if jj != nil {
		rec := jobRecordOf(r)
		jj.j.AppendAsync(record(recRetry, r, &rec))
	}
}

// finished journals r's final state. A cancel waits until it is durable, so
// that a job answered canceled stays canceled through a crash; a done or
// failed job does not wait: at worst a crash runs it again.
func (jj *jobJournal) finished(r *WorkRequest) error {
	if jj == nil {
		return nil
	}
	rec := jobRecordOf(r)
	jr := record(recFinished, r, &rec)
	if rec.State == job.Canceled {
		return jj.j.Append(jr)
	}
	return jj.j.AppendAsync(jr)
}

// close flushes what is pending and releases the journal.
func (jj *jobJournal) close() error {
	if jj == nil {
		return nil
	}
	return jj.j.Close()
}

// record returns r's life as a journal record holds it.
func jobRecordOf(r *WorkRequest) jobRecord {
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
	case recFinished:
		st.State, st.Worker = rec.State, int32(rec.Worker)
		st.StartedAt, st.FinishedAt = job.UnixNano(rec.StartedAt), job.UnixNano(rec.FinishedAt)
		st.Output, st.Truncated = rec.Output, rec.Truncated
	}
}

// replayed is what the journal held at start.
type replayed struct {
	unfinished []*WorkRequest // queued or running when the last process ended, in id order
	finished   []*WorkRequest // final, in the order they finished
	records    int
}

// replayEvery is how many records replay reads between looks at its context.
const replayEvery = 4096

// replay reads every record of the journal and rebuilds the jobs. Records of
// a job whose acceptance the journal no longer holds (compacted away once
// the job left the store) are passed over. It stops, with ctx's cause, if
// ctx ends first.
func (jj *jobJournal) replay(ctx context.Context) (replayed, error) {
	type folding struct {
		r  *WorkRequest
		st job.Status // r's status as the records so far leave it
	}
	jobs := map[uint64]*folding{}
	var out replayed
	var finished []*folding
	err := jj.j.Replay(func(jr journal.Record) error {
		out.records++
		if out.records%replayEvery == 0 && ctx.Err() != nil {
			return context.Cause(ctx)
		}
		rec, err := decodeRecord(jr.Type, jr.Data)
		switch {
		case err != nil:
			return fmt.Errorf("record %d, of job %d: %w", out.records, jr.Key, err)
		case jr.Type == recAccepted:
			r := job.New(strconv.FormatUint(jr.Key, 10), jr.Key, rec.Name, rec.Delay, rec.Key, rec.EnqueuedAt)
			jobs[jr.Key] = &folding{r: r}
		case jr.Type == recRefused:
			delete(jobs, jr.Key)
		case jobs[jr.Key] != nil:
			f := jobs[jr.Key]
			restore(&f.st, jr.Type, &rec)
			if jr.Type == recFinished {
				finished = append(finished, f)
			}
		}
		return nil
	})
	if err != nil {
		return out, err
	}
	for _, f := range finished {
		f.r.Restore(f.st)
		out.finished = append(out.finished, f.r)
	}
	for _, f := range jobs {
		if !f.st.State.Final() {
			f.st.State, f.st.Worker, f.st.StartedAt = job.Queued, 0, 0
			f.r.Restore(f.st)
			out.unfinished = append(out.unfinished, f.r)
		}
	}
	slices.SortFunc(out.unfinished, func(a, b *WorkRequest) int { return cmp.Compare(a.Seq, b.Seq) })
	return out, nil
}

// writeJournalMetrics writes the journal's metrics: zero without -journal,
// so that dashboards need no special case.
func (s *server) writeJournalMetrics(b *bytes.Buffer) {
	var size, compactions, errs int64
	if jj := s.journal; jj != nil {
		size, compactions, errs = jj.j.Bytes(), jj.j.Compactions(), jj.j.Errors()
	}
	metrics.Family(b, "workqueue_journal_bytes", "gauge", "Bytes of the journal on disk now.")
	metrics.Sample(b, "workqueue_journal_bytes", "", size)
	s.stats.Fsync.WriteText(b, "workqueue_journal_fsync_seconds", "How long each fsync of the journal took.")
	metrics.Family(b, "workqueue_journal_compactions_total", "counter", "Compactions of the journal completed.")
	metrics.Sample(b, "workqueue_journal_compactions_total", "", compactions)
	metrics.Family(b, "workqueue_journal_errors_total", "counter", "Writes or fsyncs of the journal that failed.")
	metrics.Sample(b, "workqueue_journal_errors_total", "", errs)
}
