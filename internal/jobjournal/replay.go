package jobjournal

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"

	"workqueue/internal/job"
	"workqueue/internal/journal"
)

// Replayed is what the journal held at start.
type Replayed struct {
	Unfinished []*job.Job // queued or running when the last process ended, in id order
	Finished   []*job.Job // final, in the order they finished
	Records    int        // how many records the journal held
}

// replayEvery is how many records replay reads between looks at its context.
const replayEvery = 4096

// Replay reads every record of the journal and rebuilds the jobs. Records of
// a job whose acceptance the journal no longer holds (compacted away once
// the job left the store) are passed over. It stops, with ctx's cause, if
// ctx ends first.
func (l *Log) Replay(ctx context.Context) (Replayed, error) {
	type folding struct {
		r    *job.Job
		st   job.Status // r's status as the records so far leave it
		last int        // r's index in finished, if it is there: a job retried and finished again is there more than once
	}
	jobs := map[uint64]*folding{}
	var out Replayed
	var finished []*folding
	err := l.j.Replay(func(jr journal.Record) error {
		out.Records++
		if out.Records%replayEvery == 0 && ctx.Err() != nil {
			return context.Cause(ctx)
		}
		rec, err := decodeRecord(jr.Type, jr.Data)
		switch {
		case err != nil:
			return fmt.Errorf("record %d, of job %d: %w", out.Records, jr.Key, err)
		case jr.Type == recAccepted:
			r := job.New(strconv.FormatUint(jr.Key, 10), jr.Key, rec.Name, rec.Delay, rec.Key, rec.EnqueuedAt, rec.Policy)
			r.RunAt = rec.RunAt
			r.SetPayload(rec.Payload)
			jobs[jr.Key] = &folding{r: r}
		case jr.Type == recRefused:
			delete(jobs, jr.Key)
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
	for i, f := range finished {
		if f.last != i || !f.st.State.Final() {
			continue // finished again later, or retried since
		}
		f.r.Restore(f.st)
		out.Finished = append(out.Finished, f.r)
	}
	for _, f := range jobs {
		if !f.st.State.Final() {
			f.st.State, f.st.Worker, f.st.StartedAt = job.Queued, 0, 0
			f.r.Restore(f.st)
			out.Unfinished = append(out.Unfinished, f.r)
		}
	}
	slices.SortFunc(out.Unfinished, func(a, b *job.Job) int { return cmp.Compare(a.Seq, b.Seq) })
	return out, nil
}
