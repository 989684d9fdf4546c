package api

import (
	"bytes"
	"net/http"
	"runtime"
	"strconv"
	"time"

	"workqueue/internal/metrics"
	"workqueue/internal/pool"
	"workqueue/internal/queue"
)

// writeMetrics writes s, and the server's gauges, in the Prometheus text
// exposition format, version 0.0.4.
func writeMetrics(b *bytes.Buffer, s *metrics.Stats, q *queue.Queue, pool *pool.Pool) {
	workers, _ := pool.Counts()
	// Busy never exceeds the workers alive at one instant, but these are
	// two reads: a grow, or a shrink, between them could make busy exceed
	// workers in the document. Clamp, as GET /workers does.
	busy := min(s.Busy.Load(), int64(workers))
	metrics.Family(b, "workqueue_jobs_accepted_total", "counter", "Jobs accepted: answered 201 and queued.")
	metrics.Sample(b, "workqueue_jobs_accepted_total", "", s.Accepted.Load())
	metrics.Family(b, "workqueue_jobs_rejected_total", "counter",
		"Job submissions refused: full (queue full, 503), draining (shutting down, 503), invalid (400, 413, 415), journal (the journal cannot be written, 503), scheduled (-max-scheduled jobs wait for their run_at, 503), payload (the unfinished jobs' payloads fill their memory, 503), unauthorized (no valid token, 401).")
	metrics.Sample(b, "workqueue_jobs_rejected_total", `reason="full"`, s.RejectedFull.Load())
	metrics.Sample(b, "workqueue_jobs_rejected_total", `reason="draining"`, s.RejectedDraining.Load())
	metrics.Sample(b, "workqueue_jobs_rejected_total", `reason="invalid"`, s.RejectedInvalid.Load())
	metrics.Sample(b, "workqueue_jobs_rejected_total", `reason="journal"`, s.RejectedJournal.Load())
	metrics.Sample(b, "workqueue_jobs_rejected_total", `reason="scheduled"`, s.RejectedScheduled.Load())
	metrics.Sample(b, "workqueue_jobs_rejected_total", `reason="payload"`, s.RejectedPayload.Load())
	metrics.Sample(b, "workqueue_jobs_rejected_total", `reason="unauthorized"`, s.RejectedUnauthorized.Load())
	metrics.Family(b, "workqueue_jobs_finished_total", "counter", "Jobs that reached a final state, by that state.")
	metrics.Sample(b, "workqueue_jobs_finished_total", `state="done"`, s.Done.Load())
	metrics.Sample(b, "workqueue_jobs_finished_total", `state="canceled"`, s.Canceled.Load())
	metrics.Sample(b, "workqueue_jobs_finished_total", `state="failed"`, s.Failed.Load())
	metrics.Family(b, "workqueue_queue_length", "gauge", "Jobs waiting for a worker: queued, not canceled, the one the dispatcher holds included.")
	metrics.Sample(b, "workqueue_queue_length", "", int64(q.Len()))
	metrics.Family(b, "workqueue_queue_capacity", "gauge", "How many jobs may wait for a worker (-queue); jobs replayed or retried may exceed it.")
	metrics.Sample(b, "workqueue_queue_capacity", "", int64(q.Cap()))
	metrics.Family(b, "workqueue_workers", "gauge", "Workers alive: -n at start, then as PUT /workers sets; a retiring worker counts until its job ends.")
	metrics.Sample(b, "workqueue_workers", "", int64(workers))
	metrics.Family(b, "workqueue_workers_busy", "gauge", "Workers running a job now.")
	metrics.Sample(b, "workqueue_workers_busy", "", busy)
	s.Wait.WriteText(b, "workqueue_job_wait_seconds", "Time from a job's acceptance to its start on a worker.")
	metrics.Family(b, "workqueue_jobs_replayed_total", "counter", "Unfinished jobs queued again from the journal at start.")
	metrics.Sample(b, "workqueue_jobs_replayed_total", "", s.Replayed.Load())
	metrics.Family(b, "workqueue_goroutines", "gauge", "Goroutines in the process: flat under load, whatever the number of jobs.")
	metrics.Sample(b, "workqueue_goroutines", "", int64(runtime.NumGoroutine()))
}

