package main

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"workqueue/internal/job"
)

// TestCommandAbandonedNotLoggedFinished checks that a command job still
// running when a drain gives up, with -journal, is not logged as finished:
// the journal keeps it running and the next start runs it again, as the
// drain's own log line says. Without -journal it did fail, and is logged so.
func TestCommandAbandonedNotLoggedFinished(t *testing.T) {
	for _, journaled := range []bool{true, false} {
		cfg := testConfig()
		cfg.Workers, cfg.LogLevel = 1, slog.LevelInfo
		c := shCommand(t, "sleep 30", 0)
		cfg.Command = append([]string{c.Path}, c.Args...)
		var ts *testServer
		if journaled {
			cfg.JournalDir = t.TempDir()
			var err error
			if ts, err = recoverServer(cfg, workFor(c)); err != nil {
				t.Fatal(err)
			}
			defer ts.journal.Close()
			ts.start()
		} else {
			ts = newTestServer(t, cfg, workFor(c))
		}
		id := ts.submitID(t, "held", "0s")
		ts.waitJob(t, id, "running", func(j job.View) bool { return j.State == "running" })
		ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
		err := ts.drain(ctx)
		cancel()
		if err == nil {
			t.Fatal("drain = nil, want it abandoned")
		}
		logs := ts.logs.String()
		got := strings.Contains(logs, `msg="job finished"`)
		if journaled && got {
			t.Errorf("with -journal, the abandoned job %s is logged as finished, though it runs again at the next start:\n%s", id, logs)
		}
		if !journaled && !got {
			t.Errorf("without -journal, the abandoned job %s failed but is not logged as finished:\n%s", id, logs)
		}
	}
}
