package io.quorumkv.raft;

/**
 * The state a node must persist before it answers any message that depends on it
 * (Raft paper, figure 2: currentTerm, votedFor; plus the commit index, as etcd does, so a
 * restarted node does not have to relearn it before applying).
 *
 * @param term   the latest term this node has seen
 * @param vote   the candidate voted for in {@code term}, or {@link RaftConfig#NONE}
 * @param commit the highest log index known to be committed
 */
public record HardState(long term, long vote, long commit) {

  /** The hard state of a node that has never run. */
  public static final HardState EMPTY = new HardState(0, RaftConfig.NONE, 0);

  public HardState {
    if (term < 0 || vote < 0 || commit < 0) {
      throw new IllegalArgumentException("negative field in " + term + "/" + vote + "/" + commit);
    }
  }

  /** True for a node that has never voted, seen a term or committed anything. */
  public boolean isEmpty() {
    return equals(EMPTY);
  }
}
