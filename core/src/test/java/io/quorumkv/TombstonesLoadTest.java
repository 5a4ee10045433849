package io.quorumkv;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quorumkv.raft.Entry;
import io.quorumkv.storage.KvMutation;
import io.quorumkv.storage.MemoryDisk;
import io.quorumkv.storage.StorageEngine;
import io.quorumkv.storage.StorageOptions;
import io.quorumkv.storage.StorageStartupException;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The node-local records ({@link Tombstones}) read back at start: every kind this version writes,
 * and a clear refusal of a kind it does not know (a data directory a newer version wrote), rather
 * than a record misread as a tombstone.
 */
class TombstonesLoadTest {

  private static StorageEngine open(MemoryDisk disk) {
    return StorageEngine.openInMemory(disk, "test", StorageOptions.defaults(1));
  }

  @Test
  void everyKindOfRecordIsReadBack() {
    MemoryDisk disk = new MemoryDisk();
    try (StorageEngine e = open(disk)) {
      Tombstones t = new Tombstones(e);
      t.record(7, new Tombstones.Tombstone(4, 2, 31));
      t.beginChild(9);
      t.fence(11, 57);
      t.beginChild(12);
      t.childDone(12, 3);
    }
    try (StorageEngine e = open(disk)) {
      Tombstones t = new Tombstones(e);
      assertEquals(new Tombstones.Tombstone(4, 2, 31), t.get(7));
      assertEquals(List.of(9L), List.copyOf(t.childrenBegun()));
      assertEquals(57, t.fencedAt(11));
      assertEquals(3, t.fencedAt(12));
      assertNull(t.get(11), "a fence is not a tombstone");
    }
  }

  @Test
  void aRecordOfAKindThisVersionDoesNotKnowIsRefusedAtStart() {
    MemoryDisk disk = new MemoryDisk();
    byte[] unknownKey = new Codec.Writer().u8(0xFC).i64(5).toArray();
    try (StorageEngine e = open(disk)) {
      new Tombstones(e).record(7, new Tombstones.Tombstone(4, 2, 31));
      long index = e.log(Tombstones.GROUP).lastIndex() + 1; // the store may not run ahead of its log
      e.write(e.newLogBatch().append(Tombstones.GROUP, List.of(Entry.normal(index, 1, Entry.EMPTY))));
      e.stateMachine(Tombstones.GROUP).apply(index, 1,
          List.of(KvMutation.put(unknownKey, new Codec.Writer().i64(1).i64(2).i64(3).toArray())));
    }
    try (StorageEngine e = open(disk)) {
      StorageStartupException x = assertThrows(StorageStartupException.class, () -> new Tombstones(e));
      assertEquals(StorageStartupException.Reason.UNKNOWN_FORMAT_VERSION, x.reason());
      assertTrue(x.getMessage().contains("fc0000000000000005") && x.getMessage().contains("newer version"),
          x.getMessage());
    }
  }
}
