package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"workqueue/internal/job"
	"workqueue/internal/submit"
)

// listAll returns every job p keeps, through GET /work page by page.
func (p *proc) listAll(t *testing.T) []job.View {
	t.Helper()
	var all []job.View
	before := ""
	for {
		resp, err := http.Get(p.url + "/work?limit=1000" + before)
		if err != nil {
			t.Fatalf("GET /work: %v", err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("GET /work: status %d: %s", resp.StatusCode, body)
		}
		page := decodeJobs(t, body)
		if len(page) == 0 {
			return all
		}
		all = append(all, page...)
		before = "&before=" + page[len(page)-1].ID
	}
}

// batchLoad posts batches of jobs named b<N>-<i> (N the batch's number, i
// its place from 1), as JSON arrays and as NDJSON in turn, recording each
// batch's size and which were answered 201.
type batchLoad struct {
	sent chan struct{} // offered a token, without waiting, after each 201

	mu       sync.Mutex // guards the fields below
	next     int
	sizes    map[int]int    // every batch sent: its size
	accepted map[int]string // answered 201: the first job's id
}

// run posts from n goroutines until stop is closed.
func (l *batchLoad) run(p *proc, n int, stop <-chan struct{}) {
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			client := &http.Client{Timeout: 5 * time.Second}
			for {
				select {
				case <-stop:
					return
				default:
				}
				l.mu.Lock()
				l.next++
				b, size := l.next, 1+rand.IntN(40)
				l.sizes[b] = size
				l.mu.Unlock()
				var body bytes.Buffer
				ct := "application/json"
				if b%2 == 0 {
					ct = submit.NDJSONType
					for i := 1; i <= size; i++ {
						fmt.Fprintf(&body, "{\"name\":\"b%d-%d\"}\n", b, i)
					}
				} else {
					body.WriteString(jsonBatch("b"+strconv.Itoa(b)+"-", size))
				}
				resp, err := client.Post(p.url+"/work", ct, &body)
				if err != nil {
					continue // killed: the batch may or may not be there
				}
				answer, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusCreated {
					continue
				}
				var a struct{ Jobs []job.View }
				if json.Unmarshal(answer, &a) != nil || len(a.Jobs) != size {
					continue // cut off by the kill
				}
				l.mu.Lock()
				l.accepted[b] = a.Jobs[0].ID
				l.mu.Unlock()
				select {
				case l.sent <- struct{}{}:
				default:
				}
			}
		})
	}
	wg.Wait()
}

// TestBatchKill9UnderLoad kills the real binary with SIGKILL while eight
// clients post batches to it under -journal -fsync always, three times, and
// checks after each restart that every batch is there whole or not at all
// (a batch is one group commit), every batch answered 201 whole, with the
// ids it was answered, one after the other.
func TestBatchKill9UnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("kill -9 cycles of the real binary")
	}
	const cycles, clients = 3, 8
	dir := t.TempDir()
	load := &batchLoad{sent: make(chan struct{}, clients), sizes: map[int]int{}, accepted: map[int]string{}}
	// One worker, held by a job of an hour (run again after each restart),
	// so every batch stays queued and kept.
	args := []string{"-journal", dir, "-n", "1", "-queue", "1000000", "-max-delay", "1h"}
	for cycle := range cycles {
		p := startBinary(t, args...)
		if cycle == 0 {
			if code := p.submit(t, "hold", "1h"); code != 201 {
				t.Fatalf("POST hold: status %d", code)
			}
		}
		stop, done := make(chan struct{}), make(chan struct{})
		go func() {
			defer close(done)
			load.run(p, clients, stop)
		}()
		for range 10 + rand.IntN(50) {
			<-load.sent
		}
		p.kill9(t)
		close(stop)
		<-done
	}
	p := startBinary(t, args...)
	found := map[int][]job.View{}
	for _, j := range p.listAll(t) {
		var b, i int
		if _, err := fmt.Sscanf(j.Name, "b%d-%d", &b, &i); err == nil {
			found[b] = append(found[b], j)
		}
	}
	whole := 0
	for b, size := range load.sizes {
		jobs := found[b]
		_, answered := load.accepted[b]
		switch {
		case len(jobs) == 0 && !answered:
			continue
		case len(jobs) != size:
			t.Errorf("batch %d of %d jobs (answered 201: %v): %d of them after the restarts, want all or none", b, size, answered, len(jobs))
			continue
		}
		whole++
		first, _ := strconv.Atoi(load.accepted[b])
		for _, j := range jobs {
			var n, i int
			fmt.Sscanf(j.Name, "b%d-%d", &n, &i)
			if id, _ := strconv.Atoi(j.ID); answered && id != first+i-1 {
				t.Errorf("job %s of batch %d: id %s, want %d as answered", j.Name, b, j.ID, first+i-1)
			}
		}
	}
	if len(load.accepted) < cycles*10 {
		t.Errorf("only %d batches accepted in %d cycles: the load did not run", len(load.accepted), cycles)
	}
	t.Logf("%d batches sent, %d answered 201, %d found whole after the restarts", len(load.sizes), len(load.accepted), whole)
}
