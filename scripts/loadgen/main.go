// Loadgen is the load client of scripts/bench.sh: a closed-loop generator in
// which each of -c clients sends its next request as soon as its last one is
// answered. One client serves workqueue, beanstalkd and Redis alike, so that
// they are compared through the same code (issue 9, "Against beanstalkd").
// It needs nothing but the standard library: the protocols are written by
// hand.
//
// Usage:
//
//	loadgen -proto http -url http://127.0.0.1:PORT/work [-delay 0s] [-wait-done]
//	loadgen -proto beanstalk -addr 127.0.0.1:PORT [-size 40]
//	loadgen -proto redis -addr 127.0.0.1:PORT [-size 40]
//	loadgen -proto exec [-- COMMAND [ARG...]]      (default: true)
//
// Common flags: -c clients (default 64), -d how long to send (default 10s),
// -n how many requests in all (default 0: no limit but -d).
//
// The protocols:
//   - http: POST the form name=lg-<client>-<n>&delay=<-delay> over one
//     keep-alive HTTP/1.1 connection per client, the request written by hand
//     and the response read with http.ReadResponse, as lean as the beanstalk
//     client (net/http's Client costs about 40 % of the throughput on two
//     cores); 201 Created counts as ok, any other status as other.
//   - beanstalk: one TCP connection per client, each sending
//     "put 0 0 60 <bytes>\r\n<body>\r\n" (beanstalkd's protocol.txt, "put");
//     "INSERTED <id>\r\n" counts as ok, any other answer as other.
//   - redis: one TCP connection per client, each sending LPUSH loadgen:jobs
//     <body> in RESP and waiting for the reply (no pipelining); an integer
//     reply counts as ok, any other as other.
//
// A beanstalk or redis job's body is "lg-<client>-<n>" padded with dots to
// -size bytes (default 40, about a workqueue job's form body).
//   - exec: run COMMAND with exec.Command(...).Run() on each client, with no
//     queue in between: the baseline of issue 10's performance target; exit
//     status 0 counts as ok.
//
// With -wait-done (http only) it goes on, after the last submission, until
// the server's workqueue_jobs_finished_total{state="done"} has grown by the
// number accepted, and seconds counts until then.
//
// It prints one line, "proto=P ok=N other=M seconds=S rate=R", rate being
// ok / seconds, and exits 1 when nothing succeeded or -wait-done ran out of
// time (-d); 2 for a bad command line. A client that hits a network error
// counts it as other and stops; the first such error goes to standard error.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	err := run(os.Args[1:], os.Stdout, os.Stderr)
	var usage *usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
	case errors.As(err, &usage):
		fmt.Fprintf(os.Stderr, "loadgen: %v\n", err)
		os.Exit(2)
	default:
		fmt.Fprintf(os.Stderr, "loadgen: %v\n", err)
		os.Exit(1)
	}
}

// usageError is a bad command line.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }

// config is the parsed command line.
type config struct {
	proto    string        // http, beanstalk or exec
	clients  int           // concurrent clients, ≥ 1
	dur      time.Duration // how long to send, and the limit on -wait-done
	total    int64         // requests in all; 0 for no limit but dur
	url      string        // http: the POST /work URL
	addr     string        // beanstalk, redis: host:port
	size     int           // beanstalk, redis: bytes of a job's body
	delay    string        // http: the jobs' delay
	waitDone bool          // http: wait until the jobs are done
	command  []string      // exec: the command and its arguments
}

// parseFlags parses args into a config.
func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.proto, "proto", "http", "`protocol`: http, beanstalk, redis or exec")
	fs.IntVar(&c.clients, "c", 64, "concurrent clients (connections)")
	fs.DurationVar(&c.dur, "d", 10*time.Second, "how long to send")
	fs.Int64Var(&c.total, "n", 0, "requests in all (0: as many as -d allows)")
	fs.StringVar(&c.url, "url", "http://127.0.0.1:8000/work", "http: the POST /work URL")
	fs.StringVar(&c.addr, "addr", "127.0.0.1:11300", "beanstalk, redis: the server's host:port")
	fs.IntVar(&c.size, "size", 40, "beanstalk, redis: bytes of a job's body (at least its \"lg-<client>-<n>\")")
	fs.StringVar(&c.delay, "delay", "0s", "http: each job's delay")
	fs.BoolVar(&c.waitDone, "wait-done", false, "http: wait until every accepted job is done")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return c, err
		}
		return c, &usageError{err}
	}
	c.command = fs.Args()
	if len(c.command) == 0 {
		c.command = []string{"true"}
	}
	switch {
	case c.proto != "http" && c.proto != "beanstalk" && c.proto != "redis" && c.proto != "exec":
		return c, &usageError{fmt.Errorf("-proto %q: must be http, beanstalk, redis or exec", c.proto)}
	case c.size < 0:
		return c, &usageError{errors.New("-size must not be negative")}
	case c.clients < 1:
		return c, &usageError{errors.New("-c must be at least 1")}
	case c.dur <= 0:
		return c, &usageError{errors.New("-d must be more than 0s")}
	case c.total < 0:
		return c, &usageError{errors.New("-n must not be negative")}
	case c.waitDone && c.proto != "http":
		return c, &usageError{errors.New("-wait-done works only with -proto http")}
	case len(fs.Args()) > 0 && c.proto != "exec":
		return c, &usageError{fmt.Errorf("unexpected argument %q: only -proto exec takes a command", fs.Arg(0))}
	}
	return c, nil
}

