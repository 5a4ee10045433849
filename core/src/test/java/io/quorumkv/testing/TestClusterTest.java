package io.quorumkv.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quorumkv.KvClient;
import io.quorumkv.KvException;
import io.quorumkv.KvNode;
import io.quorumkv.ReadConsistency;
import io.quorumkv.StorageEngineType;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** The fixture itself, in both kinds: each fault does what it says. */
class TestClusterTest {

  private static final Duration WAIT = Duration.ofSeconds(15);

  @Test
  void inMemoryCrashRestartPartitionHealAndMembership() {
    try (TestCluster c = TestCluster.builder().nodes(3).build().start()) {
      c.awaitLeaders(WAIT);
      KvClient client = c.client();
      client.put("k", "1");

      long leader = c.leaderOf(c.partitions().iterator().next()).orElseThrow();
      c.crash(leader);
      assertEquals(Set.of(leader), c.down());
      client.put("k", "2"); // the other two elect a leader and commit
      KvNode back = c.restart(leader);
      TestCluster.await(WAIT, "the restarted node to catch up",
          () -> back.get("k", ReadConsistency.STALE).equals(Optional.of("2")));

      // A minority cannot write; the majority can; after the heal the minority catches up.
      c.awaitLeaders(WAIT);
      long minority = c.leaderOf(c.partitions().iterator().next()).orElseThrow();
      c.isolate(minority);
      KvException e = assertThrows(KvException.class, () -> c.node(minority).withTimeout(Duration.ofMillis(500))
          .put("k", "from-minority"));
      assertFalse(e instanceof io.quorumkv.NotLeaderException, e.toString());
      long other = minority == 1 ? 2 : 1;
      TestCluster.await(WAIT, "the majority to write", () -> {
        c.node(other).withTimeout(Duration.ofMillis(500)).put("k", "3");
        return true;
      });
      c.heal();
      TestCluster.await(WAIT, "the minority to catch up",
          () -> c.node(minority).get("k", ReadConsistency.STALE).equals(Optional.of("3"))
              || c.node(minority).get("k", ReadConsistency.STALE).equals(Optional.of("from-minority")));

      long added = c.addNode();
      assertEquals(4, added);
      assertEquals(Set.of(1L, 2L, 3L, 4L), c.members());
      TestCluster.await(WAIT, "node 4 to be a voter everywhere", () -> c.node(1).status().partitions().stream()
          .allMatch(p -> p.voters().contains(4L)));
      c.removeNode(4);
      assertEquals(Set.of(1L, 2L, 3L), c.members());
      assertEquals(Set.of(1L, 2L, 3L), c.running());
      c.awaitLeaders(WAIT);
      assertTrue(c.client().get("k").isPresent());
    }
  }

  @Test
  void rocksDbOverNettyTakesTheSameFaultsAndCleansUp() throws Exception {
    Path dir;
    try (TestCluster c = TestCluster.builder().nodes(3).storage(StorageEngineType.ROCKSDB).build().start()) {
      c.awaitLeaders(WAIT);
      KvClient client = c.client();
      client.put("k", "1");
      long leader = c.leaderOf(c.partitions().iterator().next()).orElseThrow();
      c.partition(Set.of(leader), Set.of(1L, 2L, 3L).stream().filter(id -> id != leader)
          .collect(java.util.stream.Collectors.toSet()));
      // The old leader's side cannot commit; the others elect a leader and can.
      assertThrows(KvException.class, () -> c.node(leader).withTimeout(Duration.ofMillis(500)).put("k", "lost"));
      long other = leader == 1 ? 2 : 1;
      TestCluster.await(WAIT, "the majority to write", () -> {
        c.node(other).withTimeout(Duration.ofMillis(500)).put("k", "2");
        return true;
      });
      c.crash(other);
      c.heal();
      c.restart(other); // gets the (healed) fault rules of a fresh transport, and its data back
      c.awaitLeaders(WAIT);
      assertEquals(Optional.of("2"), c.client().get("k"));
      dir = c.node(1).config().dataDir();
      assertTrue(Files.isDirectory(dir));
    }
    assertFalse(Files.exists(dir.getParent()), "the temporary directory is deleted on close");
  }
}
