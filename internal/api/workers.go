package api

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"workqueue/internal/pool"
	"workqueue/internal/respond"
	"workqueue/internal/submit"
)

// getWorkers handles GET /workers: {"workers", "busy", "target"}.
func (s *Server) getWorkers(w http.ResponseWriter, r *http.Request) {
	respond.JSON(w, http.StatusOK, s.appendWorkers(nil))
}

// putWorkers handles PUT /workers: it sets the pool's target from a JSON
// body {"workers": N}, a form field or a query parameter workers=N, 1 to
// -max-workers (0: remote workers only), and answers 200 with the pool as it is right after.
func (s *Server) putWorkers(w http.ResponseWriter, r *http.Request) {
	n, err := workersParam(w, r)
	if err == nil {
		err = s.Pool.Resize(n)
	}
	switch {
	case err == pool.ErrClosed:
		respond.Error(w, http.StatusServiceUnavailable, err.Error())
		return
	case err != nil:
		respond.Error(w, http.StatusBadRequest, err.Error())
		return
	}
	s.Log.Info("pool resized", "target", n)
	respond.JSON(w, http.StatusOK, s.appendWorkers(nil))
}

// appendWorkers appends the pool's document, {"workers", "busy", "target",
// "remote_waiting", "remote_running"}.
// busy is read after workers: a worker retires only once idle, so busy never
// exceeds workers in one document.
func (s *Server) appendWorkers(b []byte) []byte {
	alive, target := s.Pool.Counts()
	busy := min(s.Stats.Busy.Load(), int64(alive))
	b = strconv.AppendInt(append(b, `{"workers":`...), int64(alive), 10)
	b = strconv.AppendInt(append(b, `,"busy":`...), busy, 10)
	b = strconv.AppendInt(append(b, `,"target":`...), int64(target), 10)
	b = strconv.AppendInt(append(b, `,"remote_waiting":`...), s.Pool.RemoteWaiting(), 10)
	b = strconv.AppendInt(append(b, `,"remote_running":`...), s.Remote.Running(), 10)
	return append(b, "}\n"...)
}

// workersParam reads the workers parameter of a PUT /workers from a JSON
// body, a form body or the query, in that order of precedence.
func workersParam(w http.ResponseWriter, r *http.Request) (int, error) {
	r.Body = http.MaxBytesReader(w, r.Body, 1<<10)
	raw := r.URL.Query().Get("workers")
	ct := r.Header.Get("Content-Type")
	switch {
	case strings.HasPrefix(ct, submit.JSONType):
		var body struct {
			Workers *int `json:"workers"`
		}
		dec := json.NewDecoder(r.Body)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&body); err != nil || body.Workers == nil || dec.More() {
			return 0, errWorkersParam
		}
		return *body.Workers, nil
	case strings.HasPrefix(ct, submit.FormType):
		b, err := io.ReadAll(r.Body)
		if err != nil {
			return 0, errWorkersParam
		}
		form, err := url.ParseQuery(string(b))
		if err != nil {
			return 0, errWorkersParam
		}
		if v := form.Get("workers"); v != "" {
			raw = v
		}
	}
	n, err := strconv.Atoi(raw)
	if err != nil {
		return 0, errWorkersParam
	}
	return n, nil
}

// errWorkersParam is a PUT /workers without a number of workers.
var errWorkersParam = errors.New(`say how many workers: {"workers": 8} as JSON, a form field workers=8, or ?workers=8`)
