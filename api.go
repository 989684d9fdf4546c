package main

import (
	"encoding/json"
	"net/http"
	"time"
)

// routes returns the server's HTTP API: the Collector on POST /work, job
// lookups, and the health check. Every answer, errors included, is JSON.
func (s *server) routes(c *Collector) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("POST /work", c)
	mux.HandleFunc("/work", methodNotAllowed("POST"))
	mux.HandleFunc("GET /work/{id}", s.getJob)
	mux.HandleFunc("DELETE /work/{id}", s.cancelJob)
	mux.HandleFunc("/work/{id}", methodNotAllowed("GET, DELETE"))
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("/healthz", methodNotAllowed("GET"))
	mux.HandleFunc("GET /metrics", s.metrics)
	mux.HandleFunc("/metrics", methodNotAllowed("GET"))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such endpoint: "+r.URL.Path+" (see POST /work, GET or DELETE /work/{id}, GET /healthz, GET /metrics)")
	})
	return mux
}

// getJob handles GET /work/{id}.
func (s *server) getJob(w http.ResponseWriter, r *http.Request) {
	if req := s.lookup(w, r); req != nil {
		writeJSON(w, http.StatusOK, req.snapshot())
	}
}

// cancelJob handles DELETE /work/{id}: 200 with the job now canceled, or
// 409 if it had already finished.
func (s *server) cancelJob(w http.ResponseWriter, r *http.Request) {
	req := s.lookup(w, r)
	if req == nil {
		return
	}
	prev, ok := req.cancelJob(time.Now())
	if !ok {
		writeError(w, http.StatusConflict, "job "+req.ID+" already finished: it is "+prev.String())
		return
	}
	s.stats.Canceled.Add(1)
	s.jobs.Finished(req)
	j := req.snapshot()
	if prev == Running {
		s.log.Info("job canceled", "id", req.ID, "worker", j.Worker, "was", prev)
	} else {
		s.log.Info("job canceled", "id", req.ID, "was", prev)
	}
	writeJSON(w, http.StatusOK, j)
}

// lookup returns the job named in r's path, or answers 404 and returns nil.
func (s *server) lookup(w http.ResponseWriter, r *http.Request) *WorkRequest {
	id := r.PathValue("id")
	req := s.jobs.Get(id)
	if req == nil {
		writeError(w, http.StatusNotFound, "no job with id "+quote(id)+": it never existed, or finished long ago")
	}
	return req
}

// healthz handles GET /healthz: 200 while the server accepts work, 503 once
// it is draining.
func (s *server) healthz(w http.ResponseWriter, r *http.Request) {
	if s.queue.Closed() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "draining"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// methodNotAllowed answers 405 with the Allow header set to allow.
func methodNotAllowed(allow string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		writeError(w, http.StatusMethodNotAllowed, r.Method+" is not allowed here; use "+allow)
	}
}

// writeJSON answers with status and v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v) // an error here is the client hanging up
}

// writeError answers with status and {"error": msg}.
func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

// quote quotes s for an error message, escaping anything unprintable.
func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
