package io.quorumkv.raft;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** The per-follower pipelining window. */
class InflightsTest {

  @Test
  void fillsUpToItsCapacity() {
    Inflights in = new Inflights(3, 0);
    in.add(10, 0);
    in.add(20, 0);
    assertFalse(in.full());
    in.add(30, 0);
    assertTrue(in.full());
    assertThrows(IllegalStateException.class, () -> in.add(40, 0));
  }

  @Test
  void fillsUpToItsByteBoundButAlwaysTakesOneMessage() {
    Inflights in = new Inflights(8, 100);
    in.add(10, 250); // larger than the bound: alone, still sent
    assertTrue(in.full());
    assertEquals(250, in.bytes());
    in.freeLE(10);
    assertFalse(in.full());
    in.add(20, 60);
    assertFalse(in.full());
    in.add(30, 40);
    assertTrue(in.full(), "100 bytes in flight");
    in.freeLE(20);
    assertEquals(40, in.bytes());
    assertFalse(in.full());
    in.reset();
    assertEquals(0, in.bytes());
  }

  @Test
  void anAcknowledgementFreesEveryMessageUpToIt() {
    Inflights in = new Inflights(4, 0);
    in.add(10, 0);
    in.add(20, 0);
    in.add(30, 0);
    in.freeLE(25);
    assertEquals(1, in.count());
    in.freeLE(5);
    assertEquals(1, in.count(), "an old acknowledgement frees nothing");
    in.freeLE(30);
    assertEquals(0, in.count());
  }

  @Test
  void wrapsAroundTheRingBuffer() {
    Inflights in = new Inflights(3, 0);
    long next = 1;
    for (int round = 0; round < 10; round++) {
      while (!in.full()) {
        in.add(next++, 0);
      }
      in.freeLE(next - 2); // keep the newest one in flight
      assertEquals(1, in.count());
    }
    in.add(next, 0);
    in.freeLE(next);
    assertEquals(0, in.count());
  }

  @Test
  void indexesMustGrow() {
    Inflights in = new Inflights(3, 0);
    in.add(10, 0);
    assertThrows(IllegalArgumentException.class, () -> in.add(10, 0));
  }

  @Test
  void resetEmptiesTheWindow() {
    Inflights in = new Inflights(2, 0);
    in.add(1, 0);
    in.add(2, 0);
    in.reset();
    assertEquals(0, in.count());
    in.add(1, 0);
  }
}
