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
 * one for recyclable types (plus a log number, covered by the CRC), then the payload. A block's
 * last 0..6 bytes are zero padding; preallocated space reads as zero headers.
 */
final class WalCheck {

  private static final int BLOCK = 32 * 1024;
  private static final int HEADER = 7;
  private static final int RECYCLABLE_HEADER = 11;
  private static final int FIRST_RECYCLABLE_TYPE = 5;
  private static final int LAST_RECYCLABLE_TYPE = 8;
  private static final int MASK_DELTA = 0xa282ead8;

  private WalCheck() {}

  /** Where the first damaged record is, in a WAL with intact records after it. */
  record MidLogDamage(Path file, long offset, Path intactFile, long intactOffset) {
    String describe() {
      return "damaged record at offset " + offset + " of " + file.getFileName() + ", intact record after it at offset "
          + intactOffset + " of " + intactFile.getFileName();
    }
  }

  /** Checks every WAL file of {@code dbDir}, oldest first. */
  static Optional<MidLogDamage> check(Path dbDir) throws IOException {
    List<Path> wals = new ArrayList<>();
    if (Files.isDirectory(dbDir)) {
      try (Stream<Path> s = Files.list(dbDir)) {
        s.filter(p -> p.getFileName().toString().matches("\\d+\\.log")).forEach(wals::add);
      }
    }
    wals.sort(Comparator.comparingLong(p -> Long.parseLong(p.getFileName().toString().replace(".log", ""))));
    Path damagedFile = null;
    long damagedAt = -1;
    for (Path wal : wals) {
      ByteBuffer buf = ByteBuffer.wrap(Files.readAllBytes(wal)).order(ByteOrder.LITTLE_ENDIAN);
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
        int header = type >= FIRST_RECYCLABLE_TYPE && type <= LAST_RECYCLABLE_TYPE ? RECYCLABLE_HEADER : HEADER;
        boolean fits = len >= 0 && inBlock + header + len <= BLOCK && pos + header + len <= buf.limit();
        if (fits && crcMatches(buf, (int) pos, header, len)) {
          if (damagedFile != null) {
            return Optional.of(new MidLogDamage(damagedFile, damagedAt, wal, pos));
          }
          pos += header + len;
        } else {
          if (damagedFile == null) {
            damagedFile = wal;
            damagedAt = pos;
          }
          // A plausible length (a damaged payload) says where the next record starts; a damaged
          // header does not, so resume at the next block, which starts with a record.
          pos += fits ? header + len : BLOCK - inBlock;
        }
      }
    }
    return Optional.empty();
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
