package main

import (
	"context"
	enc "encoding/binary" // "binary" is the tests' path to the built server
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"workqueue/internal/journal"
)

// recoverServer builds a server from cfg, whose journalDir must be set, and
// recovers it from its journal, without starting it: its queued jobs wait
// until the caller calls start. Its logs go to ts.logs. The caller closes
// its journal (ts.journal.close) once done with it.
func recoverServer(cfg config, work Work) (*testServer, error) {
	ts := &testServer{out: new(syncBuffer), logs: new(syncBuffer)}
	log := slog.New(slog.NewTextHandler(ts.logs, &slog.HandlerOptions{Level: cfg.logLevel}))
	ts.server = newServer(cfg, work, ts.out, log)
	return ts, ts.recover(context.Background(), cfg)
}

// jobView is what the truncation test compares of a job: its name and state.
type jobView struct {
	name  string
	state State
}

// jobSet returns every job the server's store keeps, by sequence number.
func (ts *testServer) jobSet() map[uint64]jobView {
	ts.jobs.mu.Lock()
	reqs := slices.Collect(maps.Values(ts.jobs.jobs))
	ts.jobs.mu.Unlock()
	set := map[uint64]jobView{}
	for _, r := range reqs {
		r.mu.Lock()
		set[r.seq] = jobView{r.Name, r.state}
		r.mu.Unlock()
	}
	return set
}

// holdOrRun is a Work that holds the jobs whose names start with "hold"
// until their context ends, telling started as each begins, and completes
// every other job at once.
func holdOrRun(started chan<- string) Work {
	return func(ctx context.Context, r *WorkRequest) error {
		if !strings.HasPrefix(r.Name, "hold") {
			return nil
		}
		started <- r.Name
		<-ctx.Done()
		return ctx.Err()
	}
}

// smallJournal makes a journal in a new directory through a real server
// with one worker: ten jobs done, one held running when the server gave up
// its drain, eight queued behind it, one of which was canceled. It returns
// the directory and what replay must rebuild: every job by sequence number,
// the held one queued again.
func smallJournal(t *testing.T) (string, map[uint64]jobView) {
	t.Helper()
	cfg := testConfig()
	cfg.workers = 1
	cfg.journalDir = t.TempDir()
	started := make(chan string, 1)
	ts, err := recoverServer(cfg, holdOrRun(started))
	if err != nil {
		t.Fatalf("opening an empty journal: %v", err)
	}
	ts.start()
	want := map[uint64]jobView{}
	post := func(name string, state State) uint64 {
		rec := ts.submit(name, "0s")
		if rec.Code != 201 {
			t.Fatalf("POST %s: status %d: %s", name, rec.Code, rec.Body)
		}
		seq, _ := strconv.ParseUint(decodeJob(t, rec.Body.Bytes()).ID, 10, 64)
		want[seq] = jobView{name, state}
		return seq
	}
	for i := 1; i <= 10; i++ {
		post(fmt.Sprintf("quick%d", i), Done)
	}
	post("hold1", Queued) // running at the end; replay queues it again
	// With one worker, hold1 starts only once quick1..10 have finished.
	if name := <-started; name != "hold1" {
		t.Fatalf("first held job to start: %s, want hold1", name)
	}
	var cancel uint64
	for i := 1; i <= 8; i++ {
		seq := post(fmt.Sprintf("later%d", i), Queued)
		if i == 3 {
			cancel = seq
		}
	}
	if rec := ts.do("DELETE", fmt.Sprintf("/work/%d", cancel), "", ""); rec.Code != 200 {
		t.Fatalf("DELETE job %d: status %d: %s", cancel, rec.Code, rec.Body)
	}
	want[cancel] = jobView{want[cancel].name, Canceled}
	ctx, stop := context.WithCancel(context.Background())
	stop()
	if err := ts.drain(ctx); err == nil {
		t.Fatal("drain with jobs held returned nil, want it to give up")
	}
	if err := ts.journal.close(); err != nil {
		t.Fatalf("closing the journal: %v", err)
	}
	return cfg.journalDir, want
}

// recordEnds parses a segment file (internal/journal/doc.go gives the format:
// a 20-byte header, then records of a 4-byte little-endian length L, a 4-byte
// CRC and L bytes: type, 8-byte key, data) and returns the offset at which
// each record ends and the key of each acceptance among them.
func recordEnds(t *testing.T, b []byte) (ends []int, accepted map[int]uint64) {
	t.Helper()
	const header, frame = 20, 8
	accepted = map[int]uint64{}
	for off := header; off < len(b); {
		if len(b)-off < frame {
			t.Fatalf("segment ends inside a record frame at offset %d", off)
		}
		l := int(enc.LittleEndian.Uint32(b[off:]))
		end := off + frame + l
		if l < 9 || end > len(b) {
			t.Fatalf("record at offset %d: bad length %d", off, l)
		}
		if b[off+frame] == recAccepted {
			accepted[end] = enc.LittleEndian.Uint64(b[off+frame+1:])
		}
		ends = append(ends, end)
		off = end
	}
	return ends, accepted
}

