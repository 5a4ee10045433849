package io.quorumkv.storage;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;
import java.util.zip.CRC32C;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.rocksdb.ColumnFamilyDescriptor;
import org.rocksdb.ColumnFamilyHandle;
import org.rocksdb.ColumnFamilyOptions;
import org.rocksdb.DBOptions;
import org.rocksdb.FlushOptions;
import org.rocksdb.RocksDB;
import org.rocksdb.WALRecoveryMode;
import org.rocksdb.WriteOptions;

/**
 * {@link WalCheck} on WAL images built by hand in RocksDB's log format (recycled files: a current
 * life over a previous one) and on WAL files RocksDB itself recycled.
 */
class WalCheckTest {

  @TempDir Path dir;

  /** A WAL image: physical records of the recyclable format, each unfragmented. */
  private static final class Image {
    final ByteArrayOutputStream out = new ByteArrayOutputStream();
    final List<Long> offsets = new ArrayList<>();

    Image add(int logNumber, int payloadBytes, int seed) {
      byte[] payload = new byte[payloadBytes];
      Arrays.fill(payload, (byte) seed);
      int inBlock = out.size() % (32 * 1024);
      if (32 * 1024 - inBlock < 11 + payloadBytes) {
        out.write(new byte[32 * 1024 - inBlock], 0, 32 * 1024 - inBlock); // zero trailer
      }
      offsets.add((long) out.size());
      ByteBuffer h = ByteBuffer.allocate(11).order(ByteOrder.LITTLE_ENDIAN);
      CRC32C crc = new CRC32C();
      byte[] typeAndLog = ByteBuffer.allocate(5).order(ByteOrder.LITTLE_ENDIAN)
          .put((byte) 5).putInt(logNumber).array(); // kRecyclableFullType
      crc.update(typeAndLog);
      crc.update(payload);
      int c = (int) crc.getValue();
      h.putInt(((c >>> 15) | (c << 17)) + 0xa282ead8).putShort((short) payloadBytes).put(typeAndLog);
      out.write(h.array(), 0, 11);
      out.write(payload, 0, payload.length);
      return this;
    }

    byte[] bytes() {
      return out.toByteArray();
    }
  }

  /** {@code count} records of {@code size} payload bytes of log {@code logNumber}. */
  private static Image life(int logNumber, int count, int size) {
    Image img = new Image();
    for (int i = 0; i < count; i++) {
      img.add(logNumber, size, logNumber * 16 + i);
    }
    return img;
  }

  /** The current life written over the start of the previous one, as RocksDB reuses a file. */
  private static byte[] recycled(byte[] previous, byte[] current) {
    byte[] file = previous.clone();
    System.arraycopy(current, 0, file, 0, current.length);
    return file;
  }

  private Path write(long number, byte[] bytes) throws Exception {
    Path p = dir.resolve(String.format("%06d.log", number));
    Files.write(p, bytes);
    return p;
  }

  @Test
  void currentRecordsThenAPreviousLifesRecordsEndWhereThePreviousLifeStarts() throws Exception {
    // same record sizes: the current life ends exactly on a previous-life record boundary
    Image current = life(9, 3, 100);
    Path wal = write(9, recycled(life(5, 40, 100).bytes(), current.bytes()));
    WalCheck.Scan scan = WalCheck.scan(wal);
    assertEquals(current.bytes().length, scan.end());
    assertFalse(scan.damaged());
    assertTrue(scan.oldRecords() > 30, "old records read: " + scan.oldRecords());
    assertEquals(Optional.empty(), WalCheck.check(dir));
  }

  @Test
  void currentRecordsEndingInsideAPreviousLifesRecordEndThere() throws Exception {
    // the end cuts an old record: its remains read as damage, old records follow (into the next block)
    Image current = life(9, 3, 150);
    Path wal = write(9, recycled(life(5, 400, 100).bytes(), current.bytes()));
    WalCheck.Scan scan = WalCheck.scan(wal);
    assertEquals(current.bytes().length, scan.end());
    assertEquals(-1, scan.intactAfterEnd());
    assertEquals(Optional.empty(), WalCheck.check(dir));
  }

  @Test
  void aTornCurrentRecordFollowedByPreviousLifeRecordsIsATornTail() throws Exception {
    Image current = life(9, 3, 100);
    byte[] file = recycled(life(5, 40, 100).bytes(), current.bytes());
    file[(int) (long) current.offsets.get(2) + 11 + 50] ^= 0x20; // the last current record
    write(9, file);
    WalCheck.Scan scan = WalCheck.scan(dir.resolve("000009.log"));
    assertEquals(current.offsets.get(2), scan.end());
    assertTrue(scan.damaged());
    assertEquals(Optional.empty(), WalCheck.check(dir));
  }

