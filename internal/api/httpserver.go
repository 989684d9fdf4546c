package api

import (
	"log/slog"
	"net/http"
	"time"
)

// Limits are the http.Server's limits on slow or greedy clients.
type Limits struct {
	ReadHeader, Read, Write, Idle time.Duration
	MaxHeaderBytes                int // of the request line and headers
}

// DefaultLimits returns the limits the server runs with:
//   - 5 s to send the request line and headers: a client that sends half a
//     request and stops is cut off then, holding one goroutine until it is;
//   - 10 s for the whole request, body included: bodies are at most 64 KiB,
//     which even a slow link sends in well under that;
//   - 10 s to take the answer: a few hundred bytes of JSON;
//   - a minute for an idle keep-alive connection, so clients that submit
//     often reuse connections and idle ones do not pile up;
//   - 64 KiB of request line and headers, plenty for any real client (the
//     default is 1 MiB). net/http reads MaxHeaderBytes plus 4096 bytes of
//     slack before it answers 431 (initialReadLimitSize in net/http's
//     server.go), so MaxHeaderBytes is 4 KiB less than the limit meant.
func DefaultLimits() Limits {
	return Limits{
		ReadHeader:     5 * time.Second,
		Read:           10 * time.Second,
		Write:          10 * time.Second,
		Idle:           time.Minute,
		MaxHeaderBytes: 64<<10 - 4096,
	}
}

// NewHTTPServer returns the http.Server for handler with the given limits,
// logging through log.
func NewHTTPServer(handler http.Handler, limits Limits, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           handler,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		ReadHeaderTimeout: limits.ReadHeader,
		ReadTimeout:       limits.Read,
		WriteTimeout:      limits.Write,
		IdleTimeout:       limits.Idle,
		MaxHeaderBytes:    limits.MaxHeaderBytes,
	}
}
