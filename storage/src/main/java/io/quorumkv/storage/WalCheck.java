package io.quorumkv.storage;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;
import java.util.zip.CRC32C;

/**
 * Tells a torn tail of RocksDB's write-ahead log from damage in its middle, before RocksDB opens.
 *
 * <p>RocksDB's {@code PointInTimeRecovery} replays the WAL up to the first damaged record and
 * drops everything after it, whether the damage is a write torn by a power cut (its end, never
 * acknowledged) or a damaged record with intact, possibly synced and acknowledged, records after
 * it (their loss could, say, forget a vote). {@code TolerateCorruptedTailRecords} refuses the
 * latter but also an ordinary torn write on a preallocated WAL, where the torn record is followed
 * by zeros rather than the end of the file. So the engine keeps point-in-time recovery and runs
 * this check first: after the first damaged record, no intact record may follow, in that file or
 * a later one.
 *
 * <p>The format read (RocksDB {@code db/log_format.h}): 32 KiB blocks of physical records, each
 * a 7-byte header (masked CRC32C of type and payload, little-endian length, type) or an 11-byte
 * one for recyclable types (plus the low 32 bits of the log number, covered by the CRC), then the
 * payload. A block's last 0..10 bytes are zero padding; preallocated space reads as zero headers.
 *
 * <p><b>Recycled files</b> ({@code recycle_log_file_num}): RocksDB reuses an obsolete WAL file
 * under a new number and overwrites it from the start, so after the current life's last record
 * come the previous lives' records, intact but carrying another log number, usually preceded by
 * the remains of an old record cut by the current life's end. RocksDB's reader ends the file at
 * a recyclable record of another log number ({@code kOldRecord}); so does this check (a record
 * from a previous life, CRC intact, ends the file's current life like damage does). Within a
 * file, the current life is a prefix: a damaged or previous-life record followed only by
 * previous-life records (or nothing) is the file's end, accepted (a torn tail). Current-life
 * records after the end are accepted too once an intact previous-life record lies between: the
 * pages of an overwrite that a power cut left half on the disk, out of order, and all past the
 * last completed sync (a synced page is on the disk, so old content shows only where the
 * overwrite never reached; nothing there was acknowledged, and RocksDB stops at the old record).
 * A damaged record followed by an intact current-life record with no previous-life record
 * between (or any intact record in the 7-byte format) is mid-log damage, refused: RocksDB would
 * stop there and drop the later record, which may have been synced. Across files, the end of a
 * recycled file is not carried into later files: every recycled file that is not the last ends
 * in leftovers of its previous life, and files waiting on RocksDB's recycle list keep their old
 * names until reused, so a later file's intact records say nothing about damage there. Damage in
 * the last record of a recycled file that is not the last one is therefore not caught here
 * (RocksDB itself continues into the next file only if its sequence numbers continue).
 */
final class WalCheck {

  private static final int BLOCK = 32 * 1024;
  private static final int HEADER = 7;
  private static final int RECYCLABLE_HEADER = 11;
  private static final int MASK_DELTA = 0xa282ead8;

  private WalCheck() {}

  /** Where a WAL file's current life ends early, with an intact record of it (or a later file) after it. */
  record MidLogDamage(Path file, long offset, Path intactFile, long intactOffset) {
    String describe() {
      return "damaged record at offset " + offset + " of " + file.getFileName() + ", intact record after it at offset "
          + intactOffset + " of " + intactFile.getFileName();
    }
  }

  /**
   * One WAL file read: where its current life ends ({@code end}, the file's length if it ends
   * cleanly), whether the end is a damaged record ({@code damaged}) rather than a record of a
   * previous life or the end of the file, its first intact record ({@code firstIntact}) and the
   * first intact current-life record after the end ({@code intactAfterEnd}; -1 if none), whether
   * the file is in the recyclable format, and how many previous-life records it holds.
   */
  record Scan(long end, boolean damaged, long firstIntact, long intactAfterEnd, boolean recyclable, int oldRecords) {}