  @Test
  void aDamagedCurrentRecordFollowedByAnIntactCurrentRecordIsRefused() throws Exception {
    Image current = life(9, 3, 100);
    byte[] file = recycled(life(5, 40, 100).bytes(), current.bytes());
    file[(int) (long) current.offsets.get(1) + 11 + 50] ^= 0x20;
    Path wal = write(9, file);
    Optional<WalCheck.MidLogDamage> damage = WalCheck.check(dir);
    assertEquals(Optional.of(new WalCheck.MidLogDamage(wal, current.offsets.get(1), wal, current.offsets.get(2))),
        damage);
  }

  /**
   * A previous life's record inside the current one: the page of an overwrite that a power cut kept
   * from the disk while a later page got there. Past the last sync (a synced page is on the disk),
   * so never acknowledged: the current life ends there, as RocksDB's reader ends it.
   */
  @Test
  void aPreviousLifesRecordFollowedByACurrentRecordIsAnUnsyncedTail() throws Exception {
    Image current = life(9, 4, 100);
    byte[] file = recycled(life(5, 40, 100).bytes(), current.bytes());
    byte[] stale = life(5, 2, 100).bytes();
    int at = (int) (long) current.offsets.get(1);
    System.arraycopy(stale, 0, file, at, 111); // current record 1 replaced by an old one
    Path wal = write(9, file);
    WalCheck.Scan scan = WalCheck.scan(wal);
    assertEquals(at, scan.end());
    assertEquals(-1, scan.intactAfterEnd());
    assertEquals(Optional.empty(), WalCheck.check(dir));
  }

  /**
   * The usual shape of that: the overwrite's lost pages start inside an old record (its remains
   * read as damage), whole old records follow, then current records from pages that got there.
   */
  @Test
  void anOverwriteWhoseMiddlePagesWereLostIsAnUnsyncedTail() throws Exception {
    Image previous = life(5, 100, 150); // same sizes: the old records in the lost pages are whole
    Image current = life(9, 12, 150);
    byte[] file = recycled(previous.bytes(), current.bytes());
    int lostFrom = (int) (long) current.offsets.get(3) + 40; // inside current record 3
    int lostTo = (int) (long) current.offsets.get(9);
    System.arraycopy(previous.bytes(), lostFrom, file, lostFrom, lostTo - lostFrom); // old content shows
    Path wal = write(9, file);
    WalCheck.Scan scan = WalCheck.scan(wal);
    assertEquals(current.offsets.get(3), scan.end());
    assertTrue(scan.damaged(), "the cut current record");
    assertTrue(scan.oldRecords() >= 5, "old records in the lost pages: " + scan.oldRecords());
    assertEquals(-1, scan.intactAfterEnd());
    assertEquals(Optional.empty(), WalCheck.check(dir));
  }

  @Test
  void theLogNumberComparedIsTheFileNumbersLow32Bits() throws Exception {
    long number = (1L << 32) + 9;
    Image current = life(9, 3, 100);
    Path wal = write(number, recycled(life(5, 40, 100).bytes(), current.bytes()));
    assertEquals(current.bytes().length, WalCheck.scan(wal).end());
    assertEquals(Optional.empty(), WalCheck.check(dir));
  }

  /**
   * A recycled file that is not the last one ends in its previous life's leftovers, usually the
   * remains of a cut record; the next file's records do not make that damage.
   */
  @Test
  void theEndOfARecycledFileIsNotDamageBeforeTheNextFile() throws Exception {
    write(9, recycled(life(5, 40, 100).bytes(), life(9, 3, 150).bytes()));
    write(12, life(12, 5, 100).bytes());
    assertTrue(WalCheck.scan(dir.resolve("000009.log")).damaged(), "the cut old record reads as damage");
    assertEquals(Optional.empty(), WalCheck.check(dir));
  }

  /** Files in the 7-byte format keep the rule across files: a torn end with a later intact file is refused. */
  @Test
  void damageAtTheEndOfAFileInTheOldFormatIsStillRefusedBeforeALaterFile() throws Exception {
    byte[] legacy = legacyRecord(200);
    byte[] first = new byte[legacy.length * 2];
    System.arraycopy(legacy, 0, first, 0, legacy.length);
    System.arraycopy(legacy, 0, first, legacy.length, legacy.length);
    first[legacy.length + 7 + 10] ^= 0x20;
    Path a = write(9, first);
    Path b = write(12, legacy);
    assertEquals(Optional.of(new WalCheck.MidLogDamage(a, legacy.length, b, 0)), WalCheck.check(dir));
  }

  private static byte[] legacyRecord(int size) {
    byte[] payload = new byte[size];
    Arrays.fill(payload, (byte) 7);
    CRC32C crc = new CRC32C();
    crc.update(1); // kFullType
    crc.update(payload);
    int c = (int) crc.getValue();
    return ByteBuffer.allocate(7 + size).order(ByteOrder.LITTLE_ENDIAN)
        .putInt(((c >>> 15) | (c << 17)) + 0xa282ead8).putShort((short) size).put((byte) 1).put(payload).array();
  }

