package io.quorumkv.raft;

import java.util.List;
import java.util.Objects;

/**
 * A message between two members of one Raft group.
 *
 * <p>Every message carries the sender, the receiver and the sender's term; a receiver first
 * compares terms (Raft paper §5.1) and only then looks at the kind. The kinds are a closed set, so
 * a {@code switch} over them is exhaustive and the transport's codec cannot forget one.
 * Group ids are not part of a message: the transport multiplexes groups around it.
 */
public sealed interface Message {

  /** The sending member's id. */
  long from();

  /** The receiving member's id. */
  long to();

  /** The sender's current term (0 for messages that are term-less, see each kind). */
  long term();

  /**
   * AppendEntries (paper §5.3): replicate {@code entries} after the entry at
   * ({@code prevLogIndex}, {@code prevLogTerm}) and advance the follower's commit index.
   * An empty {@code entries} list is a probe.
   */
  record AppendEntries(
      long from, long to, long term,
      long prevLogIndex, long prevLogTerm,
      List<Entry> entries,
      long commit) implements Message {
    public AppendEntries {
      entries = List.copyOf(entries);
    }
  }

  /**
   * The answer to {@link AppendEntries}. On success {@code index} is the last index now matching
   * the leader's log. On rejection {@code index} is the rejected {@code prevLogIndex} and
   * ({@code rejectHint}, {@code rejectHintTerm}) let the leader skip a whole conflicting term at
   * once (fast backtracking, thesis §5.3 and etcd's {@code findConflictByTerm}).
   */
  record AppendEntriesResponse(
      long from, long to, long term,
      boolean reject,
      long index,
      long rejectHint,
      long rejectHintTerm) implements Message {}

  /**
   * RequestVote (paper §5.2), or a PreVote (thesis §9.6) when {@code preVote}: a pre-vote is sent
   * for {@code term} = current term + 1 without incrementing the sender's own term.
   * {@code leadershipTransfer} marks a campaign started by {@link TimeoutNow}, which voters grant
   * even while they still hear from a leader.
   */
  record RequestVote(
      long from, long to, long term,
      boolean preVote,
      long lastLogIndex, long lastLogTerm,
      boolean leadershipTransfer) implements Message {}

  /** The answer to {@link RequestVote}. */
  record RequestVoteResponse(
      long from, long to, long term,
      boolean preVote,
      boolean reject) implements Message {}

  /**
   * Leader liveness and commit propagation. {@code commit} is capped at what the follower is
   * known to have. {@code readContext} is the leader's heartbeat round number (positive, growing):
   * the follower echoes it, and a quorum's echoes confirm pending ReadIndex requests and renew
   * the leader lease.
   */
  record Heartbeat(long from, long to, long term, long commit, long readContext) implements Message {}

  /** The answer to {@link Heartbeat}, echoing its {@code readContext}. */
  record HeartbeatResponse(long from, long to, long term, long readContext) implements Message {}

  /** InstallSnapshot (paper §7): replaces the follower's log up to the snapshot's index. */
  record InstallSnapshot(long from, long to, long term, Snapshot snapshot) implements Message {
    public InstallSnapshot {
      Objects.requireNonNull(snapshot, "snapshot");
    }
  }

  /**
   * Leadership transfer (thesis §3.10): the leader tells an up-to-date follower to start an
   * election at once.
   */
  record TimeoutNow(long from, long to, long term) implements Message {}

  /**
   * A follower asks the leader for a read index on behalf of its local request {@code context}
   * (follower reads, thesis §6.4).
   */
  record ReadIndexRequest(long from, long to, long term, long context) implements Message {}

  /**
   * The leader's answer to {@link ReadIndexRequest}: the follower may serve the read once it has
   * applied {@code index}. The core never sends {@code index} 0 and ignores it: a read the leader
   * cannot serve is dropped, and the follower's driver times it out.
   */
  record ReadIndexResponse(long from, long to, long term, long index, long context) implements Message {}

  /** A follower forwards a leadership-transfer request to its leader. */
  record TransferLeadershipRequest(long from, long to, long term, long transferee) implements Message {}
}
