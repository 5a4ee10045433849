package io.quorumkv.raft;

import io.quorumkv.raft.Status.ReplicationState;

/**
 * The leader's view of one member (paper figure 2: matchIndex and nextIndex), plus how it
 * replicates to it. Invariant: {@code 0 <= match < next}.
 *
 * <ul>
 *   <li>PROBE: one AppendEntries at a time until the follower accepts one, because the leader does
 *       not know where the logs match; {@code next} walks back on each rejection.</li>
 *   <li>REPLICATE: the logs match up to {@code match}; entries stream optimistically up to
 *       the {@link Inflights} window, {@code next} moves ahead of acknowledgements.</li>
 *   <li>SNAPSHOT: the entries the follower needs are compacted; nothing is sent until it has
 *       installed the snapshot at {@code pendingSnapshot}.</li>
 * </ul>
 */
final class Progress {

  long match;
  long next;
  ReplicationState state = ReplicationState.PROBE;
  /** In SNAPSHOT state, the index of the snapshot sent. */
  long pendingSnapshot;
  /** Heard from in the current CheckQuorum period. */
  boolean recentActive;
  /** PROBE: a probe is outstanding. REPLICATE: the inflight window is full. */
  boolean msgAppFlowPaused;
  /** PROBE: the leader's tick at which the outstanding probe was sent. */
  long probeSentTick = NEVER;
  boolean learner;
  final Inflights inflights;
  /** The highest heartbeat round this member acknowledged in the leader's term. */
  long ackedRound;
  /** "No acknowledgement": far in the past, yet safe to subtract from a tick count. */
  static final long NEVER = Long.MIN_VALUE / 4;
  /** The leader's tick at which the latest acknowledged round still remembered was sent. */
  long ackedRoundSentTick = NEVER;

  Progress(long next, int maxInflight, long maxInflightBytes, boolean learner) {
    this.next = next;
    this.inflights = new Inflights(maxInflight, maxInflightBytes);
    this.learner = learner;
    this.recentActive = true;
  }

  /** A fresh view for a new term: nothing known about the member's log but our own. */
  void resetForTerm(long nextIndex, long matchIndex, boolean self) {
    resetState(ReplicationState.PROBE);
    match = matchIndex;
    next = Math.max(nextIndex, matchIndex + 1);
    recentActive = self;
    ackedRound = 0;
    ackedRoundSentTick = NEVER;
  }

  private void resetState(ReplicationState s) {
    msgAppFlowPaused = false;
    pendingSnapshot = 0;
    state = s;
    inflights.reset();
  }

  void becomeProbe() {
    if (state == ReplicationState.SNAPSHOT) {
      // The follower may have installed the snapshot: resume after it, whichever it did.
      long pending = pendingSnapshot;
      resetState(ReplicationState.PROBE);
      next = Math.max(match + 1, pending + 1);
    } else {
      resetState(ReplicationState.PROBE);
      next = match + 1;
    }
  }

  void becomeReplicate() {
    resetState(ReplicationState.REPLICATE);
    next = match + 1;
  }

  void becomeSnapshot(long snapshotIndex) {
    resetState(ReplicationState.SNAPSHOT);
    pendingSnapshot = snapshotIndex;
  }

  /**
   * Records an AppendEntries just sent with {@code entries} entries ending at {@code last}, holding
   * {@code bytes} of entries.
   */
  void sentEntries(int entries, long last, long bytes) {
    switch (state) {
      case REPLICATE -> {
        if (entries > 0) {
          next = last + 1;
          inflights.add(last, bytes);
        }
        msgAppFlowPaused = inflights.full();
      }
      case PROBE -> msgAppFlowPaused = true;
      case SNAPSHOT -> throw new IllegalStateException("sending entries while in SNAPSHOT state");
    }
  }

  /** An acknowledgement up to {@code n}; returns whether {@code match} moved forward. */
  boolean maybeUpdate(long n) {
    boolean updated = false;
    if (match < n) {
      match = n;
      updated = true;
      msgAppFlowPaused = false;
    }
    next = Math.max(next, n + 1);
    return updated;
  }

  /**
   * A rejection of the AppendEntries whose {@code prevLogIndex} was {@code rejected}; the
   * follower's log may match at most up to {@code matchHint}. Returns false for a stale rejection
   * (of a message sent before the current {@code next} was chosen).
   */
  boolean maybeDecrTo(long rejected, long matchHint) {
    if (state == ReplicationState.REPLICATE) {
      if (rejected <= match) {
        return false;
      }
      // Pipelined messages were lost or reordered: go back to just after the known match.
      next = match + 1;
      return true;
    }
    if (next - 1 != rejected) {
      return false;
    }
    next = Math.max(Math.min(rejected, matchHint + 1), match + 1);
    msgAppFlowPaused = false;
    return true;
  }

  /** Whether the leader must hold back AppendEntries to this member. */
  boolean isPaused() {
    return switch (state) {
      case PROBE, REPLICATE -> msgAppFlowPaused;
      case SNAPSHOT -> true;
    };
  }

  Status.FollowerProgress view() {
    return new Status.FollowerProgress(match, next, state, inflights.count(), recentActive, learner);
  }

  @Override
  public String toString() {
    return state + " match=" + match + " next=" + next
        + (learner ? " learner" : "")
        + (state == ReplicationState.SNAPSHOT ? " pendingSnapshot=" + pendingSnapshot : "")
        + " inflight=" + inflights.count();
  }
}