  /** Checks every WAL file of {@code dbDir}, oldest first. */
  static Optional<MidLogDamage> check(Path dbDir) throws IOException {
    List<Path> wals = new ArrayList<>();
    if (Files.isDirectory(dbDir)) {
      try (Stream<Path> s = Files.list(dbDir)) {
        s.filter(p -> p.getFileName().toString().matches("\\d+\\.log")).forEach(wals::add);
      }
    }
    wals.sort(Comparator.comparingLong(WalCheck::logNumber));
    Path damagedFile = null;
    long damagedAt = -1;
    for (Path wal : wals) {
      Scan scan = scan(wal);
      if (damagedFile != null && scan.firstIntact() >= 0) {
        return Optional.of(new MidLogDamage(damagedFile, damagedAt, wal, scan.firstIntact()));
      }
      if (scan.intactAfterEnd() >= 0) {
        return Optional.of(new MidLogDamage(wal, scan.end(), wal, scan.intactAfterEnd()));
      }
      if (damagedFile == null && scan.damaged() && !scan.recyclable()) {
        damagedFile = wal;
        damagedAt = scan.end();
      }
    }
    return Optional.empty();
  }

  /** The log number a WAL file's recyclable records carry: its name's number. */
  static long logNumber(Path wal) {
    return Long.parseLong(wal.getFileName().toString().replace(".log", ""));
  }

  /** Reads one WAL file; see {@link Scan}. */
  static Scan scan(Path wal) throws IOException {
    int logNumber = (int) logNumber(wal); // the writer stores the low 32 bits
    ByteBuffer buf = ByteBuffer.wrap(Files.readAllBytes(wal)).order(ByteOrder.LITTLE_ENDIAN);
    long end = -1;
    long firstIntact = -1;
    boolean damaged = false;
    boolean recyclable = false;
    int oldRecords = 0;
    // an intact previous-life record at or after the end: what follows was never synced
    boolean oldAfterEnd = false;
    long pos = 0;
    while (pos < buf.limit()) {
      int inBlock = (int) (pos % BLOCK);
      if (BLOCK - inBlock < HEADER) {
        pos += BLOCK - inBlock; // block trailer
        continue;
      }
      int len = headerLength(buf, pos);
      int type = pos + HEADER <= buf.limit() ? buf.get((int) pos + 6) & 0xFF : 0;
      if (type == 0 && len == 0) {
        pos += BLOCK - inBlock; // zero padding or preallocated space: nothing more in this block
        continue;
      }
      boolean recyclableType = isRecyclable(type);
      int header = recyclableType ? RECYCLABLE_HEADER : HEADER;
      boolean fits = len >= 0 && inBlock + header + len <= BLOCK && pos + header + len <= buf.limit();
      if (fits && crcMatches(buf, (int) pos, header, len)) {
        recyclable |= recyclableType;
        boolean current = !recyclableType || buf.getInt((int) pos + HEADER) == logNumber;
        if (current && end >= 0) {
          // Records of the current life after a previous life's: pages of an overwrite that
          // reached the disk out of order before a power cut, all past the last completed sync
          // (a synced write is durable, so an old record can only show where none reached). Such
          // a tail was never acknowledged; RocksDB stops at the old record, and so may we.
          return new Scan(end, damaged, firstIntact, oldAfterEnd ? -1 : pos, recyclable, oldRecords);
        }
        if (current && firstIntact < 0) {
          firstIntact = pos;
        }
        if (!current) {
          oldRecords++;
          if (end < 0) {
            end = pos; // a previous life's record: the current one ended here
          }
          oldAfterEnd = true;
        }
        pos += header + len;
      } else {
        if (end < 0) {
          end = pos;
          damaged = true;
        }
        // A plausible length (a damaged payload) says where the next record starts; a damaged
        // header does not, so resume at the next block, which starts with a record.
        pos += fits ? header + len : BLOCK - inBlock;
      }
    }
    return new Scan(end < 0 ? buf.limit() : end, damaged, firstIntact, -1, recyclable, oldRecords);
  }

  /** The record types with an 11-byte header (log_format.h: kRecyclable*Type). */
  private static boolean isRecyclable(int type) {
    return (type >= 5 && type <= 8) || type == 11;
  }

  private static int headerLength(ByteBuffer buf, long pos) {
    if (pos + HEADER > buf.limit()) {
      return -1;
    }
    return Short.toUnsignedInt(buf.getShort((int) pos + 4));
  }

  private static boolean crcMatches(ByteBuffer buf, int pos, int header, int len) {
    CRC32C crc = new CRC32C();
    // type byte, the log number of a recyclable record, then the payload
    crc.update(buf.array(), pos + 6, header - 6 + len);
    int c = (int) crc.getValue();
    int masked = ((c >>> 15) | (c << 17)) + MASK_DELTA;
    return masked == buf.getInt(pos);
  }
}
