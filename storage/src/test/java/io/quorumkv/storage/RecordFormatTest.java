package io.quorumkv.storage;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.quorumkv.raft.ConfChange;
import io.quorumkv.raft.ConfChangeType;
import io.quorumkv.raft.ConfState;
import io.quorumkv.raft.Entry;
import io.quorumkv.raft.EntryType;
import io.quorumkv.raft.HardState;
import io.quorumkv.raft.Snapshot;
import io.quorumkv.raft.SnapshotMetadata;
import io.quorumkv.testkit.GoldenBytes;
import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * The keys and records a data directory holds, and the snapshot payload nodes store and send each
 * other, are a format ({@link StorageEngine#FORMAT_VERSION}): a node refuses a directory of
 * another version, so every byte written under version 1 must stay what it is, or the version
 * must change with a migration. The golden file holds the bytes this version writes; a change to
 * any of them (a reordered enum written by ordinal, a moved field, another checksum) fails here.
 */
class RecordFormatTest {

  private static final String GOLDEN = "record-format-" + StorageEngine.FORMAT_VERSION + ".txt";
  private static final long GROUP = 0x0102030405060708L;
  private static final ConfState JOINT = new ConfState(Set.of(1L, 2L, 4L), Set.of(5L), Set.of(1L, 2L, 3L),
      Set.of(3L), true);
  private static final ConfState THREE = new ConfState(Set.of(3L, 1L, 2L), Set.of(), Set.of(), Set.of(), false);

  private static byte[] utf8(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  /** Every stored key and value this version writes, by name; names are stable, new ones are added. */
  static Map<String, byte[]> samples() {
    Map<String, byte[]> s = new LinkedHashMap<>();
    byte[] logKey = Keys.log(GROUP, 42);
    s.put("key.log", logKey);
    s.put("key.group", Keys.group(GROUP));
    s.put("key.state", Keys.state(GROUP, utf8("user-key")));
    for (byte type : new byte[] {Keys.HARD_STATE, Keys.LOG_BASE, Keys.SNAPSHOT, Keys.APPLIED, Keys.CONF_STATE,
        Keys.RESTORE}) {
      s.put("key.meta." + type, Keys.meta(GROUP, type));
    }
    s.put("entry.normal", Codec.entry(logKey, new Entry(42, 7, EntryType.NORMAL, utf8("command"))));
    s.put("entry.no-op", Codec.entry(logKey, new Entry(42, 7, EntryType.NORMAL, Entry.EMPTY)));
    s.put("entry.conf-change", Codec.entry(logKey,
        new Entry(42, 7, EntryType.CONF_CHANGE, ConfChange.of(ConfChangeType.ADD_LEARNER, 4).encode())));
    byte[] hs = Keys.meta(GROUP, Keys.HARD_STATE);
    s.put("hard-state", Codec.hardState(hs, new HardState(9, 2, 41)));
    byte[] applied = Keys.meta(GROUP, Keys.APPLIED);
    s.put("position.applied", Codec.position(applied, 40, 7));
    byte[] conf = Keys.meta(GROUP, Keys.CONF_STATE);
    s.put("conf-state.three", Codec.confState(conf, 3, THREE));
    s.put("conf-state.joint", Codec.confState(conf, 17, JOINT));
    s.put("state-value", Codec.stateValue(Keys.state(GROUP, utf8("user-key")), utf8("a value")));
    byte[] snapKey = Keys.meta(GROUP, Keys.SNAPSHOT);
    s.put("snapshot-record", StorageEngine.encodeSnapshot(snapKey, GROUP,
        new Snapshot(new SnapshotMetadata(40, 7, JOINT), new byte[0])));
    s.put("snapshot-payload", payload(new SnapshotMetadata(40, 7, THREE),
        List.of(new byte[][] {utf8("a"), utf8("1")}, new byte[][] {utf8("b"), new byte[0]})));
    return s;
  }

  private static byte[] payload(SnapshotMetadata m, List<byte[][]> records) {
    Bytes out = new Bytes();
    SnapshotFormat.Writer w = new SnapshotFormat.Writer(out, GROUP, m);
    records.forEach(r -> w.record(r[0], r[1]));
    w.finish();
    return out.toByteArray();
  }

  @Test
  void theBytesOfThisVersionAreTheGoldenOnes() {
    GoldenBytes.check(RecordFormatTest.class, GOLDEN,
        "Keys, records and the snapshot payload of data directories of format version "
            + StorageEngine.FORMAT_VERSION + " (StorageEngine.FORMAT_VERSION).\n"
            + "Users' disks hold these bytes: never edit a line. A change is a new format version, with a\n"
            + "migration of older directories, and a new file.",
        samples(),
        "The bytes a data directory of format version " + StorageEngine.FORMAT_VERSION + " holds changed; users' "
            + "disks hold the old ones. Either keep the encoding, or raise StorageEngine.FORMAT_VERSION with a "
            + "migration and a new golden file (docs/operations.md, \"Upgrades and formats\").");
  }

  @Test
  void everyGoldenRecordReadsBackAsWritten() {
    Map<String, byte[]> g = GoldenBytes.load(RecordFormatTest.class, GOLDEN).orElseThrow();
    byte[] logKey = g.get("key.log");
    assertEquals(GROUP, Keys.groupOf(logKey));
    assertEquals(42, Keys.indexOf(logKey));
    Entry e = Codec.entry(logKey, g.get("entry.normal"), () -> "golden entry");
    assertEquals(List.of(42L, 7L, EntryType.NORMAL), List.of(e.index(), e.term(), e.type()));
    assertArrayEquals(utf8("command"), e.data());
    Entry cc = Codec.entry(logKey, g.get("entry.conf-change"), () -> "golden entry");
    assertEquals(EntryType.CONF_CHANGE, cc.type());
    assertEquals(ConfChange.of(ConfChangeType.ADD_LEARNER, 4).changes(), ConfChange.decode(cc.data()).changes());
    byte[] hsKey = g.get("key.meta." + Keys.HARD_STATE);
    assertEquals(new HardState(9, 2, 41), Codec.hardState(Codec.unseal(hsKey, g.get("hard-state"), () -> "hs")));
    ByteBuffer conf = Codec.unseal(g.get("key.meta." + Keys.CONF_STATE), g.get("conf-state.joint"), () -> "conf");
    assertEquals(17, conf.getLong());
    assertEquals(JOINT, Codec.getConfState(conf));
    assertArrayEquals(utf8("a value"), Codec.stateValue(g.get("key.state"), g.get("state-value"), () -> "value"));
    Snapshot snap = StorageEngine.decodeSnapshot(
        Codec.unseal(g.get("key.meta." + Keys.SNAPSHOT), g.get("snapshot-record"), () -> "snapshot"));
    assertEquals(new SnapshotMetadata(40, 7, JOINT), snap.metadata());
    assertEquals(GROUP, SnapshotFormat.descriptorGroup(snap.data()));
    List<String> read = new ArrayList<>();
    SnapshotFormat.read(new Bytes.Reader(g.get("snapshot-payload")), "golden payload", GROUP,
        new SnapshotMetadata(40, 7, THREE), (k, v) -> read.add(new String(k, StandardCharsets.UTF_8) + "="
            + new String(v, StandardCharsets.UTF_8)));
    assertEquals(List.of("a=1", "b="), read);
  }

  /** A blob held in memory, to capture and read back a snapshot payload. */
  private static final class Bytes implements BlobStore.Writer {
    private final ByteArrayOutputStream out = new ByteArrayOutputStream();

    @Override
    public void write(byte[] data, int off, int len) {
      out.write(data, off, len);
    }

    @Override
    public long size() {
      return out.size();
    }

    byte[] toByteArray() {
      return out.toByteArray();
    }

    @Override
    public void commit() {}

    @Override
    public void close() {}

    private record Reader(byte[] data) implements BlobStore.Reader {
      @Override
      public long size() {
        return data.length;
      }

      @Override
      public int read(long offset, byte[] buf, int off, int len) {
        int n = (int) Math.min(len, data.length - offset);
        if (n <= 0) {
          return -1;
        }
        System.arraycopy(data, (int) offset, buf, off, n);
        return n;
      }

      @Override
      public void close() {}
    }
  }
}
