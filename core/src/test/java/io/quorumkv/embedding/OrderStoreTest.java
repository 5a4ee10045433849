package io.quorumkv.embedding;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Runs the docs/api.md example as a one-member cluster, then restarts it from its data dir. */
class OrderStoreTest {

  @TempDir
  Path dir;

  @Test
  void theEmbeddingExampleWorksAndSurvivesARestart() throws IOException {
    int port;
    try (ServerSocket s = new ServerSocket(0)) {
      port = s.getLocalPort();
    }
    Map<Long, String> members = Map.of(1L, "127.0.0.1:" + port);
    try (OrderStore store = new OrderStore(1, members, dir)) {
      assertTrue(store.place("7", "a", "open"));
      assertFalse(store.place("7", "a", "open"));
      assertTrue(store.place("7", "b", "open"));
      assertTrue(store.ship("7", "a", "open", "shipped"));
      assertEquals(List.of("shipped", "open"), store.orders("7"));
    }
    try (OrderStore store = new OrderStore(1, members, dir)) {
      assertEquals(Optional.of("shipped"), store.order("7", "a"));
      assertTrue(store.cancelBoth("7", "a", "b"));
      // STALE may miss the caller's own latest writes (answered once committed, maybe before this
      // replica applied them); the linearizable read waits until this, the only replica, has.
      assertEquals(Optional.empty(), store.order("7", "b"));
      assertEquals(Optional.empty(), store.orderForDashboard("7", "b"));
    }
  }
}
