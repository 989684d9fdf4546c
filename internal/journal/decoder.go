package journal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// header is a decoded file header.
type header struct {
	kind       byte
	baseMaxKey uint64
}

// errBadHeader means a file header is missing, cut short or fails its CRC.
var errBadHeader = errors.New("bad file header")

// decodeHeader decodes the header at the start of b.
func decodeHeader(b []byte) (header, error) {
	if len(b) < headerSize || !bytes.Equal(b[:len(magic)], []byte(magic)) {
		return header{}, errBadHeader
	}
	if crc32.Checksum(b[:16], castagnoli) != binary.LittleEndian.Uint32(b[16:]) {
		return header{}, errBadHeader
	}
	if b[6] != version {
		return header{}, fmt.Errorf("unsupported version %d (this build reads version %d)", b[6], version)
	}
	if b[7] != kindSegment && b[7] != kindSnap {
		return header{}, fmt.Errorf("unknown file kind %d", b[7])
	}
	return header{kind: b[7], baseMaxKey: binary.LittleEndian.Uint64(b[8:])}, nil
}

// decodeRecord decodes the record at the start of b. It returns the record,
// its size in bytes, and ok = false if no valid record starts there. The
// record's Data aliases b.
func decodeRecord(b []byte) (r Record, n int, ok bool) {
	if len(b) < recHeaderSize+recFixed {
		return Record{}, 0, false
	}
	l := binary.LittleEndian.Uint32(b)
	if l < recFixed || l > recFixed+MaxData || uint64(len(b)-recHeaderSize) < uint64(l) {
		return Record{}, 0, false
	}
	body := b[recHeaderSize : recHeaderSize+int(l)]
	if body[0] == 0 || crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(b[4:]) {
		return Record{}, 0, false
	}
	r = Record{Type: body[0], Key: binary.LittleEndian.Uint64(body[1:]), Data: body[recFixed:]}
	return r, recHeaderSize + int(l), true
}

// walk calls fn for each valid record of b, a whole file's bytes after its
// header starting at offset headerSize, in order. It stops at the first
// invalid record and returns its file offset, or len(b) if every record is
// valid; or fn's error.
func walk(b []byte, fn func(Record) error) (end int, err error) {
	off := headerSize
	for off < len(b) {
		r, n, ok := decodeRecord(b[off:])
		if !ok {
			return off, nil
		}
		if fn != nil {
			if err := fn(r); err != nil {
				return off, err
			}
		}
		off += n
	}
	return off, nil
}

// validAfter reports whether a valid record starts at any offset of b after
// off: if so, an invalid record at off is damage rather than a torn tail.
func validAfter(b []byte, off int) bool {
	for p := off + 1; p+recHeaderSize+recFixed <= len(b); p++ {
		if _, _, ok := decodeRecord(b[p:]); ok {
			return true
		}
	}
	return false
}
