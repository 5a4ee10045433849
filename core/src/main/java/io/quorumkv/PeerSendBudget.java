package io.quorumkv;

import io.quorumkv.raft.SendBudget;
import java.util.HashMap;
import java.util.Map;
import java.util.function.LongUnaryOperator;

/**
 * loop: the {@link SendBudget} every leader of this node shares: per peer, what the transport's
 * outbound queue for it accepts (read at the first send of each turn of the Raft loop), less the
 * entry bytes the groups have put into AppendEntries since (they reach the transport together at
 * the turn's end). A node catching many groups up on one peer so reads from its logs what the
 * transport can send, instead of every group's window at once for the transport to drop.
 */
final class PeerSendBudget implements SendBudget {

  /** Per peer, the entry bytes the transport accepts now ({@code RaftTransport#entryBytesAccepted}). */
  private final LongUnaryOperator accepted;
  /** Per peer: {turn the entry is of, bytes left in that turn}. */
  private final Map<Long, long[]> left = new HashMap<>();
  private long turn;

  PeerSendBudget(LongUnaryOperator accepted) {
    this.accepted = accepted;
  }

  @Override
  public long available(long peer) {
    return current(peer)[1];
  }

  @Override
  public void spend(long peer, long bytes) {
    long[] l = current(peer);
    if (l[1] != Long.MAX_VALUE) {
      l[1] -= bytes;
    }
  }

  /** At a turn's end, once its messages are handed to the transport. */
  void endTurn() {
    turn++;
  }

  private long[] current(long peer) {
    long[] l = left.computeIfAbsent(peer, p -> new long[] {-1, 0});
    if (l[0] != turn) {
      l[0] = turn;
      l[1] = accepted.applyAsLong(peer);
    }
    return l;
  }
}
