package main

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"workqueue/internal/job"
)

// routes returns the server's HTTP API: the Collector on POST /work, job
// lookups and cancels, the health check and the metrics. Every answer but
// the metrics, errors included, is JSON.
func (s *server) routes(c *Collector) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("POST /work", c)
	mux.HandleFunc("GET /work", s.listJobs)
	mux.HandleFunc("/work", methodNotAllowed("GET, POST"))
	mux.HandleFunc("GET /work/{id}", s.getJob)
	mux.HandleFunc("DELETE /work/{id}", s.cancelJob)
	mux.HandleFunc("/work/{id}", methodNotAllowed("GET, DELETE"))
	mux.HandleFunc("GET /workers", s.getWorkers)
	mux.HandleFunc("PUT /workers", s.putWorkers)
	mux.HandleFunc("/workers", methodNotAllowed("GET, PUT"))
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("/healthz", methodNotAllowed("GET"))
	mux.HandleFunc("GET /metrics", s.metrics)
	mux.HandleFunc("/metrics", methodNotAllowed("GET"))
	mux.Handle("GET /events", s.events)
	d := newDashboard()
	mux.Handle("GET /{$}", d)
	mux.Handle("GET /static/", d)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		closeUnread(w, r)
		writeError(w, http.StatusNotFound, "no such endpoint: "+quote(r.URL.Path)+" (see GET or POST /work, GET or DELETE /work/{id}, GET or PUT /workers, GET /events, GET /healthz, GET /metrics)")
	})
	return crossOrigin(canonicalPaths(collectFirst(c, mux)))
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
	if req := s.lookup(w, r); req != nil && (r.URL.RawQuery == "" || s.waitFinal(w, r, req)) {
		writeJob(w, http.StatusOK, req)
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
		writeError(w, http.StatusConflict, "job "+req.ID+" cannot be canceled: its work is complete and its greeting is being written")
		return
	}
	if !ok {
		closeUnread(w, r)
		writeError(w, http.StatusConflict, "job "+req.ID+" already finished: it is "+prev.String())
		return
	}
	if prev == job.Queued {
		s.retry.forget(req) // if it was waiting for a retry
	}
	s.stats.Canceled.Add(1)
	if err := s.journal.finished(req); err != nil {
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
	writeJSON(w, http.StatusOK, appendJobJSON(&j, nil))
}

// lookup returns the job named in r's path, or answers 404 and returns nil.
func (s *server) lookup(w http.ResponseWriter, r *http.Request) *WorkRequest {
	id := r.PathValue("id")
	req := s.jobs.Get(id)
	if req == nil {
		closeUnread(w, r)
		writeError(w, http.StatusNotFound, "no job with id "+quote(id)+": it never existed, or finished long ago")
	}
	return req
}

// healthz handles GET /healthz: 200 while the server accepts work, 503 once
// it is draining or its journal cannot be written.
func (s *server) healthz(w http.ResponseWriter, r *http.Request) {
	if err := s.journal.err(); err != nil {
		b := append(appendJSONString(append(make([]byte, 0, 128), `{"status":"journal failed","error":`...), err.Error()), "}\n"...)
		writeJSON(w, http.StatusServiceUnavailable, b)
		return
	}
	if s.queue.Closed() {
		writeObject(w, http.StatusServiceUnavailable, "status", "draining")
		return
	}
	writeObject(w, http.StatusOK, "status", "ok")
}

// methodNotAllowed answers 405 with the Allow header set to allow.
func methodNotAllowed(allow string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		closeUnread(w, r)
		w.Header().Set("Allow", allow)
		writeError(w, http.StatusMethodNotAllowed, clip(r.Method)+" is not allowed here; use "+allow)
	}
}

// writeJSON answers with status and body, a JSON value.
func writeJSON(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h["Content-Type"] = []string{"application/json"}
	h["X-Content-Type-Options"] = []string{"nosniff"}
	w.WriteHeader(status)
	w.Write(body) // an error here is the client hanging up
}

// writeJob answers with status and the job r as JSON.
func writeJob(w http.ResponseWriter, status int, r *WorkRequest) {
	j := r.Snapshot()
	writeJSON(w, status, appendJobJSON(&j, make([]byte, 0, 256)))
}

// writeError answers with status and {"error": msg}.
func writeError(w http.ResponseWriter, status int, msg string) {
	writeObject(w, status, "error", msg)
}

// writeObject answers with status and the JSON object {key: value}.
func writeObject(w http.ResponseWriter, status int, key, value string) {
	b := append(appendJSONString(append(make([]byte, 0, 64), '{'), key), ':')
	writeJSON(w, status, append(appendJSONString(b, value), "}\n"...))
}

// appendJSON appends j as a JSON object, byte for byte what encoding/json
// makes of it, and a newline. Writing it by hand keeps reflection and its
// allocations off the path of every POST /work.
func appendJobJSON(j *job.View, b []byte) []byte {
	b = append(b, `{"id":`...)
	b = appendJSONString(b, j.ID)
	b = appendJSONString(append(b, `,"name":`...), j.Name)
	b = appendJSONString(append(b, `,"delay":`...), j.Delay)
	b = appendJSONString(append(b, `,"state":`...), j.State)
	if j.Worker != 0 {
		b = strconv.AppendInt(append(b, `,"worker":`...), int64(j.Worker), 10)
	}
	b = appendJSONTime(append(b, `,"enqueued_at":`...), j.EnqueuedAt)
	if !j.StartedAt.IsZero() {
		b = appendJSONTime(append(b, `,"started_at":`...), j.StartedAt)
	}
	if !j.FinishedAt.IsZero() {
		b = appendJSONTime(append(b, `,"finished_at":`...), j.FinishedAt)
	}
	if j.Error != "" {
		b = appendJSONString(append(b, `,"error":`...), j.Error)
	}
	if j.Attempts != 0 {
		b = strconv.AppendInt(append(b, `,"attempts":`...), int64(j.Attempts), 10)
	}
	if !j.RetryAt.IsZero() {
		b = appendJSONTime(append(b, `,"retry_at":`...), j.RetryAt)
	}
	if j.Output != nil {
		b = appendJSONString(append(b, `,"output":`...), *j.Output)
	}
	if j.Truncated {
		b = append(b, `,"output_truncated":true`...)
	}
	return append(b, "}\n"...)
}

// appendJSONTime appends t as encoding/json does: a quoted RFC 3339 time.
func appendJSONTime(b []byte, t time.Time) []byte {
	return append(t.AppendFormat(append(b, '"'), time.RFC3339Nano), '"')
}

// appendJSONString appends s as a JSON string, as encoding/json does. Plain
// ASCII, most names, is copied as it is; anything else goes through
// encoding/json, so the escaping is always its own.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' || c > '~' || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
