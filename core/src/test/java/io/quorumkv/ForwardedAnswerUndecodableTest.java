package io.quorumkv;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

/**
 * A request a node forwarded, which the peer handled and answered with a frame that cannot be
 * decoded, may have taken effect: the call must not fail as certainly not applied. Until session
 * 22 the forwarding node answered such a frame {@code INTERNAL}, which its caller surfaced as a
 * bare {@link IllegalStateException} (no outcome at all, read as "failed"). Node 3 forwards; node
 * 1 leads.
 */
class ForwardedAnswerUndecodableTest {

  private static final Duration WAIT = Duration.ofSeconds(30);
  private static final long FORWARDER = 3;

  @Test
  void aForwardedWriteWhoseAnswerCannotBeDecodedIsUnknown() {
    AtomicReference<ScriptedRequests> t = new AtomicReference<>();
    try (MemoryCluster c = cluster(t, req -> req instanceof KvRequest.ForPartition
        ? ScriptedRequests.Fate.CORRUPT : ScriptedRequests.Fate.PASS)) {
      RuntimeException failure = assertThrows(RuntimeException.class, () -> c.node(FORWARDER).put("k", "v"));
      assertTrue(t.get().interfered.get() > 0, "staging: no answer was corrupted");
      assertEquals(Optional.of("v"), c.node(1).get("k"), "staging: the forwarded write did not apply");
      KvException kv = assertInstanceOf(KvException.class, failure, "no outcome: " + failure);
      assertTrue(kv.outcomeUnknown(), "the write applied, yet its call said it had not: " + kv);
    }
  }

  @Test
  void aForwardedTransferWhoseAnswerCannotBeDecodedIsUnknown() {
    AtomicReference<ScriptedRequests> t = new AtomicReference<>();
    try (MemoryCluster c = cluster(t, req -> req instanceof KvRequest.Admin
        ? ScriptedRequests.Fate.CORRUPT : ScriptedRequests.Fate.PASS)) {
      RuntimeException failure = assertThrows(RuntimeException.class, () -> c.node(FORWARDER).transferLeader(1, 2));
      assertTrue(t.get().interfered.get() > 0, "staging: no answer was corrupted");
      MemoryCluster.await(WAIT, "node 2 to lead partition 1", () -> MemoryCluster.leaderOf(c, 1) == 2);
      KvException kv = assertInstanceOf(KvException.class, failure, "no outcome: " + failure);
      assertTrue(kv.outcomeUnknown(), "node 2 took the leadership, yet the call said it had not: " + kv);
    }
  }

  /** A three-node cluster, one partition led by node 1, whose node 3 sends its requests through {@code script}. */
  private static MemoryCluster cluster(AtomicReference<ScriptedRequests> transport,
      Function<KvRequest, ScriptedRequests.Fate> script) {
    MemoryCluster c = new MemoryCluster(3, RangePartitioner.single(), 73,
        b -> ScriptedRequests.install(b.balanceLeaders(false), FORWARDER, transport, script)).start();
    c.awaitLeaders(WAIT);
    if (MemoryCluster.leaderOf(c, 1) != 1) {
      c.node(1).transferLeader(1, 1); // node 1 itself: no forwarded request
    }
    assertNotNull(transport.get(), "staging: node 3's transport is not scripted");
    return c;
  }
}
