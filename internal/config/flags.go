package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"workqueue/internal/auth"
	"workqueue/internal/hostguard"
	"workqueue/internal/journal"
)

// UsageError is a bad command line: Err says what is wrong in words a user
// can act on. main exits 2 with it.
type UsageError struct{ Err error }

// Error returns Err's message.
func (e *UsageError) Error() string { return e.Err.Error() }

// Parse parses args, the command line without the program's name, into a
// Config, starting from Default. For -h it writes the usage text to stderr
// and returns flag.ErrHelp; every other error is a *UsageError, and it
// writes nothing.
func Parse(args []string, stderr io.Writer) (Config, error) {
	cfg := Default()
	fs := flag.NewFlagSet("workqueue", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	flags, command, hasCommand := cutCommand(args)
	fs.Func("n", "", wholeNumber(&cfg.Workers, 0, maxWorkersLimit))
	fs.Func("max-workers", "", wholeNumber(&cfg.MaxWorkers, 1, maxWorkersLimit))
	fs.Func("http", "", listenAddr(&cfg.Addr))
	fs.Func("queue", "", wholeNumber(&cfg.Queue, 1, MaxQueue))
	fs.Func("max-delay", "", duration(&cfg.MaxDelay, false, maxMaxDelay))
	fs.Func("shutdown-timeout", "", duration(&cfg.ShutdownTimeout, true, maxShutdownTimeout))
	fs.Func("journal", "", func(s string) error {
		if s == "" {
			return errors.New("want a directory, such as /var/lib/workqueue")
		}
		cfg.JournalDir = s
		return nil
	})
	fsync := ""
	fs.Func("fsync", "", func(s string) error {
		sync, err := journal.ParseSync(s)
		if err != nil {
			return err
		}
		cfg.Fsync, fsync = sync, s
		return nil
	})
	fs.Func("log-level", "", func(s string) error {
		switch strings.ToLower(s) {
		case "debug", "info", "warn", "error":
			return cfg.LogLevel.UnmarshalText([]byte(s))
		}
		return errors.New("must be debug, info, warn or error")
	})
	fs.Func("retries", "", wholeNumber(&cfg.Retries, 0, maxRetries))
	fs.Func("job-timeout", "", duration(&cfg.JobTimeout, false, maxJobTimeout))
	fs.Func("max-retries", "", wholeNumber(&cfg.MaxRetries, 0, maxRetries))
	fs.Func("max-payload", "", size(&cfg.MaxPayload, maxMaxPayload, "1MiB"))
	fs.Func("max-ahead", "", duration(&cfg.MaxAhead, true, maxMaxAhead))
	fs.Func("max-scheduled", "", wholeNumber(&cfg.MaxScheduled, 0, maxMaxScheduled))
	fs.Func("max-batch", "", wholeNumber(&cfg.MaxBatch, 1, maxMaxBatch))
	fs.Func("allow-host", "", allowHost(&cfg.AllowHosts))
	fs.Func("node", "", node(&cfg.Node))
	fs.Func("token-file", "", func(s string) error {
		t, err := auth.Load(s)
		cfg.TokenFile, cfg.Tokens = s, t
		return err
	})
	fs.BoolVar(&cfg.Insecure, "insecure", false, "")
	fs.Func("tls-cert", "", file(&cfg.TLSCert))
	fs.Func("tls-key", "", file(&cfg.TLSKey))
	fs.Func("tls-ca", "", func(s string) error {
		if _, err := ClientTLS(s); err != nil {
			return err
		}
		cfg.TLSCA = s
		return nil
	})
	fs.Func("remote", "", remoteURL(&cfg.Remote))
	lease := false
	fs.Func("lease", "", func(v string) error {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Second || d > time.Hour {
			return errors.New("want a duration from 1s to 1h, such as 60s")
		}
		cfg.Lease, lease = d, true
		return nil
	})
	switch err := fs.Parse(flags); {
	case errors.Is(err, flag.ErrHelp):
		io.WriteString(stderr, usage)
		return cfg, err
	case err != nil:
		return cfg, &UsageError{err}
	case fs.NArg() > 0:
		return cfg, &UsageError{fmt.Errorf("unexpected argument %q: workqueue takes flags, then -- COMMAND [ARG...] if its jobs run a command", fs.Arg(0))}
	case lease && cfg.Remote == "":
		return cfg, &UsageError{errors.New("-lease applies to -remote: it is the lease each of a remote worker's claims asks for")}
	case cfg.TLSCA != "" && cfg.Remote == "":
		return cfg, &UsageError{errors.New("-tls-ca applies to -remote: it is the CA a remote worker trusts for the server's certificate")}
	case cfg.Remote != "" && !hasCommand:
		return cfg, &UsageError{errors.New("-remote runs jobs as a remote worker: give the command after --, as in workqueue -remote URL -- COMMAND [ARG...]")}
	case cfg.Remote != "" && cfg.Workers == 0:
		return cfg, &UsageError{errors.New("-n 0 with -remote would run no remote worker at all: use 1 or more")}
	case cfg.Workers > cfg.MaxWorkers:
		return cfg, &UsageError{fmt.Errorf("-n %d is above -max-workers %d", cfg.Workers, cfg.MaxWorkers)}
	case fsync != "" && cfg.JournalDir == "":
		return cfg, &UsageError{fmt.Errorf("-fsync %s needs -journal DIR: without a journal nothing is written to disk", fsync)}
	case cfg.AllowHosts != nil && !maybeLoopback(cfg.Addr):
		return cfg, &UsageError{fmt.Errorf("-allow-host applies to a server listening on loopback: on -http %s the Host of a request is not checked at all", cfg.Addr)}
	}
	if err := checkExposure(cfg); err != nil {
		return cfg, &UsageError{err}
	}
	return cfg, setCommand(&cfg, command, hasCommand)
}

// cutCommand splits args at the first "--" into the flags before it and the
// command after it, and reports whether there was a "--". Splitting before
// parsing, rather than letting package flag stop at "--", keeps a flag that
// lacks its value (-n --) from taking "--" as one.
func cutCommand(args []string) (flags, command []string, ok bool) {
	i := slices.Index(args, "--")
	if i < 0 {
		return args, nil, false
	}
	return args[:i], args[i+1:], true
}

// setCommand sets cfg.Command to the words after "--", if there was one.
// -retries and -job-timeout need a command: with the greeting alone no
// attempt can fail or overrun, and a flag that silently does nothing is a
// trap.
func setCommand(cfg *Config, argv []string, ok bool) error {
	if !ok {
		switch {
		case cfg.JobTimeout > 0:
			return &UsageError{errors.New("-job-timeout applies to a command: give one after --, as in workqueue -job-timeout 30s -- COMMAND [ARG...]")}
		case cfg.Retries > 0:
			return &UsageError{errors.New("-retries applies to a command: give one after --, as in workqueue -retries 3 -- COMMAND [ARG...]")}
		}
		return nil
	}
	if len(argv) == 0 {
		return &UsageError{errors.New("-- must be followed by the COMMAND each job runs, as in workqueue -- scripts/examples/flaky.sh")}
	}
	cfg.Command = argv
	return nil
}

// wholeNumber returns a flag setter for a whole number from min to max.
func wholeNumber(p *int, min, max int) func(string) error {
	return func(s string) error {
		n, err := strconv.Atoi(s)
		switch {
		case errors.Is(err, strconv.ErrRange) && !strings.HasPrefix(s, "-"):
			return fmt.Errorf("must be at most %d", max)
		case err != nil:
			return errors.New("not a whole number")
		case n < min:
			return fmt.Errorf("must be at least %d", min)
		case n > max:
			return fmt.Errorf("must be at most %d", max)
		}
		*p = n
		return nil
	}
}

// duration returns a flag setter for a duration that is not negative, not
// more than max and, if positive is set, not zero either.
func duration(p *time.Duration, positive bool, max time.Duration) func(string) error {
	return func(s string) error {
		d, err := time.ParseDuration(strings.TrimSpace(s))
		switch {
		case err != nil:
			return fmt.Errorf("not a duration such as 500ms, 10s or 1m (at most %v)", max)
		case d < 0:
			return errors.New("must not be negative")
		case d == 0 && positive:
			return errors.New("must be more than 0s")
		case d > max:
			return fmt.Errorf("must be at most %v", max)
		}
		*p = d
		return nil
	}
}

// size returns a flag setter for a size in bytes from 1 to max, written as
// a whole number of bytes (512), KiB (64KiB) or MiB (1MiB); maxText is max
// written so.
func size(p *int, max int, maxText string) func(string) error {
	return func(s string) error {
		num, unit := s, 1
		for _, u := range [...]struct {
			suffix string
			n      int
		}{{"KiB", 1 << 10}, {"MiB", 1 << 20}} {
			if t, ok := strings.CutSuffix(s, u.suffix); ok {
				num, unit = t, u.n
			}
		}
		n, err := strconv.Atoi(num)
		switch {
		case err != nil && errors.Is(err, strconv.ErrRange) && !strings.HasPrefix(num, "-"):
			return fmt.Errorf("must be at most %s", maxText)
		case err != nil || strings.HasPrefix(num, "+"):
			return fmt.Errorf("not a size such as 512, 64KiB or 1MiB (at most %s)", maxText)
		case n < 1:
			return errors.New("must be at least 1 byte")
		case n > max/unit:
			return fmt.Errorf("must be at most %s", maxText)
		}
		*p = n * unit
		return nil
	}
}

// listenAddr returns a flag setter for an address to listen on, host:port.
// A missing port is the common mistake (-http localhost): say what to give.
func listenAddr(p *string) func(string) error {
	return func(s string) error {
		host, port, err := net.SplitHostPort(s)
		if err != nil {
			example := "localhost:8000"
			if _, err := strconv.Atoi(s); err == nil {
				example = "localhost:" + s // a port without a host
			} else if s != "" && !strings.ContainsAny(s, ":[]") {
				example = s + ":8000" // a host without a port
			}
			return fmt.Errorf("want host:port, such as %s", example)
		}
		if n, err := strconv.Atoi(port); err == nil && (n < 0 || n > 65535) {
			return fmt.Errorf("the port must be from 0 to 65535, such as %s", net.JoinHostPort(host, "8000"))
		}
		*p = s
		return nil
	}
}

// allowHost returns a flag setter that adds to *p the names of one
// -allow-host, a name or several, comma-separated. The flag may be given
// more than once.
func allowHost(p *[]string) func(string) error {
	return func(s string) error {
		for name := range strings.SplitSeq(s, ",") {
			n, err := hostguard.ParseName(strings.TrimSpace(name))
			if err != nil {
				return err
			}
			if !slices.Contains(*p, n) {
				*p = append(*p, n)
			}
		}
		return nil
	}
}

// maybeLoopback reports whether addr, an -http address, may be a loopback
// one: its host is not every address ("", 0.0.0.0, ::) nor an IP address
// other than loopback. A name other than localhost may resolve to loopback
// (Debian gives the machine's own name 127.0.1.1): only the listener knows.
func maybeLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return false
	}
	if ip := net.ParseIP(host); ip != nil {
		return ip.IsLoopback()
	}
	return true
}

// remoteURL returns the flag function of -remote: an http or https URL
// with a host, such as http://127.0.0.1:8000.
func remoteURL(dst *string) func(string) error {
	return func(s string) error {
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return errors.New("want the server's URL, such as http://127.0.0.1:8000")
		}
		*dst = strings.TrimSuffix(s, "/")
		return nil
	}
}

// maxNode is the longest -node: the id of a job stays short.
const maxNode = 32

// node returns a flag setter for -node: 1 to maxNode of a-z, 0-9 and '-',
// starting with a letter, so that a node's ids (a-17) never look like
// another node's, nor a bare number, and fit any URL and log unquoted.
func node(p *string) func(string) error {
	return func(s string) error {
		if s == "" || len(s) > maxNode || s[0] < 'a' || s[0] > 'z' {
			return fmt.Errorf("want 1 to %d of a-z, 0-9 and -, starting with a letter, such as a or eu-1", maxNode)
		}
		for _, c := range []byte(s) {
			if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
				return fmt.Errorf("want 1 to %d of a-z, 0-9 and -, starting with a letter, such as a or eu-1", maxNode)
			}
		}
		*p = s
		return nil
	}
}
