package journal

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
)

// Sizes and values of the format, as doc.go describes them.
const (
	headerSizeV1    = 20 // version 1 file header: magic, version, kind, base max key, CRC
	headerSizeV2    = 28 // version 2 file header: the same and a salt before the CRC
	headerSize      = headerSizeV2
	recHeaderSize   = 8  // record framing: length, CRC
	recFixed        = 9  // type and key, counted in a record's length
	batchHeaderSize = 28 // version 2 batch header: length, offset, synced, CRCs
	minBatch        = recHeaderSize + recFixed
	maxBatchLen     = 8 << 20 // the largest batch length a reader accepts
	magic           = "WQJRNL"
	version1        = 1
	version2        = 2
	version         = version2 // the version this build writes
	kindSegment     = 1
	kindSnap        = 2
)

// castagnoli is the CRC-32C table used for every checksum of the format.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// checkRecord returns an error wrapping ErrInvalid if r cannot be journaled.
func checkRecord(r Record) error {
	if r.Type == 0 {
		return fmt.Errorf("%w: type 0 (want 1..255)", ErrInvalid)
	}
	if len(r.Data) > MaxData {
		return fmt.Errorf("%w: data is %d bytes (at most %d)", ErrInvalid, len(r.Data), MaxData)
	}
	return nil
}

// encodedSize returns how many bytes r takes in a file, batch header aside.
func encodedSize(r Record) int { return recHeaderSize + recFixed + len(r.Data) }

// appendRecord appends the framed r to b and returns the extended slice.
func appendRecord(b []byte, r Record) []byte {
	start := len(b)
	b = binary.LittleEndian.AppendUint32(b, uint32(recFixed+len(r.Data)))
	b = append(b, 0, 0, 0, 0) // CRC, filled in below
	b = append(b, r.Type)
	b = binary.LittleEndian.AppendUint64(b, r.Key)
	b = append(b, r.Data...)
	sum := crc32.Checksum(b[start+recHeaderSize:], castagnoli)
	binary.LittleEndian.PutUint32(b[start+4:], sum)
	return b
}

// newSalt returns the salt of a new file: random, so that no batch header
// of another file, and none a client could put in a record's data, is
// taken for one of this file's.
func newSalt() uint64 { return rand.Uint64() }

// appendHeader appends a version 2 file header of the given kind, base max
// key and salt to b.
func appendHeader(b []byte, kind byte, baseMaxKey, salt uint64) []byte {
	start := len(b)
	b = append(b, magic...)
	b = append(b, version2, kind)
	b = binary.LittleEndian.AppendUint64(b, baseMaxKey)
	b = binary.LittleEndian.AppendUint64(b, salt)
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b[start:], castagnoli))
}

// putBatchHeader fills in the batchHeaderSize bytes at the start of b, whose
// records follow them, for a batch starting at file offset off in a file of
// the given salt, written when the file was durable up to synced.
func putBatchHeader(b []byte, off, synced int64, salt uint64) {
	records := b[batchHeaderSize:]
	binary.LittleEndian.PutUint32(b[0:], uint32(len(records)))
	binary.LittleEndian.PutUint64(b[4:], uint64(off))
	binary.LittleEndian.PutUint64(b[12:], uint64(synced))
	binary.LittleEndian.PutUint32(b[20:], crc32.Checksum(records, castagnoli))
	binary.LittleEndian.PutUint32(b[24:], batchHeaderCRC(salt, b[:24]))
}

// batchHeaderCRC returns the CRC-32C of the file's salt (8 bytes,
// little-endian) followed by a batch header's first 24 bytes.
func batchHeaderCRC(salt uint64, h []byte) uint32 {
	var s [8]byte
	binary.LittleEndian.PutUint64(s[:], salt)
	return crc32.Update(crc32.Checksum(s[:], castagnoli), castagnoli, h)
}
