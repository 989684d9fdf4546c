package journal

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"strings"
	"testing"
	"time"
)

func TestRecordRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		r    Record
	}{
		{"empty data", Record{Type: 1, Key: 0}},
		{"small", Record{Type: 255, Key: 1<<64 - 1, Data: []byte("hello")}},
		{"max data", Record{Type: 7, Key: 42, Data: make([]byte, MaxData)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := appendRecord(nil, tt.r)
			if len(b) != encodedSize(tt.r) {
				t.Errorf("len = %d, want %d", len(b), encodedSize(tt.r))
			}
			got, n, ok := decodeRecord(b)
			if !ok || n != len(b) || !equalRecords([]Record{got}, []Record{tt.r}) {
				t.Errorf("decodeRecord = %v, %d, %v; want %v, %d, true", got.Key, n, ok, tt.r.Key, len(b))
			}
		})
	}
}

func TestRecordBytes(t *testing.T) {
	// The layout doc.go describes, for Record{Type: 2, Key: 0x0102, Data: "ab"}.
	b := appendRecord(nil, Record{Type: 2, Key: 0x0102, Data: []byte("ab")})
	want := []byte{11, 0, 0, 0}
	if string(b[:4]) != string(want) {
		t.Errorf("length bytes = %v, want %v", b[:4], want)
	}
	if got := b[8:]; string(got) != "\x02\x02\x01\x00\x00\x00\x00\x00\x00ab" {
		t.Errorf("body = %q", got)
	}
	h := appendHeader(nil, kindSegment, 5, 0x0807060504030201)
	if len(h) != headerSize || string(h[:6]) != "WQJRNL" || h[6] != 2 || h[7] != 1 || h[8] != 5 ||
		string(h[16:24]) != "\x01\x02\x03\x04\x05\x06\x07\x08" ||
		binary.LittleEndian.Uint32(h[24:]) != crc32.Checksum(h[:24], castagnoli) {
		t.Errorf("header = %v", h)
	}
	h1 := appendHeaderV1(nil, kindSnap, 5)
	if len(h1) != headerSizeV1 || string(h1[:6]) != "WQJRNL" || h1[6] != 1 || h1[7] != 2 || h1[8] != 5 {
		t.Errorf("version 1 header = %v", h1)
	}
}

// TestBatchBytes checks a batch header against the layout doc.go describes,
// computing each field as a stranger's reader would.
func TestBatchBytes(t *testing.T) {
	const salt = 0x1122334455667788
	recs := appendRecord(appendRecord(nil, rec(1)), rec(2))
	b := append(make([]byte, batchHeaderSize), recs...)
	putBatchHeader(b, 1000, 960, salt)
	le := binary.LittleEndian
	if got := le.Uint32(b[0:]); got != uint32(len(recs)) {
		t.Errorf("length = %d, want %d", got, len(recs))
	}
	if got := le.Uint64(b[4:]); got != 1000 {
		t.Errorf("offset = %d, want 1000", got)
	}
	if got := le.Uint64(b[12:]); got != 960 {
		t.Errorf("synced = %d, want 960", got)
	}
	if got := le.Uint32(b[20:]); got != crc32.Checksum(recs, castagnoli) {
		t.Errorf("records CRC = %#x", got)
	}
	seeded := append(le.AppendUint64(nil, salt), b[:24]...)
	if got := le.Uint32(b[24:]); got != crc32.Checksum(seeded, castagnoli) {
		t.Errorf("header CRC = %#x, want the CRC-32C of the salt and bytes 0..23", got)
	}
	file := append(make([]byte, 1000), b...)
	if bh, ok := decodeBatchHeader(file, 1000, salt); !ok || bh.length != len(recs) || bh.synced != 960 {
		t.Errorf("decodeBatchHeader = %+v, %v", bh, ok)
	}
	if _, ok := decodeBatchHeader(file, 1000, salt+1); ok {
		t.Errorf("decodeBatchHeader with another file's salt = ok")
	}
	if end, why := checkBatch(file, 1000, salt); why != "" || end != len(file) {
		t.Errorf("checkBatch = %d, %q; want %d, valid", end, why, len(file))
	}
	moved := append([]byte{0}, file...) // the same bytes one offset further
	if _, ok := decodeBatchHeader(moved, 1001, salt); ok {
		t.Errorf("decodeBatchHeader at an offset the header does not name = ok")
	}
}

func TestCheckRecord(t *testing.T) {
	tests := []struct {
		name string
		r    Record
		ok   bool
	}{
		{"type 0", Record{Type: 0}, false},
		{"too large", Record{Type: 1, Data: make([]byte, MaxData+1)}, false},
		{"max", Record{Type: 1, Data: make([]byte, MaxData)}, true},
	}
	for _, tt := range tests {
		err := checkRecord(tt.r)
		if (err == nil) != tt.ok || (err != nil && !errors.Is(err, ErrInvalid)) {
			t.Errorf("%s: checkRecord = %v, want ok %v", tt.name, err, tt.ok)
		}
	}
}

func TestParseSync(t *testing.T) {
	tests := []struct {
		in   string
		want Sync
		err  bool
	}{
		{"always", SyncAlways, false},
		{"never", SyncNever, false},
		{"50ms", SyncEvery(50 * time.Millisecond), false},
		{"1s", SyncEvery(time.Second), false},
		{"0s", 0, true},
		{"-1s", 0, true},
		{"sometimes", 0, true},
		{"", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseSync(tt.in)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("ParseSync(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.err)
		}
		if err != nil && !strings.Contains(err.Error(), "always") {
			t.Errorf("ParseSync(%q) error %q does not say what is accepted", tt.in, err)
		}
		if err == nil && got.String() != tt.in {
			t.Errorf("Sync(%q).String() = %q", tt.in, got.String())
		}
	}
}
