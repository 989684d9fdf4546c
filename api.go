package main

import (
	"net/http"
	"time"

	"workqueue/internal/dashboard"
	"workqueue/internal/job"
	"workqueue/internal/query"
	"workqueue/internal/respond"
)

// routes returns the server's HTTP API: the Collector on POST /work, job
// lookups and cancels, the health check and the metrics. Every answer but
// the metrics, errors included, is JSON.
func (s *server) routes(c *Collector) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("POST /work", c)
	mux.HandleFunc("GET /work", func(w http.ResponseWriter, r *http.Request) { query.List(w, r, s.jobs) })
	mux.HandleFunc("/work", respond.MethodNotAllowed("GET, POST"))
	mux.HandleFunc("GET /work/{id}", s.getJob)
	mux.HandleFunc("DELETE /work/{id}", s.cancelJob)
	mux.HandleFunc("/work/{id}", respond.MethodNotAllowed("GET, DELETE"))
	mux.HandleFunc("GET /workers", s.getWorkers)
	mux.HandleFunc("PUT /workers", s.putWorkers)
	mux.HandleFunc("/workers", respond.MethodNotAllowed("GET, PUT"))
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("/healthz", respond.MethodNotAllowed("GET"))
	mux.HandleFunc("GET /metrics", s.metrics)
	mux.HandleFunc("/metrics", respond.MethodNotAllowed("GET"))
	mux.Handle("GET /events", s.events)
	d := dashboard.New()
	mux.Handle("GET /{$}", d)
	mux.Handle("GET /static/", d)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		respond.CloseUnread(w, r)
		respond.Error(w, http.StatusNotFound, "no such endpoint: "+respond.Quote(r.URL.Path)+" (see GET or POST /work, GET or DELETE /work/{id}, GET or PUT /workers, GET /events, GET /healthz, GET /metrics)")
	})
	return respond.CrossOrigin(respond.CanonicalPaths(collectFirst(c, mux)))
}

// collectFirst hands POST /work, nearly every request of a busy server,
// straight to the Collector, sparing it the mux's pattern matching, and
// every other request to mux (which routes POST /work the same way).
func collectFirst(c *Collector, mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/work" {
			c.ServeHTTP(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// getJob handles GET /work/{id}, waiting first for ?wait=D.
func (s *server) getJob(w http.ResponseWriter, r *http.Request) {
	if req := s.lookup(w, r); req != nil && (r.URL.RawQuery == "" || query.Wait(w, r, req, s.stopping)) {
		respond.Job(w, http.StatusOK, req)
	}
}

// cancelJob handles DELETE /work/{id}: 200 with the job now canceled, or
// 409 if it had already finished.
func (s *server) cancelJob(w http.ResponseWriter, r *http.Request) {
	req := s.lookup(w, r)
	if req == nil {
		return
	}
	prev, ok := req.Cancel(time.Now())
	if !ok && prev == job.Running {
		respond.Error(w, http.StatusConflict, "job "+req.ID+" cannot be canceled: its work is complete and its greeting is being written")
		return
	}
	if !ok {
		respond.CloseUnread(w, r)
		respond.Error(w, http.StatusConflict, "job "+req.ID+" already finished: it is "+prev.String())
		return
	}
	if prev == job.Queued {
		s.retry.Forget(req) // if it was waiting for a retry
	}
	s.stats.Canceled.Add(1)
	if err := s.journal.Finished(req); err != nil {
		// Canceled here, but a crash now would run it again.
		s.log.Error("cannot journal a cancel", "id", req.ID, "err", err)
	}
	s.jobs.Finished(req)
	s.events.PublishJob(req)
	j := req.Snapshot()
	if prev == job.Running {
		s.log.Info("job canceled", "id", req.ID, "worker", j.Worker, "was", prev)
	} else {
		s.log.Info("job canceled", "id", req.ID, "was", prev)
	}
	respond.JSON(w, http.StatusOK, respond.AppendJob(nil, &j))
}

// lookup returns the job named in r's path, or answers 404 and returns nil.
func (s *server) lookup(w http.ResponseWriter, r *http.Request) *WorkRequest {
	id := r.PathValue("id")
	req := s.jobs.Get(id)
	if req == nil {
		respond.CloseUnread(w, r)
		respond.Error(w, http.StatusNotFound, "no job with id "+respond.Quote(id)+": it never existed, or finished long ago")
	}
	return req
}

// healthz handles GET /healthz: 200 while the server accepts work, 503 once
// it is draining or its journal cannot be written.
func (s *server) healthz(w http.ResponseWriter, r *http.Request) {
	if err := s.journal.Err(); err != nil {
		b := append(respond.AppendString(append(make([]byte, 0, 128), `{"status":"journal failed","error":`...), err.Error()), "}\n"...)
		respond.JSON(w, http.StatusServiceUnavailable, b)
		return
	}
	if s.queue.Closed() {
		respond.Object(w, http.StatusServiceUnavailable, "status", "draining")
		return
	}
	respond.Object(w, http.StatusOK, "status", "ok")
}
