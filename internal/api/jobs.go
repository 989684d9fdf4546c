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
	switch {
	case !ok && jerr != nil:
		respond.Error(w, http.StatusServiceUnavailable, "job "+req.ID+" was not canceled: "+jerr.Error()+
			"; a cancel it cannot record would not hold at the next start")
		return
	case ok && jerr != nil:
		s.Log.Error("cannot journal a cancel", "id", req.ID, "err", jerr)
		respond.Error(w, http.StatusServiceUnavailable, "job "+req.ID+" is canceled in this process, but "+jerr.Error()+
			": after a restart it will run again")
		return
	case !ok && prev == job.Running:
		respond.Error(w, http.StatusConflict, "job "+req.ID+" cannot be canceled: its work is complete and its greeting is being written")
		return
	case !ok:
		respond.CloseUnread(w, r)
		respond.Error(w, http.StatusConflict, "job "+req.ID+" already finished: it is "+prev.String())
		return
	}
	j := req.Snapshot()
	if prev == job.Running {
		s.Log.Info("job canceled", "id", req.ID, "worker", j.Worker, "was", prev)
	} else {
		s.Log.Info("job canceled", "id", req.ID, "was", prev)
	}
	respond.JSON(w, http.StatusOK, respond.AppendJob(nil, &j))
}

// retryJob handles POST /work/{id}/retry: a failed or canceled job goes
// back to queued and runs again in its turn, 200 with the job; 409 for a
// job in another state or whose payload was dropped; 503 while the server drains, or when the journal
// cannot record the retry. It enters WorkQueue as a retry does, never
// refused for want of room: it was accepted once.
func (s *Server) retryJob(w http.ResponseWriter, r *http.Request) {
	req := s.lookup(w, r)
	if req == nil {
		return
	}
	if s.Queue.Closed() {
		w.Header()["Retry-After"] = []string{"1"}
		respond.Error(w, http.StatusServiceUnavailable, "job "+req.ID+" was not retried: the server is shutting down")
		return
	}
	if _, dropped := req.Payload(); dropped {
		respond.Error(w, http.StatusConflict, "job "+req.ID+" cannot be retried: its payload was dropped to bound memory (payload_dropped); submit it again")
		return
	}
	prev, ok, jerr := s.Life.Retry(req)
	switch {
	case !ok && jerr != nil:
		respond.Error(w, http.StatusServiceUnavailable, "job "+req.ID+" was not retried: "+jerr.Error())
		return
	case !ok && (prev == job.Failed || prev == job.Canceled):
		w.Header()["Retry-After"] = []string{"1"}
		respond.Error(w, http.StatusConflict, "job "+req.ID+" has just finished and its finish is still being recorded; retry in a moment")
		return
	case !ok:
		respond.Error(w, http.StatusConflict, "job "+req.ID+" is "+prev.String()+": only a failed or canceled job can be retried")
		return
	}
	if err := s.Queue.PushForced(req); err != nil {
		s.Log.Error("cannot queue a retried job", "id", req.ID, "err", err)
	}
	s.Log.Info("job retried", "id", req.ID, "was", prev)
	if jerr != nil {
		s.Log.Error("cannot journal a retry", "id", req.ID, "err", jerr)
		respond.Error(w, http.StatusServiceUnavailable, "job "+req.ID+" is queued again in this process, but "+jerr.Error()+
			": after a restart it will be "+prev.String()+" again")
		return
	}
	respond.Job(w, http.StatusOK, req)
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
