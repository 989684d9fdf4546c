package jobjournal

import (
	"context"
	"strings"
	"testing"
	"time"

	"workqueue/internal/job"
	"workqueue/internal/journal"
	"workqueue/internal/testutil"
)

// TestNodeSurvivesCompaction journals a node, then jobs enough for many
// compactions, none of them kept: the node record, of key 0, is kept by
// every compaction, so the journal still names its node at the next start,
// gives the jobs its ids, and refuses another node, naming both.
func TestNodeSurvivesCompaction(t *testing.T) {
	dir := t.TempDir()
	o := journal.Options{Sync: journal.SyncNever, SegmentBytes: 4096, Live: func(key uint64) bool { return key == 1 }}
	l, err := Open(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	if rep, err := l.Replay(context.Background(), "eu-1"); err != nil || rep.Node != "" || rep.Records != 0 {
		t.Fatalf("Replay of a new journal = %+v, %v; want no node, no record", rep, err)
	}
	if err := l.Node("eu-1"); err != nil {
		t.Fatal(err)
	}
	for seq := uint64(1); seq <= 2000; seq++ {
		if err := l.Accepted(job.New(job.FormatID("eu-1", seq), seq, "some name", 0, "", time.Unix(1, 0), job.Policy{})); err != nil {
			t.Fatal(err)
		}
	}
	if !testutil.PollUntil(time.Now().Add(10*time.Second), func() bool { return l.Journal().Compactions() >= 2 }) {
		t.Fatalf("%d compactions after 10s, want 2 or more", l.Journal().Compactions())
	}
	l.Close()

	replay := func(node string) (Replayed, error) {
		l, err := Open(dir, o)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return l.Replay(context.Background(), node)
	}
	rep, err := replay("eu-1")
	if err != nil || rep.Node != "eu-1" || len(rep.Unfinished) == 0 || rep.Unfinished[0].ID != "eu-1-1" {
		t.Fatalf("Replay after compactions = node %q, %d unfinished, %v; want node eu-1 and job eu-1-1 first", rep.Node, len(rep.Unfinished), err)
	}
	for _, other := range []string{"eu-2", ""} {
		_, err := replay(other)
		if err == nil || !strings.Contains(err.Error(), "was written by -node eu-1") || !strings.Contains(err.Error(), nodeFlag(other)) {
			t.Errorf("Replay as %q: %v, want a refusal naming -node eu-1 and %s", other, err, nodeFlag(other))
		}
	}
}
