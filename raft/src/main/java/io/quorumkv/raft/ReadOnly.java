package io.quorumkv.raft;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalLong;
import java.util.TreeMap;

/**
 * The leader's ReadIndex bookkeeping (thesis §6.4), organised in heartbeat rounds.
 *
 * <p>Every heartbeat broadcast is a numbered round, carried as the heartbeat's
 * {@code readContext} and echoed by followers. A follower's echo of round {@code r} proves this
 * node was still leader after round {@code r} was sent, so it confirms every earlier round too.
 * Reads wait in three stages:
 * <ol>
 *   <li>{@code waitingForCommit}: the leader has not yet committed an entry of its own term, so
 *       its commit index may be stale (§6.4 step 1);</li>
 *   <li>{@code unsent}: waiting for the next round, which every read waiting shares (batching);
 *       the driver's next {@code ready()} starts it;</li>
 *   <li>a started round: holds the commit index recorded when it started; released once a quorum
 *       has acknowledged that round or a later one.</li>
 * </ol>
 * The send tick of recent rounds also feeds the leader lease.
 */
final class ReadOnly {

  /** A read request: from this node (local) or forwarded by {@code from}. */
  record PendingRead(long context, long from, long index, boolean leaseAllowed) {
    PendingRead at(long commitIndex) {
      return new PendingRead(context, from, commitIndex, leaseAllowed);
    }
  }

  private record Round(long id, List<PendingRead> reads) {}

  final List<PendingRead> waitingForCommit = new ArrayList<>();
  private final List<PendingRead> unsent = new ArrayList<>();
  private final ArrayDeque<Round> rounds = new ArrayDeque<>();
  /** Round id to the leader tick it was sent at, for rounds recent enough to matter for a lease. */
  private final TreeMap<Long, Long> sentTicks = new TreeMap<>();
  /** Round ids only grow, across terms too, so a stale echo can never confirm a newer round. */
  private long lastRound;

  long lastRound() {
    return lastRound;
  }

  boolean hasUnsent() {
    return !unsent.isEmpty();
  }

  void addUnsent(PendingRead r) {
    unsent.add(r);
  }

  /**
   * Starts a round sent at {@code tick}; the reads waiting for a round join it, with
   * {@code commitIndex} as their read index. Returns the round id.
   */
  long startRound(long tick, long commitIndex) {
    long id = ++lastRound;
    sentTicks.put(id, tick);
    if (!unsent.isEmpty()) {
      List<PendingRead> reads = new ArrayList<>(unsent.size());
      for (PendingRead r : unsent) {
        reads.add(r.at(commitIndex));
      }
      unsent.clear();
      rounds.add(new Round(id, reads));
    }
    return id;
  }

  /** The tick round {@code id} was sent at, unless it is forgotten (too old). */
  OptionalLong sentTick(long id) {
    Long t = sentTicks.get(id);
    return t == null ? OptionalLong.empty() : OptionalLong.of(t);
  }

  /** Forgets send ticks older than {@code minTick}: they can no longer support a lease. */
  void pruneBefore(long minTick) {
    while (!sentTicks.isEmpty() && sentTicks.firstEntry().getValue() < minTick) {
      sentTicks.pollFirstEntry();
    }
  }

  /** Releases the reads of every round up to {@code confirmedRound}, oldest first. */
  List<PendingRead> confirm(long confirmedRound) {
    List<PendingRead> out = new ArrayList<>();
    while (!rounds.isEmpty() && rounds.peekFirst().id() <= confirmedRound) {
      out.addAll(rounds.pollFirst().reads());
    }
    return out;
  }

  /** Drops every pending read: leadership changed, so none of them can be confirmed. */
  void reset() {
    waitingForCommit.clear();
    unsent.clear();
    rounds.clear();
    sentTicks.clear();
  }

  int pendingCount() {
    int n = waitingForCommit.size() + unsent.size();
    for (Round r : rounds) {
      n += r.reads().size();
    }
    return n;
  }
}
