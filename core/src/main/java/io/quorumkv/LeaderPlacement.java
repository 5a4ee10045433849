package io.quorumkv;

import io.quorumkv.raft.Status;
import java.util.HashMap;
import java.util.Map;
import java.util.OptionalLong;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Where this node's leaderships go: leader balancing and the preferred leaders (every few election
 * timeouts, {@link #onTick}), the operator's leadership pins that balancing respects, the hand-off
 * of every leadership while the log sync is stalled or storage failed
 * ({@link #handLeadershipsAwayFromStalledStorage}), and the choice of transferee for any hand-off
 * ({@link #bestTransferee}: closing, a stalled disk, a diverged replica).
 *
 * <p>Separate from {@link NodeRuntime} because it is policy over the Raft cores' state, not the
 * loop's mechanics: it reads the leaders' progress and starts transfers, nothing else. Everything
 * here but the pins runs on the Raft loop; the pins are set by an operator's transfer on the
 * caller's thread ({@link GroupCommands}) and cleared on the loop. Whether the sync is stalled is
 * the runtime's to decide (it also stops campaigns, proposals and lease reads): it calls in here
 * only for the hand-off.
 */
final class LeaderPlacement {

  /** What leader placement needs of its node. */
  interface Node {
    /** The replicas this node hosts (live view). */
    Map<Long, Replica> replicas();

    /** The preferred leaders in force, empty for none ({@link PlacementDriver#preferredLeadersInForce}). */
    Set<Long> preferredLeadersInForce();
  }

  private final Logger log = LoggerFactory.getLogger(KvNode.class);
  private final long nodeId;
  private final String who;
  private final KvNodeConfig config;
  private final NodeMetrics metrics;
  private final Node node;
  /**
   * Partitions an operator placed on this node with transferLeader: group -> System.nanoTime()
   * until which leader balancing leaves them here. Cleared by the group's next membership change
   * and when this node stops leading the group.
   */
  private final Map<Long, Long> pinnedUntil = new ConcurrentHashMap<>();
  /** Leader balancing rounds run (written on the loop only; read by tests). */
  private volatile long balancingRounds;

  LeaderPlacement(String who, KvNodeConfig config, NodeMetrics metrics, Node node) {
    this.nodeId = config.nodeId();
    this.who = who;
    this.config = config;
    this.metrics = metrics;
    this.node = node;
  }

  /** Balancing leaves this node's leadership of {@code group} alone until {@code until} (System.nanoTime()). */
  void pin(long group, long until) {
    pinnedUntil.put(group, until);
  }

  /** Lifts the pin of {@code group} if it is still {@code pin}. */
  void unpin(long group, long pin) {
    pinnedUntil.remove(group, pin);
  }

  /** Lifts any pin of {@code group}. */
  void unpin(long group) {
    pinnedUntil.remove(group);
  }

  /** Whether leader balancing leaves this node's leadership of {@code group} alone (tests). */
  boolean isPinned(long group) {
    return pinnedUntil.containsKey(group);
  }

  /** Leader balancing rounds run so far (tests count what balancing did over a number of them). */
  long balancingRounds() {
    return balancingRounds;
  }

  /** loop, each tick: every five election timeouts, a round of leader balancing (if enabled). */
  void onTick(long ticks) {
    if (config.balanceLeaders() && ticks % (config.electionTicks() * 5L) == 0) {
      balancingRounds++;
      balanceLeaders();
    }
  }

  /**
   * loop, each tick while the log sync is stalled or storage failed: each leadership is handed to
   * the most up-to-date other voter, once per leadership (the runtime clears
   * {@link Replica#stallTransferStarted} when this node becomes a leader).
   */
  void handLeadershipsAwayFromStalledStorage() {
    for (Replica r : node.replicas().values()) {
      if (r.isLeader() && !r.stallTransferStarted) {
        OptionalLong to = bestTransferee(r);
        if (to.isPresent()) {
          r.stallTransferStarted = true;
          metrics.syncStalls.increment();
          r.raw.transferLeadership(to.getAsLong());
        }
      }
    }
  }

  /** The most up-to-date other voter, for a leadership transfer. loop */
  OptionalLong bestTransferee(Replica r) {
    Status st = r.raw.status();
    long best = 0;
    long bestMatch = -1;
    for (Map.Entry<Long, Status.FollowerProgress> e : st.progress().entrySet()) {
      long id = e.getKey();
      if (id == nodeId || e.getValue().learner() || !st.confState().voters().contains(id)) {
        continue;
      }
      // a follower this leader found diverged comes last, whatever its log
      long rank = r.divergedFollowers.contains(id) ? -1 : e.getValue().matchIndex();
      if (rank > bestMatch || best == 0) {
        bestMatch = rank;
        best = id;
      }
    }
    return best == 0 ? OptionalLong.empty() : OptionalLong.of(best);
  }

  /**
   * Every node hosts every partition, so each knows every leader. Leaderships go to the
   * candidates: the preferred leaders among the voters ({@link KvNodeConfig#preferredLeaders}), or
   * every voter when there is no preference or a peer was given another one
   * ({@link PlacementDriver#preferredLeadersInForce}). A node that is no candidate hands each of its
   * leaderships to a candidate in the same round (a preference should hold within one round, not
   * after one round per partition); a candidate leading more than its share of the candidates'
   * hands one leadership per round to the candidate leading the fewest. A leadership an operator
   * placed here with transferLeader is pinned: it counts, but is not handed away.
   */
  private void balanceLeaders() {
    Set<Long> voters = new TreeSet<>();
    Map<Long, Integer> led = new HashMap<>();
    for (Replica r : node.replicas().values()) {
      voters.addAll(r.confState.voters());
      if (r.leader != 0) {
        led.merge(r.leader, 1, Integer::sum);
      }
    }
    if (voters.size() < 2 || !voters.contains(nodeId)) {
      return;
    }
    Set<Long> candidates = voters;
    Set<Long> preferred = node.preferredLeadersInForce();
    if (!preferred.isEmpty()) {
      candidates = new TreeSet<>(voters);
      candidates.retainAll(preferred);
    }
    boolean handAll = !candidates.contains(nodeId);
    if (!handAll) {
      int share = (node.replicas().size() + candidates.size() - 1) / candidates.size();
      if (led.getOrDefault(nodeId, 0) <= share) {
        return;
      }
    }
    long now = System.nanoTime();
    for (Replica r : node.replicas().values()) {
      Long pin = pinnedUntil.get(r.groupId);
      if (pin != null && now - pin >= 0) {
        pinnedUntil.remove(r.groupId, pin);
        pin = null;
      }
      if (!r.isLeader() || pin != null) {
        continue;
      }
      long target = leastLeadingCaughtUp(r, candidates, led);
      if (target == 0) {
        continue; // no candidate can take it now: the leadership stays here (availability first)
      }
      if (handAll) {
        log.info("{} group {}: node {} is a preferred leader, handing leadership to it", who, r.groupId, target);
        metrics.balancingTransfers.increment();
        r.raw.transferLeadership(target);
        led.merge(target, 1, Integer::sum);
      } else if (led.getOrDefault(target, 0) + 1 < led.get(nodeId)) {
        log.info("{} group {}: balancing leaders, handing leadership to node {}", who, r.groupId, target);
        metrics.balancingTransfers.increment();
        r.raw.transferLeadership(target);
        return;
      }
    }
  }

  /**
   * The other voter of {@code r} among {@code candidates} that has the whole log, was not found
   * diverged by this leader's hash checks, and leads the fewest groups, or 0 when there is none.
   * loop
   */
  private long leastLeadingCaughtUp(Replica r, Set<Long> candidates, Map<Long, Integer> led) {
    Status st = r.raw.status();
    long target = 0;
    int fewest = Integer.MAX_VALUE;
    for (long v : r.confState.voters()) {
      Status.FollowerProgress pr = st.progress().get(v);
      // Only a voter with the whole log (recentActive is no help: CheckQuorum clears it every
      // election timeout, possibly on this very tick).
      if (v == nodeId || !candidates.contains(v) || pr == null || pr.matchIndex() < st.lastIndex()) {
        continue;
      }
      // A fenced follower would hand the leadership on at its next tick, and balancing would give
      // it back a round later: leadership churn for nothing. Balancing is no reason to lead from a
      // state a quorum disagrees with; the leadership stays here instead.
      if (r.divergedFollowers.contains(v)) {
        continue;
      }
      int n = led.getOrDefault(v, 0);
      if (n < fewest) {
        fewest = n;
        target = v;
      }
    }
    return target;
  }
}
