package jobjournal

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"workqueue/internal/job"
	"workqueue/internal/journal"
)

// Replayed is what the journal held at start.
type Replayed struct {
	Unfinished []*job.Job // queued or running when the last process ended, in id order
	Finished   []*job.Job // final, in the order they finished
	Records    int        // how many records the journal held
	Node       string     // the -node the journal was written by, or "" for none
}

// replayEvery is how many records replay reads between looks at its context.
const replayEvery = 4096

// replayRecordBytes is about the smallest a job's acceptance record is on
// disk, framing included, and replayHintMax the most jobs replay sizes its
// map for at once: the journal's size over the first is how many jobs it may
// hold.
const (
	replayRecordBytes = 40
	replayHintMax     = 1 << 22
)

// Replay reads every record of the journal and rebuilds the jobs of the
// server of -node node ("" for none), giving them its ids. Records of a job
// whose acceptance the journal no longer holds (compacted away once the job
// left the store) are passed over. It refuses, naming both, a journal
// written by another node (one without the node record that holds records
// is of node ""): its ids would change. It stops, with ctx's cause, if ctx
// ends first.
func (l *Log) Replay(ctx context.Context, node string) (Replayed, error) {
	type folding struct {
		r    *job.Job
		st   job.Status // r's status as the records so far leave it
		last int        // r's index in finished, if it is there: a job retried and finished again is there more than once
		gone bool       // its acceptance was refused after all: it is no job
	}
	// A million unfinished jobs are a million entries: sized at once, the
	// map is not rebuilt twenty times on the way, and the jobs are listed in
	// the order they were accepted (ids nearly in order, so the sort below
	// is quick), not in the map's.
	hint := int(min(l.j.Bytes()/replayRecordBytes, replayHintMax))
	jobs := make(map[uint64]*folding, hint)
	accepted := make([]*folding, 0, hint)
	var out Replayed
	var finished []*folding
	err := l.j.Replay(func(jr journal.Record) error {
		out.Records++
		if out.Records%replayEvery == 0 && ctx.Err() != nil {
			return context.Cause(ctx)
		}
		if jr.Type == recNode {
			out.Node = string(jr.Data)
			return nil
		}
		rec, err := decodeRecord(jr.Type, jr.Data)
		switch {
		case err != nil:
			return fmt.Errorf("record %d, of job %d: %w", out.Records, jr.Key, err)
		case jr.Type == recAccepted:
			r := job.New(job.FormatID(node, jr.Key), jr.Key, rec.Name, rec.Delay, rec.Key, rec.EnqueuedAt, rec.Policy)
			if old := jobs[jr.Key]; old != nil {
				old.gone = true // accepted again: the later record is the job
			}
			f := &folding{r: r}
			jobs[jr.Key] = f
			accepted = append(accepted, f)
		case jr.Type == recRefused:
			if f := jobs[jr.Key]; f != nil {
				f.gone = true
				delete(jobs, jr.Key)
			}
		case jobs[jr.Key] != nil:
			f := jobs[jr.Key]
			restore(&f.st, jr.Type, &rec)
			if jr.Type == recFinished {
				f.last = len(finished)
				finished = append(finished, f)
			}
		}
		return nil
	})
	if err != nil {
		return out, err
	}
	if out.Node != node && (out.Node != "" || out.Records > 0) {
		return out, fmt.Errorf("-journal %s was written by %s, and this server is %s: the ids of its jobs would change; "+
			"start it with %[2]s, or give this server a -journal of its own", l.dir, nodeFlag(out.Node), nodeFlag(node))
	}
	for i, f := range finished {
		if f.last != i || !f.st.State.Final() {
			continue // finished again later, or retried since
		}
		f.r.Restore(f.st)
		out.Finished = append(out.Finished, f.r)
	}
	for _, f := range accepted {
		if !f.gone && !f.st.State.Final() {
			f.st.State, f.st.Worker, f.st.StartedAt = job.Queued, 0, 0
			f.r.Restore(f.st)
			out.Unfinished = append(out.Unfinished, f.r)
		}
	}
	slices.SortFunc(out.Unfinished, func(a, b *job.Job) int { return cmp.Compare(a.Seq, b.Seq) })
	return out, nil
}

// nodeFlag returns how a message names the server of node.
func nodeFlag(node string) string {
	if node == "" {
		return "a server without -node"
	}
	return "-node " + node
}