var recordsRE = regexp.MustCompile(`msg="journal replayed".* records=(\d+)`)

// cutResult is what a server recovered from a cut journal rebuilt.
type cutResult struct {
	jobs    map[uint64]jobView
	records string // the count the replay's log line gives
	status  int    // of a new job submitted after recovery
	nextID  uint64 // its id
	err     error  // of recovery or of closing the journal
}

// recoverCut writes seg, cut to its first off bytes, as the only segment of
// a new journal directory under parent, recovers a server from it, submits
// one job, closes the journal and removes the directory.
func recoverCut(parent, name string, seg []byte, off int) cutResult {
	dir := filepath.Join(parent, strconv.Itoa(off))
	defer os.RemoveAll(dir)
	if err := os.Mkdir(dir, 0o700); err != nil {
		return cutResult{err: err}
	}
	if err := os.WriteFile(filepath.Join(dir, name), seg[:off], 0o600); err != nil {
		return cutResult{err: err}
	}
	cfg := testConfig()
	cfg.journalDir, cfg.fsync = dir, journal.SyncNever // fsyncs would make 1,500 opens slow
	ts, err := recoverServer(cfg, Sleep)
	if err != nil {
		return cutResult{err: fmt.Errorf("recover: %w", err)}
	}
	res := cutResult{jobs: ts.jobSet()}
	if m := recordsRE.FindStringSubmatch(ts.logs.String()); m != nil {
		res.records = m[1]
	}
	rec := ts.submit("after", "0s")
	res.status = rec.Code
	if rec.Code == 201 {
		res.nextID, _ = strconv.ParseUint(decodeJobID(rec.Body.Bytes()), 10, 64)
	}
	if err := ts.journal.close(); err != nil {
		res.err = fmt.Errorf("close: %w", err)
	}
	return res
}

// decodeJobID returns the "id" field of a job's JSON, or "".
func decodeJobID(body []byte) string {
	var j job
	json.Unmarshal(body, &j)
	return j.ID
}

// TestJournalTruncatedAtEveryOffset builds a small journal through a real
// server, then cuts its last segment at every byte offset and recovers a new
// server from each cut: recovery never fails or panics, it replays exactly
// the records that end before the cut, the jobs it rebuilds are exactly
// those whose acceptance ends before the cut (so the set only grows with the
// offset), at full length they are the original jobs with their states, and
// the next id given is above every recovered one. The cuts are recovered
// sixteen at a time: each costs a few fsyncs of the repair, which do not wait
// for one another.
func TestJournalTruncatedAtEveryOffset(t *testing.T) {
	dir, want := smallJournal(t)
	segs, _ := filepath.Glob(filepath.Join(dir, "seg-*.wqj"))
	if len(segs) != 1 {
		t.Fatalf("segments in %s: %q, want one", dir, segs)
	}
	full, err := os.ReadFile(segs[0])
	if err != nil {
		t.Fatal(err)
	}
	ends, acceptedAt := recordEnds(t, full)
	results := make([]cutResult, len(full)+1)
	offsets := make(chan int)
	parent := t.TempDir()
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for off := range offsets {
				results[off] = recoverCut(parent, filepath.Base(segs[0]), full, off)
			}
		})
	}
	for off := range results {
		offsets <- off
	}
	close(offsets)
	wg.Wait()
	for off, res := range results {
		if res.err != nil {
			t.Fatalf("offset %d of %d: %v", off, len(full), res.err)
		}
		wantRecords, wantIDs := 0, []uint64{}
		for _, end := range ends {
			if end <= off {
				wantRecords++
				if seq, ok := acceptedAt[end]; ok {
					wantIDs = append(wantIDs, seq)
				}
			}
		}
		if res.records != strconv.Itoa(wantRecords) {
			t.Errorf("offset %d: the replay log says records=%q, want %d", off, res.records, wantRecords)
		}
		if got := slices.Sorted(maps.Keys(res.jobs)); !slices.Equal(got, wantIDs) {
			t.Errorf("offset %d: recovered jobs %v, want %v (accepted before the cut)", off, got, wantIDs)
		}
		if off > 0 {
			for seq := range results[off-1].jobs {
				if _, ok := res.jobs[seq]; !ok {
					t.Errorf("offset %d: job %d, recovered at offset %d, is gone", off, seq, off-1)
				}
			}
		}
		if res.status != 201 || res.nextID <= maxKey(res.jobs) {
			t.Errorf("offset %d: new job: status %d id %d, want 201 and an id above %d", off, res.status, res.nextID, maxKey(res.jobs))
		}
		if t.Failed() {
			t.FailNow()
		}
	}
	if got := results[len(full)].jobs; !maps.Equal(got, want) {
		t.Errorf("at full length: recovered %v,\nwant %v", got, want)
	}
	t.Logf("%d bytes, %d records, %d jobs: every cut recovered", len(full), len(ends), len(want))
}

// maxKey returns the largest key of m, or 0.
func maxKey[V any](m map[uint64]V) uint64 {
	var k uint64
	for seq := range m {
		k = max(k, seq)
	}
	return k
}
