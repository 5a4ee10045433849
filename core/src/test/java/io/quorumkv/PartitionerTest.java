package io.quorumkv;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import org.junit.jupiter.api.Test;

class PartitionerTest {

  static byte[] b(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  @Test
  void hashPartitionsAreStableAndSpread() {
    HashPartitioner p = HashPartitioner.of(4);
    int[] counts = new int[5];
    for (int i = 0; i < 4000; i++) {
      counts[(int) p.partitionOf(b("key-" + i))]++;
    }
    assertEquals(0, counts[0]);
    for (int i = 1; i <= 4; i++) {
      assertTrue(counts[i] > 800 && counts[i] < 1200, "partition " + i + " got " + counts[i]);
    }
    // Pinned values: the mapping is part of the on-disk format; changing it would strand data.
    assertEquals(1, p.partitionOf(b("hello")));
    assertEquals(1, p.partitionOf(b("a")));
    assertEquals(4, p.partitionOf(b("user/42")));
    assertEquals(2, p.partitionOf(b("zzz")));
  }

  @Property(tries = 200)
  void everyKeyHasExactlyOneHashPartition(@ForAll byte[] key, @ForAll @IntRange(min = 1, max = 16) int n) {
    long owners = 0;
    for (long id = 1; id <= n; id++) {
      if (new KeySpan.HashSlot(id, n).owns(key)) {
        owners++;
      }
    }
    assertEquals(1, owners);
  }

  @Test
  void rangePartitionerValidatesSplitKeys() {
    assertEquals(3, RangePartitioner.of("g", "p").initialPartitionCount());
    assertThrows(IllegalArgumentException.class, () -> RangePartitioner.of("p", "g"));
    assertThrows(IllegalArgumentException.class, () -> RangePartitioner.of("g", "g"));
    assertThrows(IllegalArgumentException.class, () -> RangePartitioner.of(""));
    assertThrows(IllegalArgumentException.class, () -> HashPartitioner.of(0));
  }

  @Test
  void rangesOwnAndClamp() {
    KeySpan.Range r = new KeySpan.Range(b("g"), b("p"));
    assertTrue(r.owns(b("g")));
    assertTrue(r.owns(b("ozz")));
    assertFalse(r.owns(b("p")));
    assertFalse(r.owns(b("a")));
    assertTrue(r.splittableAt(b("h")));
    assertFalse(r.splittableAt(b("g")));
    assertFalse(r.splittableAt(b("p")));
    byte[][] c = r.clamp(b("a"), new byte[0]);
    assertEquals("g", new String(c[0], StandardCharsets.UTF_8));
    assertEquals("p", new String(c[1], StandardCharsets.UTF_8));
    assertNull(r.clamp(b("q"), b("z")));
    assertNull(r.clamp(b("a"), b("g")));
  }

  @Property(tries = 200)
  void initialRangesCoverEveryKeyOnce(@ForAll byte[] key) {
    List<KeySpan.Range> ranges = RoutingTable.initialSpans(RangePartitioner.of("g", "p", "t")).values().stream().map(KeySpan.Range.class::cast).toList();
    assertEquals(1, ranges.stream().filter(r -> r.owns(key)).count(), Arrays.toString(key));
  }
}
