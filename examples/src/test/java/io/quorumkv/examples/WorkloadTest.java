package io.quorumkv.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.nio.charset.StandardCharsets;
import java.util.HashSet;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;

class WorkloadTest {

  /** The keys peers.Bench derives (SplitMix64 outputs, checked against an independent implementation). */
  @Test
  void keysAreThePeersHarnessKeys() {
    Workload w = new Workload(100_000, 256);
    assertEquals("e220a8397b1dcdaf", new String(w.key(0), StandardCharsets.US_ASCII));
    assertEquals("6e789e6aa1b965f4", new String(w.key(1), StandardCharsets.US_ASCII));
    assertEquals("f00e06354f82deef", new String(w.key(99_999), StandardCharsets.US_ASCII));
    Set<String> distinct = new HashSet<>();
    for (int i = 0; i < w.keyspace(); i++) {
      assertEquals(16, w.key(i).length);
      distinct.add(new String(w.key(i), StandardCharsets.US_ASCII));
    }
    assertEquals(100_000, distinct.size());
  }

  @Test
  void valuesAreFreshAndSized() {
    Workload w = new Workload(10, 256);
    Random rnd = new Random(1);
    byte[] a = w.freshValue(rnd);
    byte[] b = w.freshValue(rnd);
    assertEquals(256, a.length);
    assertNotEquals(new String(a, StandardCharsets.ISO_8859_1), new String(b, StandardCharsets.ISO_8859_1));
  }

  @Test
  void rejectsBadSizes() {
    assertThrows(IllegalArgumentException.class, () -> new Workload(0, 1));
    assertThrows(IllegalArgumentException.class, () -> new Workload(1, -1));
  }
}
