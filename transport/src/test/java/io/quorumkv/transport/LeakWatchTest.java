package io.quorumkv.transport;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The leak check itself can fail: a deliberately leaked buffer is reported. */
class LeakWatchTest {
  static {
    LeakWatch.install();
  }

  @Test
  void aPlantedLeakIsReported() throws Exception {
    leakOne();
    List<String> found = List.of();
    for (int i = 0; i < 20 && found.isEmpty(); i++) {
      found = LeakWatch.take("planted-leak");
    }
    assertFalse(found.isEmpty(), "the planted leak was not reported");
    assertTrue(found.get(0).contains("ByteBuf"), found.toString());
  }

  private static void leakOne() {
    ByteBuf leaked = PooledByteBufAllocator.DEFAULT.directBuffer(64);
    leaked.touch("planted-leak");
    leaked.writeLong(42);
  }
}
