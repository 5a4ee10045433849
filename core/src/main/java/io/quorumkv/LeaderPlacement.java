package io.quorumkv;

import io.quorumkv.raft.Status;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.Set;
import java.util.TreeMap;
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

    /** The cluster's members: node id to address (live view). */
    Map<Long, String> members();

    /** Whether node {@code id} sent a node-level heartbeat within an election timeout ({@link Quiescence}). */
    boolean nodeAlive(long id);

    /** Whether node {@code id} reported its replica of partition {@code p} fenced ({@link PlacementDriver#fenced}). */
    boolean fenced(long id, long p);
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
  /** Of those, the rounds that handed at least one leadership away (written on the loop only; read by tests). */
  private volatile long handingRounds;

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

  /** Leader balancing rounds so far that handed any leadership away (tests: how many rounds balancing took). */
  long handingRounds() {
    return handingRounds;
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

  /**
   * The most up-to-date other voter that is not fenced, for a leadership transfer. A fenced one
   * (found diverged by this leader's checks, or reporting itself fenced) does not campaign while it
   * knows a leader ({@link NodeRuntime#updatePromotable}): a transfer to it would only stop the partition's writes
   * for an election timeout. loop
   */
  OptionalLong bestTransferee(Replica r) {
    Status st = r.raw.status();
    long best = 0;
    long bestMatch = -1;
    for (Map.Entry<Long, Status.FollowerProgress> e : st.progress().entrySet()) {
      long id = e.getKey();
      if (id == nodeId || e.getValue().learner() || !st.confState().voters().contains(id) || isFenced(r, id)) {
        continue;
      }
      if (e.getValue().matchIndex() > bestMatch) {
        bestMatch = e.getValue().matchIndex();
        best = id;
      }
    }
    return best == 0 ? OptionalLong.empty() : OptionalLong.of(best);
  }

  /** Whether voter {@code v}'s replica of {@code r}'s partition is known fenced: it cannot lead. */
  boolean isFenced(Replica r, long v) {
    return r.divergedFollowers.contains(v) || node.fenced(v, r.groupId);
  }

  /**
   * The most leaderships one node hands away in one balancing round. Each is an election in its
   * partition (the target campaigns at once, its peers write their votes, the new leader appends
   * an entry) during which the partition takes no write; after a start with 64 partitions on three
   * nodes the node that won most first elections has about 40 to hand away, which takes two rounds
   * at this bound, while a node leading 1,000 partitions after a restart of its peers does not
   * start hundreds of elections at once on a slow machine (they would time out together and be
   * retried together). A start already runs one election per partition at once, so 32 is within
   * what a node copes with.
   */
  static final int MAX_TRANSFERS_PER_ROUND = 32;

  /**
   * One round of leader balancing. Every node hosts every partition, so each knows every leader,
   * and every node computes the same plan from the same view ({@link #plan}): the nodes leading
   * more than their share hand the excess to the candidates leading fewer, each deficit filled
   * once, in a fixed order. This node carries out its own part of it only: up to
   * {@link #MAX_TRANSFERS_PER_ROUND} of its leaderships, each to a target of its part that can take
   * it now ({@link #canTake}: a voter with the whole log, not found diverged, on a node that is
   * up). A part it cannot carry out (its targets behind or down, its leaderships pinned) waits for
   * the next round; nobody else fills that deficit meanwhile, so no target gets more than its
   * share (availability first: a leadership stays where it is rather than go to a replica that
   * cannot take it).
   *
   * <p>Leaderships go to the candidates: the preferred leaders among the voters
   * ({@link KvNodeConfig#preferredLeaders}), or every voter when there is no preference or a peer
   * was given another one ({@link PlacementDriver#preferredLeadersInForce}). A node that is no
   * candidate hands every leadership it can away in the same round (a preference should hold
   * within a round, not after one round per partition): to a target of its part, or else to the
   * least-leading candidate that can take it. A leadership an operator placed here with
   * transferLeader is pinned: it counts, but is not handed away.
   *
   * <p>Why nothing moves back and forth. In any one view, every transfer goes from a node over its
   * share to one under it and leaves the target at most at its share, so the sum of the squared
   * leadership counts falls with each one: a view that does not change in between (no election)
   * cannot send a leadership back. Views do differ between nodes while transfers run, and the plan
   * is made so that this does not matter: a partition being handed over counts at its old leader
   * until the new one is known ({@link Replica#lastKnownLeader} while the election runs), so a
   * transfer of the plan that one node sees done and another not yet lowers the giver's excess
   * and the target's deficit together, and because deficits are filled in a fixed order (givers
   * by id, targets by id) the rest of the plan is then the same: every other giver's part is
   * unchanged, and no two givers fill the same deficit (checked by {@code LeaderBalancingPlanProperties}).
   * A node's own transfers of its previous round are over by its next one (a transfer is given up
   * after one election timeout, rounds are five apart), so its own count is current. What the
   * plan does not foresee (an election moving a leadership, the step below, a view that differs
   * in membership or preference) can put a target one over its share per such event; that target
   * then hands the extra one on to a node under its share, which again lowers the sum of squares.
   *
   * <p>When this node's part cannot be carried out at all this round (a target down or behind),
   * it falls back to the step balancing took before there was a plan: one leadership to the
   * least-leading candidate that can take it, if that one leads at least two fewer, so that the
   * nodes that are up still even out while one is down. And when the view is not whole (a
   * replication factor below the node count, a membership change under way: not every hosted
   * partition has every member as voter), this node sees only the leaders of the partitions it
   * hosts and the plan is a guess: it then hands away at most one leadership per round.
   */
  private void balanceLeaders() {
    Set<Long> voters = new TreeSet<>();
    Set<Long> members = new TreeSet<>(node.members().keySet());
    Map<Long, Integer> led = new TreeMap<>();
    boolean wholeView = true;
    for (Replica r : node.replicas().values()) {
      voters.addAll(r.confState.voters());
      wholeView &= r.confState.voters().equals(members);
      long leader = r.leader != 0 ? r.leader : r.lastKnownLeader;
      if (leader != 0) {
        led.merge(leader, 1, Integer::sum);
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
    Map<Long, Integer> part = plan(led, candidates, node.replicas().size()).getOrDefault(nodeId, Map.of());
    if (part.isEmpty()) {
      return;
    }
    boolean handAll = !candidates.contains(nodeId);
    int limit = wholeView ? MAX_TRANSFERS_PER_ROUND : 1;
    Map<Long, Integer> quota = new TreeMap<>(part);
    List<Replica> leading = new ArrayList<>();
    long now = System.nanoTime();
    for (Replica r : node.replicas().values()) {
      Long pin = pinnedUntil.get(r.groupId);
      if (pin != null && now - pin >= 0) {
        pinnedUntil.remove(r.groupId, pin);
        pin = null;
      }
      if (r.isLeader() && pin == null) {
        leading.add(r);
      }
    }
    leading.sort(Comparator.comparingLong(r -> r.groupId));
    int moved = 0;
    for (Replica r : leading) {
      if (moved == limit) {
        break;
      }
      long target = plannedTarget(r, quota);
      if (target != 0) {
        quota.merge(target, -1, Integer::sum);
      } else if (handAll) {
        target = leastLeadingCaughtUp(r, candidates, led);
      }
      if (target == 0) {
        continue; // no candidate can take it now: the leadership stays here (availability first)
      }
      log.info("{} group {}: {}, handing leadership to node {}", who, r.groupId,
          handAll ? "node " + target + " is a preferred leader" : "balancing leaders", target);
      hand(r, target, led);
      moved++;
    }
    if (moved > 0) {
      handingRounds++;
    }
    if (moved > 0 || handAll) {
      return;
    }
    for (Replica r : leading) {
      long target = leastLeadingCaughtUp(r, candidates, led);
      if (target != 0 && led.getOrDefault(target, 0) + 1 < led.getOrDefault(nodeId, 0)) {
        log.info("{} group {}: balancing leaders, no planned target can take a leadership, handing one to node {}",
            who, r.groupId, target);
        hand(r, target, led);
        handingRounds++;
        return;
      }
    }
  }

  private void hand(Replica r, long target, Map<Long, Integer> led) {
    metrics.balancingTransfers.increment();
    r.raw.transferLeadership(target);
    led.merge(target, 1, Integer::sum);
    led.merge(nodeId, -1, Integer::sum);
  }

  /**
   * The target of this node's part with the most leaderships still to take that can take
   * {@code r}'s (the lowest id among equals), or 0. Spreading over the targets spreads the
   * elections when the round's bound cuts the part short. loop
   */
  private long plannedTarget(Replica r, Map<Long, Integer> quota) {
    Status st = r.raw.status();
    long target = 0;
    int most = 0;
    for (Map.Entry<Long, Integer> e : quota.entrySet()) {
      if (e.getValue() > most && canTake(r, st, e.getKey())) {
        most = e.getValue();
        target = e.getKey();
      }
    }
    return target;
  }

  /**
   * The balancing plan of one view: giver to target to how many leaderships, every count positive.
   * {@code led} is the view: leaderships per node (partitions without a known leader left out);
   * {@code partitions} how many there are. A candidate's share is {@code partitions} over the
   * candidates, rounded up; a candidate leading more gives the excess, a node that is no candidate
   * gives all it leads. The givers in id order fill the deficits of the candidates under their
   * share in id order, each unit once. The deficits always cover the excess (the candidates'
   * shares add up to at least {@code partitions}), so every giver's part is its whole excess,
   * and no target is given more than its deficit. A transfer of the plan done (one off the giver,
   * one onto the target) leaves the plan of the new view equal to the old one less that transfer,
   * which is what lets nodes whose views differ by transfers in flight act on the same plan.
   */
  static Map<Long, Map<Long, Integer>> plan(Map<Long, Integer> led, Set<Long> candidates, int partitions) {
    Map<Long, Map<Long, Integer>> plan = new TreeMap<>();
    if (candidates.isEmpty()) {
      return plan;
    }
    int share = (partitions + candidates.size() - 1) / candidates.size();
    Map<Long, Integer> excess = new TreeMap<>();
    led.forEach((n, count) -> {
      int over = candidates.contains(n) ? count - share : count;
      if (over > 0) {
        excess.put(n, over);
      }
    });
    Map<Long, Integer> deficit = new TreeMap<>();
    for (long c : candidates) {
      int under = share - led.getOrDefault(c, 0);
      if (under > 0) {
        deficit.put(c, under);
      }
    }
    Iterator<Map.Entry<Long, Integer>> targets = deficit.entrySet().iterator();
    long target = 0;
    int room = 0;
    for (Map.Entry<Long, Integer> g : excess.entrySet()) {
      int left = g.getValue();
      while (left > 0) {
        if (room == 0) {
          if (!targets.hasNext()) {
            return plan; // only when led counts more leaderships than there are partitions
          }
          Map.Entry<Long, Integer> t = targets.next();
          target = t.getKey();
          room = t.getValue();
        }
        int n = Math.min(left, room);
        plan.computeIfAbsent(g.getKey(), k -> new TreeMap<>()).put(target, n);
        left -= n;
        room -= n;
      }
    }
    return plan;
  }

  /**
   * The other voter of {@code r} among {@code candidates} that can take its leadership now
   * ({@link #canTake}) and leads the fewest groups, or 0 when there is none. loop
   */
  private long leastLeadingCaughtUp(Replica r, Set<Long> candidates, Map<Long, Integer> led) {
    Status st = r.raw.status();
    long target = 0;
    int fewest = Integer.MAX_VALUE;
    for (long v : r.confState.voters()) {
      if (!candidates.contains(v) || !canTake(r, st, v)) {
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

  /**
   * Whether voter {@code v} of {@code r}, led here, can take the leadership now: another voter
   * with the whole log that this leader's hash checks did not find diverged, on a node that is up
   * (heard from within an election timeout). loop
   */
  private boolean canTake(Replica r, Status st, long v) {
    Status.FollowerProgress pr = st.progress().get(v);
    // Only a voter with the whole log (recentActive is no help: CheckQuorum clears it every
    // election timeout, possibly on this very tick).
    if (v == nodeId || !r.confState.voters().contains(v) || pr == null || pr.learner()
        || pr.matchIndex() < st.lastIndex()) {
      return false;
    }
    // A fenced follower never campaigns: the transfer would stop the partition's writes for an
    // election timeout, then fail. The leadership stays here instead.
    if (isFenced(r, v)) {
      return false;
    }
    // A node that is down still has the whole log of a partition nothing was written to since
    // (an idle one, quiesced): a transfer to it would stop the partition's writes for an election
    // timeout, then fail, and balancing would try again every round.
    return node.nodeAlive(v);
  }
}
