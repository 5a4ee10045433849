package io.quorumkv;

import java.util.Optional;
import java.util.OptionalLong;

/**
 * The request reached a node that does not lead the key's partition, and the node is configured
 * to reject rather than forward ({@link NotLeaderPolicy#REJECT}). The request was certainly not
 * applied. The hint names the leader this node believes in, if any.
 */
public final class NotLeaderException extends KvException {
  private static final long serialVersionUID = 1L;

  private final long partitionId;
  private final long leaderHint;
  private final String leaderAddress;

  /**
   * @param partitionId   the partition the key belongs to
   * @param leaderHint    the believed leader's node id, or 0 when unknown
   * @param leaderAddress the believed leader's address, or null when unknown
   */
  public NotLeaderException(long partitionId, long leaderHint, String leaderAddress) {
    super("not the leader of partition " + partitionId
        + (leaderHint == 0 ? ", leader unknown" : ", leader is node " + leaderHint
            + (leaderAddress == null ? "" : " at " + leaderAddress)), false, null);
    this.partitionId = partitionId;
    this.leaderHint = leaderHint;
    this.leaderAddress = leaderAddress;
  }

  /** The partition whose leader was wanted. */
  public long partitionId() {
    return partitionId;
  }

  /** The node this node believes leads the partition, if it knows one. */
  public OptionalLong leaderHint() {
    return leaderHint == 0 ? OptionalLong.empty() : OptionalLong.of(leaderHint);
  }

  /** The believed leader's advertised address ({@code host:port}), if known. */
  public Optional<String> leaderAddress() {
    return Optional.ofNullable(leaderAddress);
  }
}
