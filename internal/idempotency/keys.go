// Package idempotency binds each Idempotency-Key to the job its first
// request made (draft-ietf-httpapi-idempotency-key-header), so that a
// retried POST /work answers that job rather than making another, for as
// long as the store keeps the job.
//
// Lock order: the keys' lock is the innermost but a Job's: the store calls
// Forget holding its own lock, and nothing is locked under the keys' lock.
package idempotency

import (
	"sync"
	"sync/atomic"
	"time"
)

// Keys binds each idempotency key to the job that the first request carrying
// it made. A key is remembered exactly as long as the store keeps its job:
// the store calls Forget as it drops a job (its onForget hook). Memory is thus
// bounded by the store's bound plus the requests being accepted now, never
// by how many keys were ever seen.
type Keys struct {
	mu    sync.Mutex           // guards byKey and bySeq
	byKey map[string]*keyEntry // every key remembered, bound or pending
	bySeq map[uint64]string    // the key of each job that has one
	held  atomic.Int64         // len(bySeq), read without mu by Forget
}

// keyEntry is what a key is bound to: the job's number and the parameters
// that made it, to tell a retry from a reuse.
type keyEntry struct {
	name    string
	delay   time.Duration
	seq     uint64 // the job's number; 0 until a request is made for it
	n       int    // a batch's jobs, numbered seq, seq+1, ...; 0 or 1 for one job
	pending bool   // whether the first request is still being accepted
}

// New returns an empty Keys.
func New() *Keys {
	return &Keys{byKey: make(map[string]*keyEntry), bySeq: make(map[uint64]string)}
}

// Restore binds key to the job numbered seq, made with name and delay: a
// journal replaying its jobs at start calls it, as it adds the job to the
// Store (before or after), so the key stays bound across restarts. A key
// restored for a job the Store does not keep is forgotten at its first use.
//
// The jobs of a batch carry the same key and consecutive numbers: a key
// restored for a job while it is restored for others already binds them
// all, as a batch from the lowest number to the highest, in whatever order
// they come (the replay restores finished jobs before the others). A
// batch is the only way one key is bound to two jobs the store keeps at
// once; a batch some of whose jobs are no longer kept frees its key at its
// first use, as a single job no longer kept does.
func (k *Keys) Restore(key string, seq uint64, name string, delay time.Duration) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if e := k.byKey[key]; e != nil && !e.pending {
		last := max(e.seq+uint64(max(e.n, 1))-1, seq)
		if seq < e.seq {
			delete(k.bySeq, e.seq)
			e.seq, e.name, e.delay = seq, name, delay
			k.bySeq[seq] = key
		}
		e.n = int(last - e.seq + 1)
		return
	}
	k.byKey[key] = &keyEntry{name: name, delay: delay, seq: seq}
	k.bySeq[seq] = key
	k.held.Store(int64(len(k.bySeq)))
}

// Len returns how many keys are remembered.
func (k *Keys) Len() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.byKey)
}

// claim looks key up for a request to make a job of name and delay. If the
// key is new it remembers it as pending and returns its new entry; else it
// returns the key's entry as it is now (a copy) and nil.
func (k *Keys) claim(key, name string, delay time.Duration) (keyEntry, *keyEntry) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if e, ok := k.byKey[key]; ok {
		return *e, nil
	}
	e := &keyEntry{name: name, delay: delay, pending: true}
	k.byKey[key] = e
	return *e, e
}

// hold records that the pending entry e of key is making the job numbered
// seq, before the Store keeps it, so that Forget(seq) finds the key.
func (k *Keys) hold(key string, e *keyEntry, seq uint64) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.byKey[key] == e {
		e.seq = seq
		k.bySeq[seq] = key
		k.held.Store(int64(len(k.bySeq)))
	}
}

// holdBatch is hold for a batch of n jobs numbered first, first+1, ...:
// only the first number is bound to the key, so that the key is forgotten
// as its first job leaves the store.
func (k *Keys) holdBatch(key string, e *keyEntry, first uint64, n int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.byKey[key] == e {
		e.seq, e.n = first, n
		k.bySeq[first] = key
		k.held.Store(int64(len(k.bySeq)))
	}
}

// bind ends e's pending state: its job was accepted.
func (k *Keys) bind(e *keyEntry) {
	k.mu.Lock()
	defer k.mu.Unlock()
	e.pending = false
}

// release forgets key if e is still its entry: its request made no job.
func (k *Keys) release(key string, e *keyEntry) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.byKey[key] == e {
		delete(k.byKey, key)
		if e.seq != 0 {
			delete(k.bySeq, e.seq)
			k.held.Store(int64(len(k.bySeq)))
		}
	}
}

// Forget drops the key of the job numbered seq, if it has one. The Store
// calls it, holding its own lock, as the job leaves the store; with no key
// held it costs one atomic load.
func (k *Keys) Forget(seq uint64) {
	if k.held.Load() == 0 {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	key, ok := k.bySeq[seq]
	if !ok {
		return
	}
	delete(k.bySeq, seq)
	k.held.Store(int64(len(k.bySeq)))
	if e := k.byKey[key]; e != nil && e.seq == seq {
		delete(k.byKey, key)
	}
}
