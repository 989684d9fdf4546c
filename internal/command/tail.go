package command

import (
	"bytes"
	"io"
	"sync"
	"unicode/utf8"
)

// OutputLimit is how many of its last bytes of output, 4 KiB, Run keeps of
// an attempt's standard output and error (SPEC "(v2) Real work").
const OutputLimit = 4 << 10

// tailBuffer is an io.Writer that keeps the last bytes written to it, as many
// as its size, in a ring: its memory stays bounded however much is written.
// It is safe for concurrent use.
type tailBuffer struct {
	mu    sync.Mutex // guards the fields below
	ring  []byte     // once full, the oldest byte is at next
	next  int        // where the next byte goes
	total int64      // bytes written so far
}

// newTailBuffer returns a tailBuffer that keeps the last size bytes.
func newTailBuffer(size int) *tailBuffer {
	return &tailBuffer{ring: make([]byte, size)}
}

// Write keeps the end of p, overwriting the oldest bytes. It never fails.
func (b *tailBuffer) Write(p []byte) (int, error) {
	n := len(p)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.total += int64(n)
	if len(p) > len(b.ring) {
		p = p[len(p)-len(b.ring):]
	}
	k := copy(b.ring[b.next:], p)
	copy(b.ring, p[k:])
	b.next = (b.next + len(p)) % len(b.ring)
	return n, nil
}

// ReadFrom writes everything r holds into b, until r's end of file or error.
func (b *tailBuffer) ReadFrom(r io.Reader) (int64, error) {
	chunk := make([]byte, 4<<10)
	var n int64
	for {
		k, err := r.Read(chunk)
		b.Write(chunk[:k])
		n += int64(k)
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// Tail returns a copy of the bytes kept, and whether older ones were cut.
// When cut, it starts at the first whole UTF-8 character kept.
func (b *tailBuffer) Tail() (kept []byte, truncated bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.total <= int64(len(b.ring)) {
		return bytes.Clone(b.ring[:b.total]), false
	}
	kept = append(bytes.Clone(b.ring[b.next:]), b.ring[:b.next]...)
	for i := 1; i < utf8.UTFMax && len(kept) > 0 && !utf8.RuneStart(kept[0]); i++ {
		kept = kept[1:]
	}
	return kept, true
}
