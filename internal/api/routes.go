// Package api routes the HTTP API and answers every endpoint but POST
// /work, whose handler (the Collector) it is given: a job, its cancel, the
// listing, the pool, the health check, the metrics, the events and the
// dashboard. Every answer but the metrics, the events and the page is JSON.
package api

import (
	"log/slog"
	"net/http"
	"sync/atomic"

	"workqueue/internal/dashboard"
	"workqueue/internal/events"
	"workqueue/internal/jobjournal"
	"workqueue/internal/lifecycle"
	"workqueue/internal/metrics"
	"workqueue/internal/pool"
	"workqueue/internal/query"
	"workqueue/internal/queue"
	"workqueue/internal/remote"
	"workqueue/internal/respond"
	"workqueue/internal/retry"
	"workqueue/internal/store"
)

// Server is what the HTTP API answers from: the parts of one workqueue, as
// the program wired them. Journal is nil without -journal.
type Server struct {
	Queue      *queue.Queue       // WorkQueue
	Jobs       *store.Store       // every job kept, by id
	Pool       *pool.Pool         // the workers, resized by PUT /workers
	Stats      *metrics.Stats     // what happened to the jobs
	Attempts   *metrics.Attempts  // attempts by outcome, and how long they ran
	Retry      *retry.Retrier     // jobs waiting out a backoff
	Life       *lifecycle.Effects // makes each change of a job's state, with its effects
	Journal    *jobjournal.Log    // the write-ahead journal; nil without -journal
	Events     *events.Hub        // the server-sent events at GET /events
	Log        *slog.Logger
	LogDropped *atomic.Int64   // log lines dropped because standard error fell behind
	Stopping   <-chan struct{} // closed once the server's drain has returned: ends every ?wait
	Remote     *remote.Server  // the remote workers' claims and leases
}

// Handler returns the server's HTTP API, with post, the Collector, on POST
// /work.
func (s *Server) Handler(post http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("POST /work", post)
	mux.HandleFunc("GET /work", func(w http.ResponseWriter, r *http.Request) { query.List(w, r, s.Jobs) })
	mux.HandleFunc("/work", respond.MethodNotAllowed("GET, POST"))
	mux.HandleFunc("GET /work/{id}", s.getJob)
	mux.HandleFunc("DELETE /work/{id}", s.cancelJob)
	mux.HandleFunc("/work/{id}", respond.MethodNotAllowed("GET, DELETE"))
	mux.HandleFunc("POST /work/{id}/retry", s.retryJob)
	mux.HandleFunc("/work/{id}/retry", respond.MethodNotAllowed("POST"))
	mux.HandleFunc("POST /work/claim", s.Remote.Claim)
	mux.HandleFunc("POST /work/{id}/heartbeat", s.Remote.Heartbeat)
	mux.HandleFunc("/work/{id}/heartbeat", respond.MethodNotAllowed("POST"))
	mux.HandleFunc("POST /work/{id}/done", s.Remote.Done)
	mux.HandleFunc("/work/{id}/done", respond.MethodNotAllowed("POST"))
	mux.HandleFunc("POST /work/{id}/fail", s.Remote.Fail)
	mux.HandleFunc("/work/{id}/fail", respond.MethodNotAllowed("POST"))
	mux.HandleFunc("GET /workers", s.getWorkers)
	mux.HandleFunc("PUT /workers", s.putWorkers)
	mux.HandleFunc("/workers", respond.MethodNotAllowed("GET, PUT"))
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("/healthz", respond.MethodNotAllowed("GET"))
	mux.HandleFunc("GET /metrics", s.serveMetrics)
	mux.HandleFunc("/metrics", respond.MethodNotAllowed("GET"))
	mux.Handle("GET /events", s.Events)
	d := dashboard.New()
	mux.Handle("GET /{$}", d)
	mux.Handle("GET /static/", d)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		respond.CloseUnread(w, r)
		respond.Error(w, http.StatusNotFound, "no such endpoint: "+respond.Quote(r.URL.Path)+" (see GET or POST /work, GET or DELETE /work/{id}, POST /work/claim, GET or PUT /workers, GET /events, GET /healthz, GET /metrics)")
	})
	return respond.CrossOrigin(respond.CanonicalPaths(collectFirst(post, mux)))
}

// collectFirst hands POST /work, nearly every request of a busy server,
// straight to the Collector, sparing it the mux's pattern matching, and
// every other request to mux (which routes POST /work the same way).
func collectFirst(c http.Handler, mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/work" {
			c.ServeHTTP(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// healthz handles GET /healthz: 200 while the server accepts work, 503 once
// it is draining or its journal cannot be written.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	if err := s.Journal.Err(); err != nil {
		b := respond.AppendString(append(make([]byte, 0, 256), `{"status":"journal failed","error":`...), err.Error())
		b = append(respond.AppendString(append(b, `,"jobs":`...), jobjournal.Unrecorded), "}\n"...)
		respond.JSON(w, http.StatusServiceUnavailable, b)
		return
	}
	if s.Queue.Closed() {
		respond.Object(w, http.StatusServiceUnavailable, "status", "draining")
		return
	}
	respond.Object(w, http.StatusOK, "status", "ok")
}