  /**
   * RocksDB itself recycling WAL files (the engine's recovery mode, a second column family left
   * unflushed so several WAL files stay alive): the files as a kill -9 leaves them (copied while
   * the database is open; a clean close trims each file to its current life) pass the check, and
   * reopening them finds every synced write.
   */
  @Test
  void walFilesRocksDbRecycledPassTheCheckAndKeepEverySyncedWrite() throws Exception {
    NativeLibrary.load();
    Path db = dir.resolve("db");
    Path killed = dir.resolve("killed");
    int rounds = 40;
    try (DBOptions options = options(); ColumnFamilyOptions cfOptions = new ColumnFamilyOptions();
        WriteOptions sync = new WriteOptions().setSync(true);
        FlushOptions flush = new FlushOptions().setWaitForFlush(true)) {
      List<ColumnFamilyHandle> handles = new ArrayList<>();
      try (RocksDB rocks = RocksDB.open(options, db.toString(), descriptors(cfOptions), handles)) {
        for (int i = 0; i < rounds; i++) {
          rocks.put(handles.get(0), sync, key(i), value(i, size(i, 0)));
          for (int j = 0; j < 100; j++) { // small records, so a previous life shows whole ones
            rocks.put(handles.get(1), sync, key(i * 100 + j), value(i, size(i * 100 + j, 1) / 4));
          }
          rocks.flush(flush, handles.get(0)); // a new WAL; the old one lives on for column family 1
          if (i % 3 == 2) {
            rocks.flush(flush, handles.get(1)); // old WAL files become obsolete: recycled
          }
        }
        rocks.put(handles.get(0), sync, key(rounds), value(rounds, 30)); // into the last, recycled file
        copy(db, killed);
        handles.forEach(ColumnFamilyHandle::close);
      }
      List<Path> wals = wals(killed);
      int recycled = 0;
      for (Path wal : wals) {
        WalCheck.Scan scan = WalCheck.scan(wal);
        if (scan.oldRecords() > 0 && scan.firstIntact() == 0 && scan.end() < Files.size(wal)) {
          recycled++; // current records over a previous life's, which follow them
        }
      }
      assertTrue(recycled >= 1, "recycled WAL files with records among " + wals);
      assertEquals(Optional.empty(), WalCheck.check(killed));
      handles.clear();
      try (RocksDB rocks = RocksDB.open(options, killed.toString(), descriptors(cfOptions), handles)) {
        for (int i = 0; i < rounds; i++) {
          assertArrayEquals(value(i, size(i, 0)), rocks.get(handles.get(0), key(i)), "key " + i);
          for (int j = 0; j < 100; j++) {
            assertArrayEquals(value(i, size(i * 100 + j, 1) / 4), rocks.get(handles.get(1), key(i * 100 + j)));
          }
        }
        assertArrayEquals(value(rounds, 30), rocks.get(handles.get(0), key(rounds)));
        handles.forEach(ColumnFamilyHandle::close);
      }
    }
  }

  private static void copy(Path from, Path to) throws Exception {
    Files.createDirectories(to);
    try (Stream<Path> s = Files.list(from)) {
      for (Path p : (Iterable<Path>) s::iterator) {
        Files.copy(p, to.resolve(p.getFileName()));
      }
    }
  }

  private static DBOptions options() {
    return new DBOptions().setCreateIfMissing(true).setCreateMissingColumnFamilies(true)
        .setWalRecoveryMode(WALRecoveryMode.PointInTimeRecovery).setRecycleLogFileNum(4);
  }

  private static List<ColumnFamilyDescriptor> descriptors(ColumnFamilyOptions o) {
    return List.of(new ColumnFamilyDescriptor(RocksDB.DEFAULT_COLUMN_FAMILY, o),
        new ColumnFamilyDescriptor("second".getBytes(StandardCharsets.UTF_8), o));
  }

  private static List<Path> wals(Path db) throws Exception {
    try (Stream<Path> s = Files.list(db)) {
      return s.filter(p -> p.getFileName().toString().endsWith(".log")).sorted().toList();
    }
  }

  private static byte[] key(int i) {
    return ("key-" + i).getBytes(StandardCharsets.UTF_8);
  }

  /** Sizes that rise and fall, so a file's current life is often shorter than its previous one. */
  private static int size(int i, int cf) {
    return 200 + (i * 7919 + cf * 104729) % 13 * 400;
  }

  private static byte[] value(int i, int size) {
    byte[] v = new byte[size];
    Arrays.fill(v, (byte) i);
    return v;
  }
}
