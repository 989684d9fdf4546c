package lines

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"testing"
	"testing/synctest"
)

// TestBatcherWaitsForAcks hands over three items, the second held by an
// ack not yet answered: nothing is written before the ack answers, then
// every line goes out in the order handed over, and each item is settled
// once with the write's error.
func TestBatcherWaitsForAcks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var out bytes.Buffer
		w := NewWriter(&out, slog.New(slog.NewTextHandler(io.Discard, nil)))
		defer w.Close(0)
		b := NewBatcher[int](8, 8)
		var settled []int
		go b.Run(context.Background(), w, func(v int, err error) {
			if err != nil {
				t.Errorf("item %d settled with %v, want nil", v, err)
			}
			settled = append(settled, v)
		})
		held := make(chan error, 1)
		for i, ack := range []<-chan error{nil, held, nil} {
			if !b.Add(context.Background(), i, []byte{'a' + byte(i), '\n'}, ack) {
				t.Fatalf("Add(%d) = false, want true", i)
			}
		}
		synctest.Wait()
		if len(settled) > 1 || bytes.Contains(out.Bytes(), []byte("b")) {
			t.Fatalf("before the ack: wrote %q, settled %v; want nothing past the first item", out.String(), settled)
		}
		held <- nil
		b.Close()
		if got := out.String(); got != "a\nb\nc\n" {
			t.Errorf("wrote %q, want %q", got, "a\nb\nc\n")
		}
		if len(settled) != 3 || settled[0] != 0 || settled[1] != 1 || settled[2] != 2 {
			t.Errorf("settled %v, want [0 1 2]", settled)
		}
	})
}

// TestBatcherAddStopsWithItsContext fills a Batcher nobody runs and checks
// that Add then waits only until its context ends, taking nothing.
func TestBatcherAddStopsWithItsContext(t *testing.T) {
	b := NewBatcher[int](1, 1)
	if !b.Add(context.Background(), 1, nil, nil) {
		t.Fatal("Add to an empty Batcher = false, want true")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if b.Add(ctx, 2, nil, nil) {
		t.Error("Add to a full Batcher with its context ended = true, want false")
	}
}
