package lines

import "context"

// Batcher writes the lines of many items with one write, outside their
// producers: each item waits until its ack answers (nil: at once), then its
// line goes out with every other line waiting, and settle is told of each
// item with the write's error. The server's finisher is a Batcher of the
// jobs whose work is complete: a job's greeting may be written only once its
// start is durable, and it is journaled as finished only after its greeting
// is written, so no worker waits for the disk. A type parameter, not a
// closure per item, keeps the path free of allocations.
type Batcher[T any] struct {
	c    chan batchItem[T] // items handed over; closed by Close
	done chan struct{}     // closed when Run returns
	max  int               // most items one write carries
}

// batchItem is one item on its way out.
type batchItem[T any] struct {
	v    T
	line []byte
	ack  <-chan error // answers once the item may be written; nil: at once
}

// NewBatcher returns a Batcher that holds up to queue items before Add
// waits, and writes up to max items' lines with one write.
func NewBatcher[T any](queue, max int) *Batcher[T] {
	return &Batcher[T]{c: make(chan batchItem[T], queue), done: make(chan struct{}), max: max}
}

// Add hands v over with its line, to be written once ack answers (a nil
// ack: at once). It waits while the Batcher is full, until ctx ends: then it
// reports false and v was not taken. It must not be called after Close.
func (b *Batcher[T]) Add(ctx context.Context, v T, line []byte, ack <-chan error) bool {
	select {
	case b.c <- batchItem[T]{v: v, line: line, ack: ack}:
		return true
	case <-ctx.Done():
		return false
	}
}

// Run writes the items handed over to out, in the order handed over, and
// calls settle for each with the error of the write that carried its line,
// until Close was called and every item is settled. ctx is the writes'
// context (see Writer.Write). It runs in a goroutine of its own.
func (b *Batcher[T]) Run(ctx context.Context, out *Writer, settle func(v T, err error)) {
	defer close(b.done)
	var batch []batchItem[T]
	var buf []byte
	for it := range b.c {
		batch = append(batch[:0], it)
	more:
		for len(batch) < b.max {
			select {
			case it, ok := <-b.c:
				if !ok {
					break more
				}
				batch = append(batch, it)
			default:
				break more
			}
		}
		buf = buf[:0]
		for _, it := range batch {
			if it.ack != nil {
				<-it.ack
			}
			buf = append(buf, it.line...)
		}
		err := out.Write(ctx, buf)
		for _, it := range batch {
			settle(it.v, err)
		}
	}
}

// Close ends intake, once every producer is done adding, and waits until
// Run has settled every item handed over.
func (b *Batcher[T]) Close() {
	close(b.c)
	<-b.done
}
