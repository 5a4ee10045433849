package io.quorumkv;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quorumkv.raft.Message;
import java.time.Duration;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** Idle partitions stop ticking and heartbeating, and wake when used or when their leader's node dies. */
class QuiescenceTest {

  private static final Duration WAIT = Duration.ofSeconds(15);

  private static boolean allQuiesced(MemoryCluster c, long... nodes) {
    for (long n : nodes) {
      for (PartitionStatus p : c.node(n).status().partitions()) {
        if (!c.node(n).runtime().isQuiesced(p.partitionId())) {
          return false;
        }
      }
    }
    return true;
  }

  /** A started 3-node cluster whose partitions all hold key {@code key} and are all quiesced. */
  private static MemoryCluster quiesced(int partitions, long seed, String key, String value) {
    MemoryCluster c = new MemoryCluster(3, HashPartitioner.of(partitions), seed, b -> b.balanceLeaders(false)).start();
    c.awaitLeaders(WAIT);
    c.node(1).put(key, value);
    MemoryCluster.await(WAIT, "every replica quiesced", () -> allQuiesced(c, 1, 2, 3));
    return c;
  }

  private static double readIndexCount(KvNode n) {
    return n.meterRegistry().find("quorumkv.readindex.latency").timer().count();
  }

  @Test
  void idleGroupsQuiesceOnEveryNodeAndAWriteWakesThem() {
    try (MemoryCluster c = quiesced(4, 21, "a", "1")) {
      assertEquals(4.0, c.node(2).meterRegistry().find("quorumkv.groups.quiesced").gauge().value());

      c.node(2).put("a", "2"); // its partition wakes, commits, and quiesces again
      assertEquals(Optional.of("2"), c.node(3).get("a", ReadConsistency.LINEARIZABLE));
      MemoryCluster.await(WAIT, "quiesced again after the write", () -> allQuiesced(c, 1, 2, 3));
      assertEquals(Optional.of("2"), c.node(1).get("a", ReadConsistency.STALE));
      assertEquals(Optional.of("2"), c.node(2).get("a", ReadConsistency.STALE));
    }
  }

  @Test
  void aQuiescedLeaderServesNoLeaseReadFromItsFrozenLease() {
    try (MemoryCluster c = quiesced(1, 22, "k", "v")) {
      long leader = c.node(1).status().partitions().get(0).leader();
      KvNode l = c.node(leader);
      double before = readIndexCount(l);
      // The core's lease evidence stopped with its ticks: the read must confirm leadership.
      assertEquals(Optional.of("v"), l.get("k", ReadConsistency.LEASE));
      assertEquals(before + 1, readIndexCount(l));
      assertFalse(l.runtime().isQuiesced(1));
    }
  }

  @Test
  void aPartitionThatIsOnlyReadStaysAwakeAndItsLeaderGetsItsLeaseBack() {
    try (MemoryCluster c = quiesced(1, 25, "k", "v")) {
      KvNode l = c.node(c.node(1).status().partitions().get(0).leader());
      // Woken by the first read, the leader needs an election timeout (10 ticks of 10 ms) of fresh
      // heartbeats before its lease serves reads; reads alone must keep it from quiescing again.
      MemoryCluster.await(WAIT, "a LEASE read served from the lease", () -> {
        double before = readIndexCount(l);
        assertEquals(Optional.of("v"), l.get("k", ReadConsistency.LEASE));
        return readIndexCount(l) == before;
      });
    }
  }

  @Test
  void aQuiescedGroupWhoseLeaderDiesElectsANewLeader() {
    try (MemoryCluster c = quiesced(2, 23, "x", "1")) {
      long leader = c.node(1).status().partitions().get(0).leader();
      long survivor = leader == 1 ? 2 : 1;
      c.crash(leader);
      MemoryCluster.await(WAIT, "a new leader of every partition", () -> c.node(survivor).status().partitions()
          .stream().allMatch(p -> p.leader() != 0 && p.leader() != leader));
      c.node(survivor).put("x", "2");
      assertEquals(Optional.of("2"), c.node(survivor).get("x", ReadConsistency.LINEARIZABLE));
      assertNotEquals(leader, c.node(survivor).status().partitions().get(0).leader());
    }
  }

  private static double heartbeatsSent(KvNode n) {
    return n.meterRegistry().find("quorumkv.raft.sent").tag("type", "heartbeat").counter().count();
  }

