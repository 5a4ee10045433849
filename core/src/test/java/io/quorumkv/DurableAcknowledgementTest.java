package io.quorumkv;

import static io.quorumkv.MemoryCluster.partition;
import static io.quorumkv.MemoryCluster.sleep;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quorumkv.raft.Message;
import io.quorumkv.transport.RaftTransport;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

/**
 * A follower acknowledges appended entries only once its log write is durable, whatever the
 * number of groups with work in one turn of its Raft loop: the acknowledgements leave from the log
 * writer's completion of the write that holds them, never with the messages that may leave at
 * once. The follower's disk stops syncing while the other two nodes go on
 * committing writes of every partition; the follower must claim none of the entries it received
 * meanwhile until its disk syncs again.
 */
class DurableAcknowledgementTest {

  private static final Duration WAIT = Duration.ofSeconds(15);
  private static final long FOLLOWER = 3;

  /** Every successful append acknowledgement a node hands to its transport, per group. */
  private static final class Acks {
    final Map<Long, Long> highest = new ConcurrentHashMap<>();
    final List<long[]> log = java.util.Collections.synchronizedList(new ArrayList<>());

    void saw(long group, Message m) {
      if (m instanceof Message.AppendEntriesResponse r && !r.reject()) {
        highest.merge(group, r.index(), Math::max);
        log.add(new long[] {group, r.index()});
      }
    }

    long highest(long group) {
      return highest.getOrDefault(group, 0L);
    }
  }

  @Test
  void aFollowerWhoseDiskDoesNotSyncAcknowledgesNothingNew() {
    Acks acks = new Acks();
    try (MemoryCluster c = new MemoryCluster(3, HashPartitioner.of(3), 24, b -> b.balanceLeaders(false)
        .electionTicks(30).syncStallTimeout(Duration.ofSeconds(30))
        .overrides(o -> {
          Function<KvNodeConfig, RaftTransport> inner = o.transport;
          o.transport = cfg -> cfg.nodeId() == FOLLOWER ? new Watched(inner.apply(cfg), acks) : inner.apply(cfg);
        })).start()) {
      c.awaitLeaders(WAIT);
      for (long p = 1; p <= 3; p++) {
        if (MemoryCluster.leaderOf(c, p) == FOLLOWER) {
          c.node(1).transferLeader(p, 1);
        }
      }
      for (int i = 0; i < 30; i++) {
        c.node(1).put("warm-" + i, "v");
      }
      awaitAcknowledgedToCommit(c, acks);
      Map<Long, Long> before = Map.copyOf(acks.highest);
      int seen = acks.log.size();

      c.disk(FOLLOWER).stallSyncs();
      try {
        // The other two commit these without the follower; it receives and appends them all.
        for (int i = 0; i < 60; i++) {
          c.node(1).put("stalled-" + i, "v");
        }
        sleep(300); // time for an early acknowledgement to leave, if the node would send one
        List<long[]> during;
        synchronized (acks.log) {
          during = new ArrayList<>(acks.log.subList(seen, acks.log.size()));
        }
        for (long[] a : during) {
          assertTrue(a[1] <= before.getOrDefault(a[0], 0L), "node " + FOLLOWER + " acknowledged index " + a[1]
              + " of group " + a[0] + " while its disk was not syncing (durable up to " + before.get(a[0]) + ")");
        }
        for (long p = 1; p <= 3; p++) {
          long leader = MemoryCluster.leaderOf(c, p);
          assertTrue(partition(c.node(leader), p).commitIndex() > before.getOrDefault(p, 0L),
              "partition " + p + " committed writes without the follower");
        }
      } finally {
        c.disk(FOLLOWER).resumeSyncs();
      }
      // Once the disk syncs, the follower acknowledges everything: the check above was not vacuous.
      awaitAcknowledgedToCommit(c, acks);
      for (long p = 1; p <= 3; p++) {
        assertTrue(acks.highest(p) > before.getOrDefault(p, 0L), "group " + p + " acknowledged after the stall");
      }
      assertEquals(3, acks.highest.size());
    }
  }

  /**
   * The leader applies and answers a write once a majority holds it durably, even while its own
   * log write is only written, not yet synced: the two followers' fsyncs make the majority, so a
   * round waits for the faster majority instead of always the leader's disk. What it answered
   * survives the leader's crash, which loses the leader's unsynced log and the state written after
   * it, together (one write-ahead log).
   */
  @Test
  void aLeaderAnswersWritesAMajorityHoldsDurablyBeforeItsOwnSyncAndACrashLosesNone() {
    // A long stall bound: the leader keeps its leadership through the stall.
    try (MemoryCluster c = new MemoryCluster(3, HashPartitioner.of(1), 25,
        b -> b.electionTicks(30).syncStallTimeout(Duration.ofSeconds(60))).start()) {
      c.awaitLeaders(WAIT);
      long leader = MemoryCluster.leaderOf(c, 1);
      c.node(leader).put("before", "stall");
      c.disk(leader).stallSyncs();
      // Answered although the leader's disk syncs nothing (it would time out otherwise). One
      // write: the log writer writes only a few rounds ahead of its syncs.
      c.node(leader).put("during", "v");
      c.crash(leader); // its unsynced log and state are lost
      long survivor = leader == 1 ? 2 : 1;
      MemoryCluster.await(WAIT, "a new leader", () -> {
        long now = partition(c.node(survivor), 1).leader();
        return now != 0 && now != leader;
      });
      assertEquals(java.util.Optional.of("v"), c.node(survivor).get("during", ReadConsistency.LINEARIZABLE));
      c.disk(leader).resumeSyncs();
      KvNode back = c.restart(leader);
      MemoryCluster.await(WAIT, "the crashed leader to catch up",
          () -> back.get("during", ReadConsistency.STALE).equals(java.util.Optional.of("v")));
    }
  }

  /** Waits until the follower acknowledged every partition up to its leader's commit index. */
  private static void awaitAcknowledgedToCommit(MemoryCluster c, Acks acks) {
    MemoryCluster.await(WAIT, "node " + FOLLOWER + " to acknowledge every partition's commit index", () -> {
      for (long p = 1; p <= 3; p++) {
        long leader = MemoryCluster.leaderOf(c, p);
        if (leader == 0 || leader == FOLLOWER || acks.highest(p) < partition(c.node(leader), p).commitIndex()) {
          return false;
        }
      }
      return true;
    });
  }

  /** A transport that shows the test every message its node sends, by either path. */
  private static final class Watched extends ForwardingTransport {
    private final Acks acks;

    Watched(RaftTransport inner, Acks acks) {
      super(inner);
      this.acks = acks;
    }

    @Override
    public void send(long toNode, long groupId, Message m) {
      acks.saw(groupId, m);
      inner.send(toNode, groupId, m);
    }
  }
}
