package config

// usage is the text that -h writes to standard error: every flag, its bounds
// and its default, as Default and the bounds in config.go have them.
const usage = `workqueue runs an HTTP job queue. Each job is a name and a delay: one of
the workers waits out the delay, then prints "worker<K>: Hello, <NAME>!".
Given a COMMAND after --, each job then runs it too, without a shell; the job
reaches it through its environment (WORKQUEUE_JOB_ID, WORKQUEUE_NAME,
WORKQUEUE_ATTEMPT) and standard input (the name), never its arguments, and
the job is done only if it exits 0.

Usage:
  workqueue [flags]
  workqueue [flags] -- COMMAND [ARG...]
  workqueue -remote URL [-n N] [-lease D] [-token-file FILE] [-tls-ca FILE]
            -- COMMAND [ARG...]

Flags:
  -n N                        number of workers at start, 0 to -max-workers
                              (0: only remote workers run jobs); with
                              -remote, remote workers to run (default 4)
  -max-workers N              most workers PUT /workers may ask for, 1 to
                              1024 (default 1024)
  -http HOST:PORT             address to listen on (default 127.0.0.1:8000)
  -queue N                    jobs that may wait for a worker, 1 to 1000000;
                              beyond that, POST /work answers 503 (default 100)
  -max-delay DURATION         largest delay a job may ask for, at most 24h
                              (default 10s)
  -shutdown-timeout DURATION  how long SIGINT, SIGTERM or SIGHUP waits for
                              accepted jobs before giving up and exiting 1,
                              at most 24h (default 30s)
  -log-level LEVEL            debug, info, warn or error (default info)
  -journal DIR                keep a write-ahead journal of every job in DIR,
                              so that accepted jobs survive a crash or kill -9
                              and run after the restart (default: none, in
                              memory only)
  -fsync always|DURATION|never
                              with -journal: always, a 201 only once the job
                              is on disk; DURATION such as 50ms, flushed at
                              least that often (a crash may lose that window);
                              never, left to the OS (default always)
  -retries N                  with a COMMAND: how many times a failed attempt
                              is tried again, after 1s, 2s, 4s ... (at most
                              1m, +-20%), 0 to 100 (default 0)
  -job-timeout DURATION       with a COMMAND: longest one attempt may run
                              before its process group gets SIGTERM, then
                              SIGKILL 5s later; 0 for no limit, at most 24h
                              (default 0)
  -max-retries N              with a COMMAND: most retries a job may ask for
                              with its own retries, 0 to 100 (default 25)
  -max-payload SIZE           largest payload of one job, written 512, 64KiB
                              or 1MiB; at most 1MiB (default 64KiB)
  -max-ahead DURATION         how far ahead a job's run_at may be, at most
                              8760h (default 720h)
  -max-scheduled N            how many jobs may wait for their run_at at
                              once, 0 to 10000000 (default 100000)
  -max-batch N                most jobs in one batch submission (a JSON array
                              or NDJSON body), 1 to 100000 (default 1000)
  -allow-host NAME            on a loopback -http, also answer requests whose
                              Host is NAME (any port), such as the name a
                              reverse proxy forwards; repeat it or give names
                              comma-separated. Any Host but localhost,
                              127.0.0.1, [::1] and these is refused with 421,
                              so that no web page reaches the server by DNS
                              rebinding (default: none)
  -node NAME                  prefix every job id with NAME (a makes a-1,
                              a-2 ...): 1 to 32 of a-z, 0-9 and -, starting
                              with a letter; kept in the -journal, which
                              then starts under no other (default: none)
  -token-file FILE            answer only requests that carry one of FILE's
                              tokens (one a line, at least 16 bytes; blank
                              lines and lines starting with # skipped) as
                              Authorization: Bearer TOKEN or as the password
                              of HTTP Basic; GET /healthz needs none. FILE
                              must be readable by its owner alone (chmod 600);
                              with -remote, its first token is sent as
                              Authorization: Bearer
  -insecure                   allow -http on an address other than loopback
                              without -token-file: anyone who can reach it
                              can then run jobs (default false)
  -tls-cert FILE, -tls-key FILE
                              serve HTTPS only (TLS 1.2 or later) with this
                              PEM certificate chain and its key, both or
                              neither (default: plain HTTP)
  -tls-ca FILE                for a remote worker: trust the CA certificates
                              of this PEM file for the server's certificate
                              (default: the system's CAs)
  -remote URL                 run as a remote worker of the server at URL
                              (such as http://127.0.0.1:8000) instead of as
                              a server: claim jobs, run COMMAND for each,
                              report done or fail (default: none)
  -lease DURATION             with -remote: the lease each claim asks for,
                              renewed every third of it; a worker that dies
                              loses its job for at most that long, 1s to 1h
                              (default: the server's, 1m)

Durations are written like 250ms, 1.5s or 2m. A second signal stops at once,
exiting 1.

Example:
  workqueue -n 8 &
  curl -d name=Alice -d delay=1s http://127.0.0.1:8000/work
  workqueue -n 4 -retries 3 -job-timeout 1m -- scripts/examples/flaky.sh
`
