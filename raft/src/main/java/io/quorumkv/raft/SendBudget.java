package io.quorumkv.raft;

/**
 * Flow control shared by every Raft group of a node: how many bytes of log entries a leader may
 * still put into AppendEntries for a peer now. Each group's own pipelining window
 * ({@link RaftConfig#maxInflightBytes()}) bounds one group; a node leading hundreds of groups
 * that all catch up the same peer would still read hundreds of windows from its logs in one turn,
 * only for its transport to drop what its queue for that peer cannot hold. With a budget, a
 * leader reads only what the driver can send: when it is spent, a group sends at most an empty
 * AppendEntries (a probe, the commit index) and streams again on the peer's next answer, once the
 * driver has room.
 *
 * <p>The Raft core calls it synchronously, on the driver's thread, like {@link RaftStorage}, so a
 * deterministic implementation keeps the core deterministic. The driver decides how bytes come
 * back (typically: what its transport has queued for the peer, read at each turn).
 */
public interface SendBudget {

  /** No node-wide bound: each group is limited by its own window only. */
  SendBudget UNBOUNDED = new SendBudget() {
    @Override
    public long available(long peer) {
      return Long.MAX_VALUE;
    }

    @Override
    public void spend(long peer, long bytes) {
      // nothing to account
    }
  };

  /**
   * Bytes of entries that may still be sent to {@code peer} now ({@link Entry#sizeBytes()});
   * zero or less: none. A message takes at least one entry, so a single entry larger than what
   * is available still goes when anything is available.
   */
  long available(long peer);

  /** Records that AppendEntries carrying {@code bytes} of entries were queued for {@code peer}. */
  void spend(long peer, long bytes);
}
