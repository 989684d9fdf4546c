package journal

import (
	"errors"
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
	h := appendHeader(nil, kindSegment, 5)
	if len(h) != headerSize || string(h[:6]) != "WQJRNL" || h[6] != 1 || h[7] != 1 || h[8] != 5 {
		t.Errorf("header = %v", h)
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
