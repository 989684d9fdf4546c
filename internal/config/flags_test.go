package config

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"workqueue/internal/journal"
)

// TestFlags checks the command line: defaults, good values, and bad values,
// each refused with a usage error that names the flag.
func TestFlags(t *testing.T) {
	tests := []struct {
		args    []string
		want    Config // for good args
		wantErr string // part of the message, for bad args
	}{
		{args: nil, want: Config{Workers: 4, MaxWorkers: 1024, MaxRetries: 25, MaxPayload: 64 << 10, MaxAhead: 720 * time.Hour, MaxScheduled: 100_000, MaxBatch: 1000, Addr: "127.0.0.1:8000", Queue: 100, MaxDelay: 10 * time.Second, ShutdownTimeout: 30 * time.Second}},
		{args: []string{"-n", "8", "-http", ":9000", "-insecure", "-queue", "1", "-max-delay", "0s", "-shutdown-timeout", "1m", "-log-level", "debug"},
			want: Config{Workers: 8, MaxWorkers: 1024, MaxRetries: 25, MaxPayload: 64 << 10, MaxAhead: 720 * time.Hour, MaxScheduled: 100_000, MaxBatch: 1000, Addr: ":9000", Insecure: true, Queue: 1, MaxDelay: 0, ShutdownTimeout: time.Minute, LogLevel: -4}},
		{args: []string{"-n", "-1"}, wantErr: `invalid value "-1" for flag -n: must be at least 0`},
		{args: []string{"-n", "four"}, wantErr: `invalid value "four" for flag -n: not a whole number`},
		{args: []string{"-queue", "-1"}, wantErr: `invalid value "-1" for flag -queue: must be at least 1`},
		{args: []string{"-max-delay", "abc"}, wantErr: `invalid value "abc" for flag -max-delay: not a duration`},
		{args: []string{"-max-delay", "-1s"}, wantErr: `invalid value "-1s" for flag -max-delay: must not be negative`},
		{args: []string{"-shutdown-timeout", "0s"}, wantErr: `invalid value "0s" for flag -shutdown-timeout: must be more than 0s`},
		{args: []string{"-log-level", "loud"}, wantErr: `invalid value "loud" for flag -log-level: must be debug, info, warn or error`},
		{args: []string{"-n", "1024", "-queue", "1000000", "-max-delay", "24h", "-shutdown-timeout", "24h"},
			want: Config{Workers: 1024, MaxWorkers: 1024, MaxRetries: 25, MaxPayload: 64 << 10, MaxAhead: 720 * time.Hour, MaxScheduled: 100_000, MaxBatch: 1000, Addr: "127.0.0.1:8000", Queue: 1_000_000, MaxDelay: 24 * time.Hour, ShutdownTimeout: 24 * time.Hour}},
		{args: []string{"-n", "1025"}, wantErr: `invalid value "1025" for flag -n: must be at most 1024`},
		{args: []string{"-n", "100000000"}, wantErr: `invalid value "100000000" for flag -n: must be at most 1024`},
		{args: []string{"-n", "99999999999999999999"}, wantErr: `invalid value "99999999999999999999" for flag -n: must be at most 1024`},
		{args: []string{"-n", "-99999999999999999999"}, wantErr: `for flag -n: not a whole number`},
		{args: []string{"-queue", "1000001"}, wantErr: `invalid value "1000001" for flag -queue: must be at most 1000000`},
		{args: []string{"-max-delay", "24h0m1s"}, wantErr: `invalid value "24h0m1s" for flag -max-delay: must be at most 24h0m0s`},
		{args: []string{"-shutdown-timeout", "8760h"}, wantErr: `invalid value "8760h" for flag -shutdown-timeout: must be at most 24h0m0s`},
		{args: []string{"-shutdown-timeout", "9999999999h"}, wantErr: `for flag -shutdown-timeout: not a duration such as 500ms, 10s or 1m (at most 24h0m0s)`},
		{args: []string{"-http", "localhost"}, wantErr: `invalid value "localhost" for flag -http: want host:port, such as localhost:8000`},
		{args: []string{"-http", "8080"}, wantErr: `invalid value "8080" for flag -http: want host:port, such as localhost:8080`},
		{args: []string{"-http", "::1"}, wantErr: `invalid value "::1" for flag -http: want host:port, such as localhost:8000`},
		{args: []string{"-http", "127.0.0.1:65536"}, wantErr: `for flag -http: the port must be from 0 to 65535, such as 127.0.0.1:8000`},
		{args: []string{"-http", "[::1]:8080"}, want: Config{Workers: 4, MaxWorkers: 1024, MaxRetries: 25, MaxPayload: 64 << 10, MaxAhead: 720 * time.Hour, MaxScheduled: 100_000, MaxBatch: 1000, Addr: "[::1]:8080", Queue: 100, MaxDelay: 10 * time.Second, ShutdownTimeout: 30 * time.Second}},
		{args: []string{"-workers", "3"}, wantErr: "flag provided but not defined: -workers"},
		{args: []string{"extra"}, wantErr: `unexpected argument "extra"`},
		{args: []string{"-n", "2", "-max-workers", "8", "-journal", "/tmp/j", "-fsync", "50ms"},
			want: Config{Workers: 2, MaxWorkers: 8, MaxRetries: 25, MaxPayload: 64 << 10, MaxAhead: 720 * time.Hour, MaxScheduled: 100_000, MaxBatch: 1000, Addr: "127.0.0.1:8000", Queue: 100, MaxDelay: 10 * time.Second, ShutdownTimeout: 30 * time.Second,
				JournalDir: "/tmp/j", Fsync: journal.SyncEvery(50 * time.Millisecond)}},
		{args: []string{"-n", "9", "-max-workers", "8"}, wantErr: "-n 9 is above -max-workers 8"},
		{args: []string{"-max-workers", "1025"}, wantErr: `invalid value "1025" for flag -max-workers: must be at most 1024`},
		{args: []string{"-fsync", "never"}, wantErr: "-fsync never needs -journal DIR"},
		{args: []string{"-journal", "/tmp/j", "-fsync", "sometimes"}, wantErr: `invalid value "sometimes" for flag -fsync`},
		{args: []string{"-journal", ""}, wantErr: `invalid value "" for flag -journal: want a directory`},
		{args: []string{"-allow-host", "Proxy.Example.", "-allow-host", "a.example, 192.0.2.7,[2001:db8::1],proxy.example", "-http", "localhost:8000"},
			want: Config{Workers: 4, MaxWorkers: 1024, MaxRetries: 25, MaxPayload: 64 << 10, MaxAhead: 720 * time.Hour, MaxScheduled: 100_000, MaxBatch: 1000, Addr: "localhost:8000", Queue: 100, MaxDelay: 10 * time.Second, ShutdownTimeout: 30 * time.Second,
				AllowHosts: []string{"proxy.example", "a.example", "192.0.2.7", "2001:db8::1"}}},
		{args: []string{"-allow-host", "wq.internal", "-http", "[::1]:8000"},
			want: Config{Workers: 4, MaxWorkers: 1024, MaxRetries: 25, MaxPayload: 64 << 10, MaxAhead: 720 * time.Hour, MaxScheduled: 100_000, MaxBatch: 1000, Addr: "[::1]:8000", Queue: 100, MaxDelay: 10 * time.Second, ShutdownTimeout: 30 * time.Second,
				AllowHosts: []string{"wq.internal"}}},
		{args: []string{"-allow-host", "wq.internal", "-http", "myhost:8000", "-insecure"}, // may resolve to 127.0.1.1: the listener knows
			want: Config{Workers: 4, MaxWorkers: 1024, MaxRetries: 25, MaxPayload: 64 << 10, MaxAhead: 720 * time.Hour, MaxScheduled: 100_000, MaxBatch: 1000, Addr: "myhost:8000", Insecure: true, Queue: 100, MaxDelay: 10 * time.Second, ShutdownTimeout: 30 * time.Second,
				AllowHosts: []string{"wq.internal"}}},
		{args: []string{"-n", "0"}, want: Config{Workers: 0, MaxWorkers: 1024, MaxRetries: 25, MaxPayload: 64 << 10, MaxAhead: 720 * time.Hour, MaxScheduled: 100_000, MaxBatch: 1000, Addr: "127.0.0.1:8000", Queue: 100, MaxDelay: 10 * time.Second, ShutdownTimeout: 30 * time.Second}},
		{args: []string{"-remote", "http://10.0.0.1:8000/", "-lease", "5s", "--", "true"},
			want: Config{Workers: 4, MaxWorkers: 1024, MaxRetries: 25, MaxPayload: 64 << 10, MaxAhead: 720 * time.Hour, MaxScheduled: 100_000, MaxBatch: 1000, Addr: "127.0.0.1:8000", Queue: 100, MaxDelay: 10 * time.Second, ShutdownTimeout: 30 * time.Second,
				Remote: "http://10.0.0.1:8000", Lease: 5 * time.Second, Command: []string{"true"}}},
		{args: []string{"-remote", "10.0.0.1:8000", "--", "true"}, wantErr: `for flag -remote: want the server's URL`},
		{args: []string{"-remote", "http://10.0.0.1:8000"}, wantErr: `-remote runs jobs as a remote worker: give the command after --`},
		{args: []string{"-remote", "http://10.0.0.1:8000", "-n", "0", "--", "true"}, wantErr: `-n 0 with -remote`},
		{args: []string{"-lease", "5s"}, wantErr: `-lease applies to -remote`},
		{args: []string{"-remote", "http://h:1", "-lease", "100ms", "--", "true"}, wantErr: `for flag -lease: want a duration from 1s to 1h`},
		{args: []string{"-allow-host", "proxy.example:8080"}, wantErr: `invalid value "proxy.example:8080" for flag -allow-host: want a host name without a port`},
		{args: []string{"-allow-host", "http://proxy.example"}, wantErr: `for flag -allow-host: want a host name alone, without a scheme`},
		{args: []string{"-allow-host", "*.example"}, wantErr: `for flag -allow-host: want a host name such as proxy.example; wildcards are not supported`},
		{args: []string{"-allow-host", ""}, wantErr: `invalid value "" for flag -allow-host: want a host name`},
		{args: []string{"-allow-host", "a,,b"}, wantErr: `invalid value "a,,b" for flag -allow-host: want a host name`},
		{args: []string{"-allow-host", "proxy.example", "-http", ":8000"}, wantErr: `-allow-host applies to a server listening on loopback: on -http :8000 the Host`},
		{args: []string{"-http", "0.0.0.0:8000", "-allow-host", "proxy.example"}, wantErr: `-allow-host applies to a server listening on loopback`},
		{args: []string{"-http", "192.0.2.1:8000", "-allow-host", "proxy.example"}, wantErr: `-allow-host applies to a server listening on loopback`},
		{args: []string{"-node", "eu-1"}, want: Config{Workers: 4, MaxWorkers: 1024, MaxRetries: 25, MaxPayload: 64 << 10, MaxAhead: 720 * time.Hour, MaxScheduled: 100_000, MaxBatch: 1000, Addr: "127.0.0.1:8000", Queue: 100, MaxDelay: 10 * time.Second, ShutdownTimeout: 30 * time.Second, Node: "eu-1"}},
		{args: []string{"-node", "abcdefghijklmnopqrstuvwxyz012345"}, want: Config{Workers: 4, MaxWorkers: 1024, MaxRetries: 25, MaxPayload: 64 << 10, MaxAhead: 720 * time.Hour, MaxScheduled: 100_000, MaxBatch: 1000, Addr: "127.0.0.1:8000", Queue: 100, MaxDelay: 10 * time.Second, ShutdownTimeout: 30 * time.Second, Node: "abcdefghijklmnopqrstuvwxyz012345"}},
		{args: []string{"-node", "abcdefghijklmnopqrstuvwxyz0123456"}, wantErr: `for flag -node: want 1 to 32 of a-z, 0-9 and -, starting with a letter`},
		{args: []string{"-node", ""}, wantErr: `for flag -node: want 1 to 32`},
		{args: []string{"-node", "1a"}, wantErr: `for flag -node: want 1 to 32`},
		{args: []string{"-node", "-a"}, wantErr: `for flag -node: want 1 to 32`},
		{args: []string{"-node", "A"}, wantErr: `for flag -node: want 1 to 32`},
		{args: []string{"-node", "a_b"}, wantErr: `for flag -node: want 1 to 32`},
		{args: []string{"-node", "a.b"}, wantErr: `for flag -node: want 1 to 32`},
		{args: []string{"-http", ":8000"}, wantErr: `-http :8000 is not a loopback address: anyone who can reach it could run jobs; give -token-file FILE, or -insecure`},
		{args: []string{"-http", "0.0.0.0:8000"}, wantErr: `-http 0.0.0.0:8000 is not a loopback address: anyone who can reach it could run jobs`},
		{args: []string{"-http", "[::]:8000"}, wantErr: `is not a loopback address`},
		{args: []string{"-http", "192.0.2.1:8000"}, wantErr: `is not a loopback address`},
		{args: []string{"-http", "myhost:8000"}, wantErr: `is not a loopback address`},
		{args: []string{"-http", "0.0.0.0:8000", "-insecure"}, want: Config{Workers: 4, MaxWorkers: 1024, MaxRetries: 25, MaxPayload: 64 << 10, MaxAhead: 720 * time.Hour, MaxScheduled: 100_000, MaxBatch: 1000, Addr: "0.0.0.0:8000", Insecure: true, Queue: 100, MaxDelay: 10 * time.Second, ShutdownTimeout: 30 * time.Second}},
		{args: []string{"-http", "127.1.2.3:8000"}, want: Config{Workers: 4, MaxWorkers: 1024, MaxRetries: 25, MaxPayload: 64 << 10, MaxAhead: 720 * time.Hour, MaxScheduled: 100_000, MaxBatch: 1000, Addr: "127.1.2.3:8000", Queue: 100, MaxDelay: 10 * time.Second, ShutdownTimeout: 30 * time.Second}},
		{args: []string{"-http", "localhost:8000"}, want: Config{Workers: 4, MaxWorkers: 1024, MaxRetries: 25, MaxPayload: 64 << 10, MaxAhead: 720 * time.Hour, MaxScheduled: 100_000, MaxBatch: 1000, Addr: "localhost:8000", Queue: 100, MaxDelay: 10 * time.Second, ShutdownTimeout: 30 * time.Second}},
		{args: []string{"-tls-cert", "cert.pem"}, wantErr: `-tls-cert needs -tls-key`},
		{args: []string{"-tls-key", "key.pem"}, wantErr: `-tls-key needs -tls-cert`},
		{args: []string{"-tls-cert", "/nonexistent/cert.pem", "-tls-key", "/nonexistent/key.pem"}, wantErr: `-tls-cert /nonexistent/cert.pem with -tls-key /nonexistent/key.pem: open /nonexistent/cert.pem`},
		{args: []string{"-tls-ca", "/nonexistent/ca.pem"}, wantErr: `invalid value "/nonexistent/ca.pem" for flag -tls-ca`},
		{args: []string{"-token-file", "/nonexistent/tokens"}, wantErr: `invalid value "/nonexistent/tokens" for flag -token-file`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var stderr strings.Builder
			cfg, err := Parse(tt.args, &stderr)
			if tt.wantErr == "" {
				if err != nil || !reflect.DeepEqual(cfg, tt.want) {
					t.Fatalf("Parse(%q) = %+v, %v; want %+v", tt.args, cfg, err, tt.want)
				}
				return
			}
			var ue *UsageError
			if !errors.As(err, &ue) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Parse(%q) error = %v, want a usage error containing %q", tt.args, err, tt.wantErr)
			}
			if stderr.Len() != 0 {
				t.Errorf("Parse wrote %q; main writes the one-line message", stderr.String())
			}
		})
	}
}
