// Package journal is a write-ahead journal of opaque records: an append-only
// sequence of files in one directory, each record framed with its length and a
// CRC-32C, written by group commit and compacted in the background.
//
// It knows nothing of its owner's records beyond three fields: a type byte, a
// 64-bit key and a payload. Compaction keeps a record while its key is 0 or
// Options.Live says the key is still live.
//
// # Files
//
// The directory holds, and the journal reads, only these names (any other file
// is ignored, never read, never removed):
//
//	LOCK                      held with flock(LOCK_EX|LOCK_NB) by the owner
//	seg-XXXXXXXXXXXXXXXX.wqj  a segment: XXXXXXXXXXXXXXXX is its sequence
//	                          number, 16 lower-case hexadecimal digits
//	snap-XXXXXXXXXXXXXXXX.wqj a compacted file holding every kept record of
//	                          the segments numbered <= XXXXXXXXXXXXXXXX
//	*.wqj.tmp                 a compacted file being written (a leftover)
//
// The journal is, in order: the snap file with the largest number N (if any),
// then every segment numbered above N in increasing order. Segments numbered
// <= N and snap files numbered below N are leftovers of a compaction whose
// final deletions did not happen; a reader must ignore them (the journal
// removes them at open, as it removes *.tmp files).
//
// Only the segment with the largest number is ever appended to; once the
// journal starts a new segment ("rolls", past Options.SegmentBytes) the older
// ones are sealed and never change again.
//
// # File header
//
// Every file starts with a 20-byte header; all integers are little-endian:
//
//	offset size field
//	0      6    magic "WQJRNL" (0x57 0x51 0x4a 0x52 0x4e 0x4c)
//	6      1    version, 1
//	7      1    kind: 1 = segment, 2 = snap (compacted)
//	8      8    base max key: the largest record key ever appended before
//	            this file was started (for a snap: of every file it replaced)
//	16     4    CRC-32C (Castagnoli) of bytes 0..15
//
// The base max key lets the largest key survive compaction: the largest key
// ever appended is the maximum of every file's base max key and every record's
// key.
//
// # Records
//
// Records follow the header back to back, with no padding and no blocks:
//
//	offset size field
//	0      4    length L: the number of bytes after the CRC (9 + len(data)),
//	            9 <= L <= 9 + MaxData
//	4      4    CRC-32C (Castagnoli) of the L bytes that follow
//	8      1    type, 1..255 (0 is never written)
//	9      8    key
//	17     L-9  data
//
// A record is valid when its L is in range, all L bytes are present, its CRC
// matches and its type is not 0. A file ends exactly after its last record.
//
// # Torn tail and damage
//
// A crash in the middle of an append leaves at most the end of the last
// segment wrong: a record cut short, a record whose CRC fails, zeros where the
// file system extended the file but the data never arrived, or a header cut
// short. A reader meeting an invalid record at offset P (or an invalid header,
// P = 0) in the last segment looks for a valid record starting at any offset
// after P. If there is none, the file from P on is a torn tail: the journal
// truncates the file at P (removing it when P = 0) and logs a warning naming
// the file and P. If there is one, the bad record is damage, not a crash's
// doing: the journal refuses to open (ErrCorrupt, naming the file and P) and
// changes nothing on disk. An invalid record or header anywhere in any other
// file (a sealed segment or a snap file) is damage. A header with the right
// magic and CRC but an unknown version is an error too.
//
// # Appends and durability
//
// One writer goroutine appends: it takes every record waiting, writes them with
// one write(2) and, under SyncAlways, one fsync(2), then answers every caller
// (group commit). The records of one Append call are written contiguously, in
// order, in one segment. When a write or an fsync fails the journal stops for
// good (ErrFailed): a failed fsync is never retried, since the kernel may have
// dropped the dirty pages it could not write (PostgreSQL's "fsyncgate").
// A new segment's header is fsynced, and then the directory, before any record
// goes into it (unless the policy is SyncNever); a segment is fsynced when it
// is sealed (likewise), and by Close.
//
// What the journal builds on is made durable first, under every policy:
//
//   - Open creates the directory and its missing parents (mode 0700) one
//     level at a time, fsyncing each new directory's parent, outermost
//     first, so a power cut after the first acknowledged append cannot drop
//     the directory itself.
//   - Open fsyncs every file it keeps, then the directory, then its parent,
//     before it changes anything (cuts a torn tail, removes a compaction's
//     leftovers) and before the first append: a process killed with
//     SIGKILL leaves its last writes in the page cache only, and this one
//     is about to seal its last segment (a power cut could then tear a file
//     taken as sealed) and to remove what its snap file covers.
//   - After each fsync of the segment (every group commit under SyncAlways,
//     every period under SyncEvery) and once a second under SyncNever, the
//     writer fstats the segment: a link count of 0 means its directory or
//     file was removed (rm -rf) and what it takes is lost to the next Open,
//     so the journal fails (ErrFailed) as after a disk error.
//
// # Compaction
//
// Once the sealed segments not yet compacted hold 2 × SegmentBytes, a
// background goroutine rewrites the current snap file (if any) and those
// segments, up to number N, into one file, keeping the records whose key is 0
// or live:
//
//  1. write snap-N.wqj.tmp (header base max key = the largest key of every
//     input), then fsync it;
//  2. rename snap-N.wqj.tmp to snap-N.wqj;
//  3. fsync the directory;
//  4. remove the old snap file and the segments numbered <= N.
//
// A crash before step 2 leaves a .tmp file that the next open removes; a crash
// after it leaves leftovers that the next open ignores and removes. Either way
// replay yields every kept record exactly once. An error in a compaction
// fails the journal, like a failed write.
//
// Appends go on during a compaction; the writer waits for it only when
// 3 × SegmentBytes of sealed segments are waiting. So the files on disk hold
// at most: the old snap file and the one being written (each at most the
// records kept, "live"), and segments (sealed, and the one being appended
// to) under 4 × SegmentBytes, plus one call's records (at most MaxAppend)
// that did not fit in the last one. That is under
// 2 × live + 4 × SegmentBytes + MaxAppend + 40 bytes, 10 MiB over 2 × live
// with the default SegmentBytes. Records that died since the last compaction
// still count in live until the next one.
package journal
