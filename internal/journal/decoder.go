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
	version    byte
	kind       byte
	baseMaxKey uint64
	salt       uint64 // version 2 only
	size       int    // bytes of the header: where its records or batches begin
}

// errBadHeader means a file header is missing, cut short or fails its CRC.
var errBadHeader = errors.New("bad file header")

// decodeHeader decodes the header at the start of b, a file's bytes.
func decodeHeader(b []byte) (header, error) {
	if len(b) < len(magic)+1 || !bytes.Equal(b[:len(magic)], []byte(magic)) {
		return header{}, errBadHeader
	}
	var h header
	switch h.version = b[len(magic)]; h.version {
	case version1:
		h.size = headerSizeV1
	case version2:
		h.size = headerSizeV2
	default:
		return header{}, fmt.Errorf("unsupported version %d (this build reads versions %d and %d)", h.version, version1, version2)
	}
	if len(b) < h.size {
		return header{}, errBadHeader
	}
	crcAt := h.size - 4
	if crc32.Checksum(b[:crcAt], castagnoli) != binary.LittleEndian.Uint32(b[crcAt:]) {
		return header{}, errBadHeader
	}
	h.kind = b[7]
	if h.kind != kindSegment && h.kind != kindSnap {
		return header{}, fmt.Errorf("unknown file kind %d", h.kind)
	}
	h.baseMaxKey = binary.LittleEndian.Uint64(b[8:])
	if h.version == version2 {
		h.salt = binary.LittleEndian.Uint64(b[16:])
	}
	return h, nil
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

// parseRecord decodes the record at the start of b, which decodeRecord
// found valid, without checking it again; its Data aliases b.
func parseRecord(b []byte) (r Record, n int) {
	l := int(binary.LittleEndian.Uint32(b))
	body := b[recHeaderSize : recHeaderSize+l]
	return Record{Type: body[0], Key: binary.LittleEndian.Uint64(body[1:]), Data: body[recFixed:]}, recHeaderSize + l
}

// batchHeader is a decoded version 2 batch header.
type batchHeader struct {
	length int    // bytes of records after the header
	synced int64  // the file was durable up to this offset when it was written
	sum    uint32 // CRC-32C of the records
}

// decodeBatchHeader decodes the batch header at offset off of b, a whole
// file's bytes. ok is false unless all its bytes are there, it names off as
// its own offset, its CRC (seeded with the file's salt) matches, and its
// length and synced fields are in range. It does not look at the records.
func decodeBatchHeader(b []byte, off int, salt uint64) (bh batchHeader, ok bool) {
	if off < 0 || len(b)-off < batchHeaderSize {
		return batchHeader{}, false
	}
	h := b[off : off+batchHeaderSize]
	if binary.LittleEndian.Uint64(h[4:]) != uint64(off) { // cheap: most offsets of a scan stop here
		return batchHeader{}, false
	}
	if batchHeaderCRC(salt, h[:24]) != binary.LittleEndian.Uint32(h[24:]) {
		return batchHeader{}, false
	}
	l, synced := binary.LittleEndian.Uint32(h), binary.LittleEndian.Uint64(h[12:])
	if l < minBatch || l > maxBatchLen || synced > uint64(off) {
		return batchHeader{}, false
	}
	return batchHeader{length: int(l), synced: int64(synced), sum: binary.LittleEndian.Uint32(h[20:])}, true
}

// checkBatch checks the version 2 batch at offset off of b, a whole file's
// bytes. It returns the offset where the batch ends, or why it is not valid:
// its header bad or cut short, its records cut short, their CRC failing, or
// one of them not a valid record (or not ending at the batch's end).
func checkBatch(b []byte, off int, salt uint64) (end int, why string) {
	if len(b)-off < batchHeaderSize {
		return off, "batch header cut short"
	}
	bh, ok := decodeBatchHeader(b, off, salt)
	if !ok {
		return off, "bad batch header"
	}
	start := off + batchHeaderSize
	if len(b)-start < bh.length {
		return off, fmt.Sprintf("batch cut short (%d of its %d bytes of records)", len(b)-start, bh.length)
	}
	end = start + bh.length
	if crc32.Checksum(b[start:end], castagnoli) != bh.sum {
		return off, "batch checksum mismatch"
	}
	for p := start; p < end; {
		_, n, ok := decodeRecord(b[p:end])
		if !ok {
			return off, fmt.Sprintf("bad record at offset %d inside the batch", p)
		}
		p += n
	}
	return end, ""
}

// walk calls fn for each valid record of b, a whole file's bytes, whose
// header h describes: in a version 1 file, record after record, stopping at
// the first invalid one; in a version 2 file, batch after batch, stopping at
// the first invalid batch, whose records fn never sees (a batch is all or
// nothing). It returns the file offset where it stopped, len(b) if every
// record is valid, and why it stopped short; or fn's error.
func walk(b []byte, h header, fn func(Record) error) (end int, why string, err error) {
	off := h.size
	if h.version == version1 {
		for off < len(b) {
			r, n, ok := decodeRecord(b[off:])
			if !ok {
				return off, "bad record", nil
			}
			if fn != nil {
				if err := fn(r); err != nil {
					return off, "", err
				}
			}
			off += n
		}
		return off, "", nil
	}
	for off < len(b) {
		end, why := checkBatch(b, off, h.salt)
		if why != "" {
			return off, why, nil
		}
		if fn != nil {
			for p := off + batchHeaderSize; p < end; {
				r, n := parseRecord(b[p:end]) // checked by checkBatch
				if err := fn(r); err != nil {
					return off, "", err
				}
				p += n
			}
		}
		off = end
	}
	return off, "", nil
}

// walkFile decodes the header of b, a whole file's bytes, and walks it (see
// walk); a bad header stops it at offset 0.
func walkFile(b []byte, fn func(Record) error) (end int, err error) {
	h, err := decodeHeader(b)
	if err != nil {
		return 0, nil
	}
	end, _, err = walk(b, h, fn)
	return end, err
}

// validAfter reports whether a valid record starts at any offset of b after
// off: if so, an invalid record at off of a version 1 file, or an invalid
// header of any file, is damage rather than a torn tail.
func validAfter(b []byte, off int) bool {
	for p := off + 1; p+recHeaderSize+recFixed <= len(b); p++ {
		if _, _, ok := decodeRecord(b[p:]); ok {
			return true
		}
	}
	return false
}

// durableAfter returns the offset of the first valid batch header of b, a
// version 2 file's bytes, after off whose synced field is above off: the
// writer had fsynced the file beyond off before it wrote that batch, so a
// bad batch at off is damage, not what a crash left. ok is false if there
// is none.
func durableAfter(b []byte, off int, salt uint64) (at int, ok bool) {
	for p := off + 1; p+batchHeaderSize <= len(b); p++ {
		if bh, ok := decodeBatchHeader(b, p, salt); ok && bh.synced > int64(off) {
			return p, true
		}
	}
	return 0, false
}
