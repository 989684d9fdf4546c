// Package config turns workqueue's command line into a Config, or refuses it
// with a message saying why.
package config

import (
	"log/slog"
	"time"

	"workqueue/internal/auth"
	"workqueue/internal/journal"
)

// Config is the server's configuration, from its flags.
type Config struct {
	Workers         int           // -n: workers at start, 0 to MaxWorkers; with -remote, remote workers
	MaxWorkers      int           // -max-workers: most workers PUT /workers may ask for
	Addr            string        // -http: the address to listen on, host:port
	Queue           int           // -queue: jobs that may wait for a worker
	MaxDelay        time.Duration // -max-delay: the largest delay a job may ask for
	ShutdownTimeout time.Duration // -shutdown-timeout: how long a drain waits for accepted jobs
	LogLevel        slog.Level    // -log-level
	Retries         int           // -retries: how many times a failed attempt is tried again
	JobTimeout      time.Duration // -job-timeout: longest one attempt may run; 0 for no limit
	MaxRetries      int           // -max-retries: most retries a job may ask for
	MaxPayload      int           // -max-payload: the largest payload of one job, in bytes
	MaxAhead        time.Duration // -max-ahead: how far ahead a run_at may be
	MaxScheduled    int           // -max-scheduled: how many jobs may wait for their run_at at once
	// PayloadBounds are the bounds, in bytes, on the payloads of the
	// unfinished jobs together and of the finished ones kept with their
	// jobs: no flag; zeros for the server's own (store.MaxUnfinishedPayload,
	// store.MaxFinishedPayload; tests set smaller ones).
	PayloadBounds [2]int64
	MaxBatch      int // -max-batch: most jobs in one batch submission
	// Command holds the words after --, COMMAND and its arguments, that
	// every job runs; nil for the greeting alone. Parse checks only that
	// there is a COMMAND: whoever runs it looks it up in $PATH.
	Command    []string
	Kept       int          // no flag: finished jobs the store keeps; 0 for the server's own bound (tests set fewer)
	JournalDir string       // -journal: the journal's directory, or "" for none
	Fsync      journal.Sync // -fsync
	// AllowHosts are the names of -allow-host, as hostguard.ParseName
	// returns them: Hosts a server listening on loopback answers besides
	// its loopback names. nil for none.
	AllowHosts []string
	// Node is -node: the name that prefixes every job id ("a" makes ids
	// a-1, a-2, ...), or "" for bare numbers.
	Node      string
	TokenFile string       // -token-file: the file of the tokens, or "" for none
	Tokens    *auth.Tokens // the tokens of TokenFile; nil for none
	Insecure  bool         // -insecure: a non-loopback -http without -token-file is allowed
	TLSCert   string       // -tls-cert: the server's certificate chain, PEM; "" for plain HTTP
	TLSKey    string       // -tls-key: its private key, PEM
	// TLSCA is -tls-ca: a PEM file of the CAs a remote worker trusts for
	// the server's certificate (see ClientTLS); "" for the system's.
	TLSCA string
	// Remote is the URL of the server whose remote worker this process is
	// (-remote), instead of a server; "" for a server.
	Remote string
	Lease  time.Duration // -lease: with -remote, the lease each claim asks for; 0 for the server's default (60s)
}

// Default returns the configuration with no flags given, as the usage text
// and SPEC.md state it.
func Default() Config {
	return Config{
		Workers:         4,
		MaxWorkers:      maxWorkersLimit,
		Addr:            "127.0.0.1:8000",
		Queue:           100,
		MaxDelay:        10 * time.Second,
		ShutdownTimeout: 30 * time.Second,
		LogLevel:        slog.LevelInfo,
		MaxRetries:      25,
		MaxPayload:      64 << 10,
		MaxAhead:        720 * time.Hour,
		MaxScheduled:    100_000,
		MaxBatch:        1000,
	}
}

// Upper bounds of the size flags, so that no flag can exhaust the machine.
const (
	// maxWorkersLimit bounds -max-workers, and so -n: each worker is a
	// goroutine and a slot in WorkerQueue, and more workers than this only
	// contend for the CPU. -max-workers defaults to it.
	maxWorkersLimit = 1024
	// MaxQueue bounds -queue. WorkQueue reserves a pointer a slot at start
	// (8 MB for a million), and each waiting job holds its record and a name
	// of up to 1 KiB, about 1.3 GB at worst for a million: a machine that
	// runs workqueue has that, and a queue longer than this would hold jobs
	// for longer than any client waits for them.
	MaxQueue = 1_000_000
	// maxMaxDelay bounds -max-delay: a job that holds a worker for longer
	// than a day is a mistake (a unit typed wrong), not a plan.
	maxMaxDelay = 24 * time.Hour
	// maxShutdownTimeout bounds -shutdown-timeout for the same reason: a
	// drain longer than a day is one nobody is waiting for, and process
	// managers kill long before.
	maxShutdownTimeout = 24 * time.Hour
	// maxRetries bounds -retries: past 100 attempts, with backoffs capped at
	// a minute, a job that keeps failing is broken, not unlucky.
	maxRetries = 100
	// maxMaxBatch bounds -max-batch: a batch is checked, journaled and
	// answered whole, and 100,000 jobs is already about 10 MB of answer.
	maxMaxBatch = 100_000
	// maxJobTimeout bounds -job-timeout, as maxMaxDelay bounds the delay.
	maxJobTimeout = 24 * time.Hour
	// maxMaxPayload bounds -max-payload (1 MiB): a payload is held in
	// memory, journaled and copied to its command's standard input; data
	// larger than this belongs in a file the payload names.
	maxMaxPayload = 1 << 20
	// maxMaxAhead bounds -max-ahead (a year): a job planned further ahead
	// outlives the release that accepted it.
	maxMaxAhead = 8760 * time.Hour
	// maxMaxScheduled bounds -max-scheduled: each scheduled job holds its
	// record, under 1 KiB beside its payload, so ten million of them take
	// a few GB at most.
	maxMaxScheduled = 10_000_000
)