// serveMetrics handles GET /metrics.
func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request) {
	var b bytes.Buffer
	writeMetrics(&b, s.Stats, s.Queue, s.Pool)
	s.Attempts.WriteText(&b, s.Retry.Len())
	s.writeWorkMetrics(&b)
	metrics.Family(&b, "workqueue_log_lines_dropped_total", "counter",
		"Log lines dropped because standard error was not taking them.")
	metrics.Sample(&b, "workqueue_log_lines_dropped_total", "", s.LogDropped.Load())
	s.writeJournalMetrics(&b)
	metrics.Family(&b, "workqueue_remote_waiting", "gauge", "Remote workers waiting in a claim now (POST /work/claim).")
	metrics.Sample(&b, "workqueue_remote_waiting", "", s.Pool.RemoteWaiting())
	metrics.Family(&b, "workqueue_remote_running", "gauge", "Jobs leased to remote workers now.")
	metrics.Sample(&b, "workqueue_remote_running", "", s.Remote.Running())
	metrics.Family(&b, "workqueue_leases_expired_total", "counter", "Leases of remote workers that expired, each ending its attempt as failed.")
	metrics.Sample(&b, "workqueue_leases_expired_total", "", s.Remote.Expired())
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	w.Write(b.Bytes())
}

// writeWorkMetrics writes the metrics of what jobs carry: how many wait for
// their run_at, the bytes their payloads hold, and the refusals for want of
// room for either.
func (s *Server) writeWorkMetrics(b *bytes.Buffer) {
	metrics.Family(b, "workqueue_jobs_scheduled", "gauge", "Jobs queued waiting for their run_at, holding no worker; not in workqueue_queue_length.")
	metrics.Sample(b, "workqueue_jobs_scheduled", "", int64(s.Retry.Scheduled()))
	unfinished, finished := s.Jobs.PayloadBytes()
	metrics.Family(b, "workqueue_payload_bytes", "gauge", "Bytes held by payloads: of unfinished jobs, and of finished jobs that still keep theirs.")
	metrics.Sample(b, "workqueue_payload_bytes", `of="unfinished"`, unfinished)
	metrics.Sample(b, "workqueue_payload_bytes", `of="finished"`, finished)
}

// writeJournalMetrics writes the journal's metrics: zero without -journal,
// so that dashboards need no special case.
func (s *Server) writeJournalMetrics(b *bytes.Buffer) {
	var size, compactions, errs int64
	if jj := s.Journal; jj != nil {
		j := jj.Journal()
		size, compactions, errs = j.Bytes(), j.Compactions(), j.Errors()
	}
	metrics.Family(b, "workqueue_journal_bytes", "gauge", "Bytes of the journal on disk now.")
	metrics.Sample(b, "workqueue_journal_bytes", "", size)
	s.Stats.Fsync.WriteText(b, "workqueue_journal_fsync_seconds", "How long each fsync of the journal took.")
	metrics.Family(b, "workqueue_journal_compactions_total", "counter", "Compactions of the journal completed.")
	metrics.Sample(b, "workqueue_journal_compactions_total", "", compactions)
	metrics.Family(b, "workqueue_journal_errors_total", "counter", "Writes or fsyncs of the journal that failed.")
	metrics.Sample(b, "workqueue_journal_errors_total", "", errs)
}

// StatsEvent returns the data of a stats event, a JSON object: the
// queue's length and capacity, the workers and how many are busy, the job
// counters, and started_at, when the counters began (the server's start,
// RFC 3339 in UTC): they count this process's jobs, not a journal's earlier
// ones.
func (s *Server) StatsEvent() []byte {
	b := make([]byte, 0, 160)
	b = append(b, `{"queue_length":`...)
	b = strconv.AppendInt(b, int64(s.Queue.Len()), 10)
	b = strconv.AppendInt(append(b, `,"queue_capacity":`...), int64(s.Queue.Cap()), 10)
	workers, _ := s.Pool.Counts()
	b = strconv.AppendInt(append(b, `,"workers":`...), int64(workers), 10)
	// Two reads, not one instant: clamp, so that busy never exceeds workers.
	b = strconv.AppendInt(append(b, `,"busy":`...), min(s.Stats.Busy.Load(), int64(workers)), 10)
	b = strconv.AppendInt(append(b, `,"accepted":`...), s.Stats.Accepted.Load(), 10)
	b = strconv.AppendInt(append(b, `,"done":`...), s.Stats.Done.Load(), 10)
	b = strconv.AppendInt(append(b, `,"canceled":`...), s.Stats.Canceled.Load(), 10)
	b = strconv.AppendInt(append(b, `,"failed":`...), s.Stats.Failed.Load(), 10)
	b = strconv.AppendInt(append(b, `,"remote_waiting":`...), s.Pool.RemoteWaiting(), 10)
	b = strconv.AppendInt(append(b, `,"remote_running":`...), s.Remote.Running(), 10)
	b = append(b, `,"started_at":"`...)
	b = s.Stats.Started.UTC().AppendFormat(b, time.RFC3339Nano)
	return append(b, `"}`...)
}
