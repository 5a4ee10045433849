package io.quorumkv.jepsen;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A cluster that cannot start must say why (each node's state and the end of its log) instead
 * of "not ready", must not wait out its timeout when every node has exited, and is tried once
 * more from scratch, with the first failure reported.
 */
class ClusterStartTest {

  @Test
  void aClusterWhoseNodesExitFailsFastWithEachNodesExitCodeAndLog(@TempDir Path logs) {
    List<String> retries = new ArrayList<>();
    // split keys out of order: every node refuses its configuration and exits with code 1
    try (Cluster cluster = new Cluster("start-test", 3, List.of("m", "c"), logs)) {
      long t0 = System.nanoTime();
      IllegalStateException e = assertThrows(IllegalStateException.class,
          () -> cluster.start(Duration.ofSeconds(90), retries::add));
      long seconds = (System.nanoTime() - t0) / 1_000_000_000L;
      assertTrue(seconds < 60, "waited " + seconds + " s for nodes that had exited");
      assertTrue(e.getMessage().startsWith("cluster not ready: every member exited"), e.getMessage());
      for (long id = 1; id <= 3; id++) {
        assertTrue(e.getMessage().contains("n" + id + "@127.0.0.1:"), e.getMessage());
      }
      assertTrue(e.getMessage().contains("exited with 1"), e.getMessage());
      assertTrue(e.getMessage().contains("==== jepsen: starting node"), "log tail quoted: " + e.getMessage());
      assertEquals(1, retries.size(), "the first failure is reported once: " + retries);
      assertTrue(retries.get(0).contains("started again from scratch on new ports"), retries.get(0));
    }
  }
}
