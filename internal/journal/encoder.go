package journal

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// Sizes and values of the format, as doc.go describes them.
const (
	headerSize    = 20 // file header: magic, version, kind, base max key, CRC
	recHeaderSize = 8  // record framing: length, CRC
	recFixed      = 9  // type and key, counted in a record's length
	magic         = "WQJRNL"
	version       = 1
	kindSegment   = 1
	kindSnap      = 2
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

// encodedSize returns how many bytes r takes in a file.
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

// appendHeader appends a file header of the given kind and base max key to b.
func appendHeader(b []byte, kind byte, baseMaxKey uint64) []byte {
	start := len(b)
	b = append(b, magic...)
	b = append(b, version, kind)
	b = binary.LittleEndian.AppendUint64(b, baseMaxKey)
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b[start:], castagnoli))
}
