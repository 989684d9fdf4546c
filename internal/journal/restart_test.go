package journal

import (
	"math/rand/v2"
	"sync"
	"testing"
)

// liveSet is the owner's side of Options.Live in the restart tests: a key is
// live from its append until it is retired, and never again after.
type liveSet struct {
	mu   sync.Mutex // guards keys
	keys map[uint64]bool
}

func (l *liveSet) live(k uint64) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.keys[k]
}

func (l *liveSet) add(k uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.keys[k] = true
}

// retire ends the life of one live key chosen by rnd, sparing those for
// which keep says so (jobs that wait an hour).
func (l *liveSet) retire(rnd *rand.Rand, keep func(uint64) bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for k := range l.keys {
		if !keep(k) && rnd.IntN(2) == 0 {
			delete(l.keys, k)
			return
		}
	}
}

// restartCycle opens, appends to and closes one journal directory lives
// times in an order drawn from seed, letting compactions run or not, and
// checks after every open that each live record is still there, once, in
// order. It is the open/compact/restart cycle that lost jobs when a start
// took every file it found for the snap file (and the next compaction then
// claimed segments it had never read).
func restartCycle(t *testing.T, seed uint64, lives int) {
	t.Helper()
	rnd := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	const seg = 512
	dir := t.TempDir()
	set := &liveSet{keys: map[uint64]bool{}}
	keep := func(k uint64) bool { return k%5 == 1 } // like a job with delay=1h
	var top uint64
	for life := range lives {
		j := openT(t, dir, Options{Sync: SyncNever, SegmentBytes: seg, Live: set.live})
		got := replayAll(t, j)
		checkReplay(t, got, int(top), set.live)
		if t.Failed() {
			t.Fatalf("seed %d: life %d lost live records", seed, life)
		}
		if j.MaxKey() != top {
			t.Fatalf("seed %d: life %d: MaxKey = %d, want %d", seed, life, j.MaxKey(), top)
		}
		// Some lives append one record, some enough for several compactions.
		n := []int{0, 1, 3, 40, 200}[rnd.IntN(5)]
		for range n {
			top++
			set.add(top)
			if err := j.Append(rec(int(top))); err != nil {
				t.Fatal(err)
			}
			if rnd.IntN(3) == 0 {
				set.retire(rnd, keep)
			}
		}
		if err := j.Close(); err != nil {
			t.Fatalf("seed %d: life %d: Close = %v", seed, life, err)
		}
	}
	j := openT(t, dir, Options{Live: set.live})
	checkReplay(t, replayAll(t, j), int(top), set.live)
	if t.Failed() {
		t.Fatalf("seed %d: the last open lost live records", seed)
	}
}

func TestRestartsAndCompactionsKeepLiveRecords(t *testing.T) {
	for seed := range uint64(40) {
		restartCycle(t, seed, 12)
	}
}

// FuzzRestarts runs the open/compact/restart cycle in orders drawn from the
// fuzzer's seed.
func FuzzRestarts(f *testing.F) {
	f.Add(uint64(1), uint8(6))
	f.Add(uint64(7), uint8(20))
	f.Fuzz(func(t *testing.T, seed uint64, lives uint8) {
		restartCycle(t, seed, 1+int(lives%24))
	})
}
