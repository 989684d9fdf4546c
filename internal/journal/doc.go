// Package journal is a write-ahead journal of opaque records: an append-only
// sequence of files in one directory, each record framed with its length and a
// CRC-32C, each group commit framed as one batch with its length and
// checksums, written by group commit and compacted in the background.
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
// ones are sealed and never change again. Each start appends to a new
// segment, never to one a previous process wrote.
//
// Every file is in one of two versions, named by its header. This build
// writes version 2 (batches) for every new file, segment or snap, and reads
// both; a directory may hold files of both versions.
//
// # File header
//
// Every file starts with a header; all integers are little-endian. Version 1,
// 20 bytes:
//
//	offset size field
//	0      6    magic "WQJRNL" (0x57 0x51 0x4a 0x52 0x4e 0x4c)
//	6      1    version, 1
//	7      1    kind: 1 = segment, 2 = snap (compacted)
//	8      8    base max key: the largest record key ever appended before
//	            this file was started (for a snap: of every file it replaced)
//	16     4    CRC-32C (Castagnoli) of bytes 0..15
//
// Version 2, 28 bytes: the same fields, then a salt before the CRC:
//
//	offset size field
//	0      6    magic "WQJRNL"
//	6      1    version, 2
//	7      1    kind: 1 = segment, 2 = snap
//	8      8    base max key
//	16     8    salt: 8 random bytes drawn when the file was created
//	24     4    CRC-32C of bytes 0..23
//
// A reader checks the magic, then reads the version byte to know the
// header's length; a header with the right magic and an unknown version is an
// error (a newer build's file), never a torn tail. The kind must match the
// file's name.
//
// The base max key lets the largest key survive compaction: the largest key
// ever appended is the maximum of every file's base max key and every record's
// key.
//
// # Records
//
// A record is framed the same way in both versions:
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
// matches and its type is not 0.
//
// In a version 1 file, records follow the header back to back, with no
// padding and no blocks, and the file ends exactly after its last record.
//
// # Batches
//
// In a version 2 file, batches follow the header back to back, with no
// padding, and the file ends exactly after its last batch. A batch is what
// one group commit wrote with one write(2) (in a snap file, about 256 KiB of
// records): a 28-byte header, then records back to back.
//
//	offset size field
//	0      4    length L: the bytes of records after this header,
//	            17 <= L <= 8 MiB (8388608)
//	4      8    offset: the file offset of this header
//	12     8    synced: the writer had fsynced the file up to this offset
//	            when it wrote this batch; <= offset (0 in a snap file)
//	20     4    CRC-32C of the L bytes of records that follow
//	24     4    CRC-32C of the file header's salt (its 8 bytes, as stored)
//	            followed by bytes 0..23 of this header
//
// A batch header is valid when its 28 bytes are present, its offset field
// equals its position in the file, its CRC matches (seeded with this file's
// salt, so no header of another file, and none a client put in a record's
// data, passes) and L and synced are in range. A batch is valid when its
// header is, all L bytes are present, their CRC matches, and they are a
// sequence of valid records ending exactly at the batch's end. A reader
// yields a batch's records only once the whole batch checked: a batch is
// there whole or not at all.
//
// Under SyncAlways, synced is the batch's own offset (every batch before it
// was fsynced before it was written); under SyncEvery, the end of what the
// last periodic fsync covered; under SyncNever, the end of the header (a new
// segment's header is always fsynced before its first batch).
//
// # Torn tail and damage
//
// A crash in the middle of an append leaves at most the end of the last
// segment wrong: a record or batch cut short, one whose CRC fails, zeros where
// the file system extended the file but the data never arrived, a header cut
// short, or, since the kernel writes a file's pages back in any order, a
// batch some of whose pages are zeros while later ones arrived. What a crash
// cannot leave is a bad region that the writer had fsynced before it wrote
// something that did reach the disk.
//
// In the last segment, a reader meeting, at offset P, an invalid header (P =
// 0), an invalid record (version 1) or an invalid batch (version 2) decides:
//
//   - a bad header: if a valid record starts at any offset after 0, damage;
//     otherwise a torn tail.
//   - version 1: if a valid record starts at any offset after P, damage;
//     otherwise a torn tail.
//   - version 2: if a valid batch header starts at any offset after P whose
//     synced is above P (the writer had made the bad batch durable before it
//     wrote that one), damage; otherwise a torn tail: the batches from P on
//     were not yet durable when the writer stopped. So under SyncAlways a
//     bad batch followed by a good one is damage, and an incomplete or
//     failing last batch, whatever its pages hold, is a torn tail.
//
// A torn tail is cut: the journal truncates the file at P (removing it when
// P = 0) and logs a warning naming the file and P. Damage makes the journal
// refuse to open (ErrCorrupt, naming the file and P) and change nothing on
// disk. An invalid record, batch or header anywhere in any other file (a
// sealed segment or a snap file) is damage.
//
// # Appends and durability
//
// One writer goroutine appends: it takes every record waiting, writes them as
// one batch with one write(2) and, under SyncAlways, one fsync(2), then
// answers every caller (group commit). The records of one Append call are
// written contiguously, in order, in one batch. When a write or an fsync
// fails the journal stops for good (ErrFailed): a failed fsync is never
// retried, since the kernel may have dropped the dirty pages it could not
// write (PostgreSQL's "fsyncgate"); the failed batch is cut off the file, its
// callers told it failed. A new segment's header is fsynced (under every
// policy), and then the directory (unless the policy is SyncNever), before
// any batch goes into it; a segment is fsynced when it is sealed (under every
// policy: only the last segment may be torn), and by Close.
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
//  1. write snap-N.wqj.tmp (version 2; header base max key = the largest key
//     of every input), then fsync it;
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
// that did not fit in the last one, in a batch of its own. That is under
// 2 × live + 4 × SegmentBytes + MaxAppend + 84 bytes (two snap headers and
// a batch header), 10 MiB over 2 × live with the default SegmentBytes, live
// counting a snap file's batch headers (28 bytes per 256 KiB). Records that died since the last compaction
// still count in live until the next one.
package journal