// run is the whole program.
func run(args []string, stdout, stderr io.Writer) error {
	c, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	var client func(id int, t *tally)
	hc := &http.Client{Timeout: time.Minute}
	switch c.proto {
	case "http":
		u, err := url.Parse(c.url)
		if err != nil || u.Scheme != "http" || u.Host == "" {
			return &usageError{fmt.Errorf("-url %q: want http://HOST:PORT/PATH", c.url)}
		}
		client = func(id int, t *tally) { postLoop(u, c.delay, id, t) }
	case "beanstalk":
		client = func(id int, t *tally) { putLoop(c.addr, c.size, id, t) }
	case "redis":
		client = func(id int, t *tally) { pushLoop(c.addr, c.size, id, t) }
	case "exec":
		client = func(id int, t *tally) { execLoop(c.command, t) }
	}
	var done0 float64
	if c.waitDone {
		if done0, err = doneJobs(hc, c.url); err != nil {
			return err
		}
	}
	start := time.Now()
	t := &tally{deadline: start.Add(c.dur), total: c.total}
	var wg sync.WaitGroup
	for id := range c.clients {
		wg.Go(func() { client(id, t) })
	}
	wg.Wait()
	var waitErr error
	if c.waitDone {
		waitErr = waitDone(hc, c.url, done0+float64(t.ok.Load()), t.deadline)
	}
	secs := time.Since(start).Seconds()
	ok := t.ok.Load()
	fmt.Fprintf(stdout, "proto=%s ok=%d other=%d seconds=%.3f rate=%.0f\n", c.proto, ok, t.other.Load(), secs, float64(ok)/secs)
	if e := t.firstErr(); e != nil {
		fmt.Fprintf(stderr, "loadgen: %d clients stopped on errors; the first: %v\n", t.failed.Load(), e)
	}
	switch {
	case waitErr != nil:
		return waitErr
	case ok == 0:
		return errors.New("no request succeeded")
	}
	return nil
}

// tally is what the clients share: the budget of requests and the counts.
type tally struct {
	deadline time.Time // no request starts after it
	total    int64     // requests in all; 0 for no limit
	sent     atomic.Int64
	ok       atomic.Int64
	other    atomic.Int64
	failed   atomic.Int64 // clients stopped by an error

	mu  sync.Mutex // guards err
	err error      // the first error a client stopped on
}

// next reports whether a client may send one more request, and claims it.
func (t *tally) next() bool {
	if t.total > 0 && t.sent.Add(1) > t.total {
		return false
	}
	return time.Now().Before(t.deadline)
}

// fail counts err as one other answer and records it if it is the first.
func (t *tally) fail(err error) {
	t.other.Add(1)
	t.failed.Add(1)
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.err == nil {
		t.err = err
	}
}

// firstErr returns the first error a client stopped on, or nil.
func (t *tally) firstErr() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.err
}

// putLoop is one beanstalk client: on its own connection to addr it puts
// jobs of size bytes until the budget ends.
func putLoop(addr string, size, id int, t *tally) {
	closedLoop(addr, size, id, t, func(w *bufio.Writer, body string) {
		fmt.Fprintf(w, "put 0 0 60 %d\r\n%s\r\n", len(body), body)
	}, "INSERTED ")
}

// closedLoop is one client of a line protocol: on its own connection to
// addr it writes each job's request with send, waits for the reply's first
// line and counts it ok if it starts with okPrefix, other otherwise, until
// the budget ends: no pipelining, a closed loop like wrk's.
func closedLoop(addr string, size, id int, t *tally, send func(w *bufio.Writer, body string), okPrefix string) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.fail(err)
		return
	}
	defer conn.Close()
	r := bufio.NewReader(conn)
	w := bufio.NewWriter(conn)
	for n := 1; t.next(); n++ {
		send(w, jobBody(id, n, size))
		if err := w.Flush(); err != nil {
			t.fail(err)
			return
		}
		line, err := r.ReadString('\n')
		if err != nil {
			t.fail(err)
			return
		}
		if strings.HasPrefix(line, okPrefix) {
			t.ok.Add(1)
		} else {
			t.other.Add(1)
		}
	}
}

// execLoop is one exec client: it runs command, waiting for each run, until
// the budget ends.
func execLoop(command []string, t *tally) {
	for t.next() {
		err := exec.Command(command[0], command[1:]...).Run()
		var exit *exec.ExitError
		switch {
		case err == nil:
			t.ok.Add(1)
		case errors.As(err, &exit):
			t.other.Add(1)
		default: // it cannot start: no run will
			t.fail(err)
			return
		}
	}
}
