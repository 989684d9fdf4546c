// Bare is the baseline for scripts/bench.sh: a bare net/http server whose
// handler parses the same form as POST /work and answers 201, with no queue
// behind it. It listens on the address given as its first argument.
//
//	bare ADDR          answers 201 with no body: the yardstick
//	bare ADDR answer   answers 201 as POST /work does (SPEC.md): Location,
//	                   Content-Type and X-Content-Type-Options headers and
//	                   the job as JSON, so that a comparison with it counts
//	                   only what the queue behind the handler costs
package main

import (
	"log"
	"net/http"
	"os"
	"strconv"
	"sync/atomic"
	"time"
)

func main() {
	if len(os.Args) < 2 || len(os.Args) > 3 || (len(os.Args) == 3 && os.Args[2] != "answer") {
		log.Fatal("usage: bare ADDR [answer]")
	}
	answer := len(os.Args) == 3
	var lastID atomic.Int64
	srv := &http.Server{
		Addr: os.Args[1],
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodPost || r.FormValue("name") == "" {
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			if !answer {
				w.WriteHeader(http.StatusCreated)
				return
			}
			id := strconv.FormatInt(lastID.Add(1), 10)
			h := w.Header()
			h["Location"] = []string{"/work/" + id}
			h["Content-Type"] = []string{"application/json"}
			h["X-Content-Type-Options"] = []string{"nosniff"}
			w.WriteHeader(http.StatusCreated)
			b := append(make([]byte, 0, 160), `{"id":"`+id+`","name":"`+r.FormValue("name")+`","delay":"0s","state":"queued","enqueued_at":"`...)
			b = time.Now().UTC().AppendFormat(b, time.RFC3339Nano)
			w.Write(append(b, "\"}\n"...))
		}),
		// The same limits as workqueue's server (defaultLimits).
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       time.Minute,
		MaxHeaderBytes:    64<<10 - 4<<10,
	}
	log.Fatal(srv.ListenAndServe())
}
