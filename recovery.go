package main

import (
	"context"
	"time"

	"workqueue/internal/config"
	"workqueue/internal/job"
	"workqueue/internal/jobjournal"
	"workqueue/internal/journal"
	"workqueue/internal/lines"
)

// recover opens the journal of cfg, if any, and rebuilds s from it: the
// finished jobs (the newest finishedKept) answer GET again, canceled ones
// stay canceled, and every job that was queued or running is queued again
// in id order, beyond -queue if need be, while new ids continue after the
// largest ever given (SPEC.md, "The journal": replay). Call it before
// s.start. It stops, with ctx's cause, if ctx ends first.
func (s *server) recover(ctx context.Context, cfg config.Config) error {
	if cfg.JournalDir == "" {
		return nil
	}
	began := time.Now()
	jj, err := jobjournal.Open(cfg.JournalDir, journal.Options{
		Sync:    cfg.Fsync,
		Live:    s.jobs.Has, // compaction keeps the records of the jobs the store keeps
		Logger:  s.log,
		OnFsync: s.stats.Fsync.Observe,
	})
	if err != nil {
		return err
	}
	rep, err := jj.Replay(ctx)
	if err != nil {
		jj.Close()
		return err
	}
	canceled := 0
	for _, r := range rep.Finished {
		s.jobs.Add(r)
		s.restoreKey(r)
		s.jobs.Finished(r)
		if r.State() == job.Canceled {
			canceled++
		}
	}
	for _, r := range rep.Unfinished {
		s.jobs.Add(r)
		s.restoreKey(r)
		s.queue.PushForced(r) // the dispatcher has not started: the queue is open
	}
	n := int64(len(rep.Unfinished))
	s.stats.Accepted.Add(n) // so that the drain waits for them
	s.stats.Replayed.Add(n)
	s.collector.lastID.Store(jj.Journal().MaxKey())
	s.useJournal(jj)
	s.log.Info("journal replayed", "dir", cfg.JournalDir, "queued", n, "finished", len(rep.Finished),
		"canceled", canceled, "records", rep.Records, "next_id", jj.Journal().MaxKey()+1,
		"bytes", jj.Journal().Bytes(), "took", time.Since(began).Round(time.Microsecond))
	return nil
}

// useJournal makes s record every job's life in jj from now on.
func (s *server) useJournal(jj *jobjournal.Log) {
	s.journal = jj
	s.api.Journal = jj
	s.collector.journal = jj
	s.env.journal = jj
	s.retry.UseJournal(jj)
	s.env.finisher = lines.NewBatcher[completion](finishBatch, finishBatch)
}

// restoreKey binds r's idempotency key, if it has one, to r: the journal's
// replay calls it for each job it adds to the store, before Finished.
func (s *server) restoreKey(r *WorkRequest) {
	if r.Key != "" {
		s.keys.Restore(r.Key, r.Seq, r.Name, r.Delay)
	}
}