  @Test
  void idleGroupsQuiescePastAMemberWhoseNodeIsDownAndCatchItUpWhenItIsBack() {
    int partitions = 8;
    try (MemoryCluster c = quiesced(partitions, 26, "k0", "v")) {
      c.crash(3);
      for (int i = 0; i < 32; i++) { // with 8 hash partitions, every one takes some of these
        c.node(1).put("k" + i, "after-" + i);
      }
      // Every partition's leader is on node 1 or 2 and node 3 lags behind in all of them; still
      // every replica on the two live nodes quiesces.
      MemoryCluster.await(WAIT, "quiesced on nodes 1 and 2 with node 3 down", () -> allQuiesced(c, 1, 2));
      // No partition heartbeats any more: only the node-level heartbeat (one per peer per
      // interval, the down peer's included) leaves each node. Awake, the 8 partitions' leaders
      // would send 8 * 2 per interval over the two nodes.
      KvNodeConfig cfg = c.node(1).config();
      long intervalMs = cfg.tickInterval().toMillis() * cfg.heartbeatTicks();
      double before = heartbeatsSent(c.node(1)) + heartbeatsSent(c.node(2));
      MemoryCluster.sleep(20 * intervalMs);
      double sent = heartbeatsSent(c.node(1)) + heartbeatsSent(c.node(2)) - before;
      assertTrue(sent <= 2 * 2 * (20 + 2), "heartbeats sent in 20 intervals: " + sent);

      c.restart(3);
      // Node 3's node-level heartbeat wakes the leaders, which catch it up, and quiesce again.
      MemoryCluster.await(WAIT, "node 3 caught up", () -> {
        for (int i = 0; i < 32; i++) {
          if (!Optional.of("after-" + i).equals(c.node(3).get("k" + i, ReadConsistency.STALE))) {
            return false;
          }
        }
        return true;
      });
      MemoryCluster.await(WAIT, "every replica quiesced again", () -> allQuiesced(c, 1, 2, 3));
    }
  }

  /** What a follower that has every entry answers to {@code m} (nothing to a quiesce notice). */
  private static Message healthyFollower(long self, Message m) {
    if (m instanceof Message.RequestVote v) {
      return new Message.RequestVoteResponse(self, FakePeers.NODE, v.term(), v.preVote(), false);
    } else if (m instanceof Message.AppendEntries a) {
      return new Message.AppendEntriesResponse(self, FakePeers.NODE, a.term(), false,
          a.prevLogIndex() + a.entries().size(), 0, 0);
    } else if (m instanceof Message.Heartbeat h && h.readContext() != NodeRuntime.QUIESCE_CONTEXT) {
      return new Message.HeartbeatResponse(self, FakePeers.NODE, h.term(), h.readContext());
    }
    return null;
  }

  /**
   * The leader wakes a group it quiesced past a down member as soon as that member's node is heard
   * again, not only when the member's own election timeout sends a pre-vote: staged on one real
   * node (1) whose peers the test plays. Peer 2 answers as a healthy follower; peer 3 is down,
   * then sends one node-level heartbeat and nothing else (it never campaigns).
   */
  @Test
  void aLeaderQuiescedPastADownMemberWakesWhenThatMembersNodeIsHeardAgain() {
    try (FakePeers p = new FakePeers(HashPartitioner.of(1))) {
      p.reply(s -> s.to() == 2 && s.group() != NodeRuntime.NODE_HEARTBEAT_GROUP ? healthyFollower(2, s.m()) : null);
      KvNode node = p.start();
      MemoryCluster.await(WAIT, "the node leads partition 1 and quiesced it without node 3",
          () -> p.runtime().isQuiesced(1));
      long quiescedAt = node.status().partitions().get(0).commitIndex();
      p.clearSent();
      p.send(3, NodeRuntime.NODE_HEARTBEAT_GROUP, new Message.Heartbeat(3, FakePeers.NODE, 0, 0, 0));
      assertTrue(p.next(Message.Heartbeat.class, 1, 3, WAIT).isPresent(),
          "the leader never heartbeat node 3 after hearing from it again");
      // Woken by node 3's heartbeat, not by some later proposal (the periodic replica hash check
      // would wake it too, seconds later, with an entry that fake node 2 commits at once).
      assertEquals(quiescedAt, node.status().partitions().get(0).commitIndex());
      assertFalse(p.runtime().isQuiesced(1));
    }
  }

  @Test
  void offMeansEveryGroupKeepsTicking() {
    try (MemoryCluster c = new MemoryCluster(3, HashPartitioner.of(2), 24, b -> b.quiesceIdleGroups(false)).start()) {
      c.awaitLeaders(WAIT);
      c.node(1).put("a", "1");
      MemoryCluster.sleep(300); // 30 ticks: far past the few a group needs to quiesce
      assertFalse(allQuiesced(c, 1) || allQuiesced(c, 2) || allQuiesced(c, 3));
      for (long n = 1; n <= 3; n++) {
        for (PartitionStatus p : c.node(n).status().partitions()) {
          assertFalse(c.node(n).runtime().isQuiesced(p.partitionId()));
        }
      }
    }
  }
}
