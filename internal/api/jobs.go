package api

import (
	"net/http"
	"time"

	"workqueue/internal/job"
	"workqueue/internal/query"
	"workqueue/internal/respond"
)

// getJob handles GET /work/{id}, waiting first for ?wait=D.
func (s *Server) getJob(w http.ResponseWriter, r *http.Request) {
	if req := s.lookup(w, r); req != nil && (r.URL.RawQuery == "" || query.Wait(w, r, req, s.Stopping)) {
		respond.Job(w, http.StatusOK, req)
	}
}

// cancelJob handles DELETE /work/{id}: 200 with the job now canceled, or
// 409 if it had already finished.
func (s *Server) cancelJob(w http.ResponseWriter, r *http.Request) {
	req := s.lookup(w, r)
	if req == nil {
		return
	}
	prev, ok, jerr := s.Life.Cancel(req, time.Now())
	if !ok && prev == job.Running {
		respond.Error(w, http.StatusConflict, "job "+req.ID+" cannot be canceled: its work is complete and its greeting is being written")
		return
	}
	if !ok {
		respond.CloseUnread(w, r)
		respond.Error(w, http.StatusConflict, "job "+req.ID+" already finished: it is "+prev.String())
		return
	}
	if jerr != nil {
		// Canceled here, but a crash now would run it again.
		s.Log.Error("cannot journal a cancel", "id", req.ID, "err", jerr)
	}
	j := req.Snapshot()
	if prev == job.Running {
		s.Log.Info("job canceled", "id", req.ID, "worker", j.Worker, "was", prev)
	} else {
		s.Log.Info("job canceled", "id", req.ID, "was", prev)
	}
	respond.JSON(w, http.StatusOK, respond.AppendJob(nil, &j))
}

// lookup returns the job named in r's path, or answers 404 and returns nil.
func (s *Server) lookup(w http.ResponseWriter, r *http.Request) *job.Job {
	id := r.PathValue("id")
	req := s.Jobs.Get(id)
	if req == nil {
		respond.CloseUnread(w, r)
		respond.Error(w, http.StatusNotFound, "no job with id "+respond.Quote(id)+": it never existed, or finished long ago")
	}
	return req
}
