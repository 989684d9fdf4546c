package command

import (
	"bytes"
	"strings"
	"sync"
	"testing"
)

// TestTailBuffer checks the ring against what was written, in writes of
// every size, and that a cut never starts inside a UTF-8 character.
func TestTailBuffer(t *testing.T) {
	var all []byte
	b := newTailBuffer(8)
	for i, n := range []int{0, 3, 5, 1, 9, 2, 8, 7, 20} {
		p := bytes.Repeat([]byte{byte('a' + i)}, n)
		b.Write(p)
		all = append(all, p...)
		got, cut := b.Tail()
		want := all[max(0, len(all)-8):]
		if !bytes.Equal(got, want) || cut != (len(all) > 8) {
			t.Fatalf("after %d bytes: Tail = %q, %v; want %q, %v", len(all), got, cut, want, len(all) > 8)
		}
	}
	b = newTailBuffer(4)
	b.Write([]byte("xé日")) // é is 2 bytes, 日 is 3: the last 4 bytes cut é
	if got, cut := b.Tail(); string(got) != "日" || !cut {
		t.Errorf("Tail = %q, %v; want %q, true", got, cut, "日")
	}
}

// TestTailBufferConcurrent checks, under -race, that writes from many
// goroutines are each kept whole.
func TestTailBufferConcurrent(t *testing.T) {
	b := newTailBuffer(1 << 10)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 100 {
				b.Write([]byte("0123456789abcdef"))
			}
		})
	}
	wg.Wait()
	if got, cut := b.Tail(); string(got) != strings.Repeat("0123456789abcdef", 64) || !cut {
		t.Errorf("Tail = %q, %v; want the 16-byte line 64 times, true", got, cut)
	}
}
