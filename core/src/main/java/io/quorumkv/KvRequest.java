package io.quorumkv;

import java.util.Objects;

/**
 * A request as it travels from a caller's frontend to a node, and from node to node when
 * forwarded. Encoded by {@link Codec}.
 */
sealed interface KvRequest {

  /** Read one key. */
  record Get(byte[] key, ReadConsistency consistency) implements KvRequest {
    public Get {
      Objects.requireNonNull(key, "key");
      Objects.requireNonNull(consistency, "consistency");
    }
  }

  /** Read up to {@code limit} keys of {@code [from, to)}; an empty {@code to} is unbounded. */
  record Scan(byte[] from, byte[] to, int limit, ReadConsistency consistency) implements KvRequest {
    public Scan {
      Objects.requireNonNull(from, "from");
      Objects.requireNonNull(to, "to");
      Objects.requireNonNull(consistency, "consistency");
    }
  }

  /**
   * A write under the caller's session.
   *
   * @param clientId   the session: a random id the caller picked
   * @param seq        the call's sequence number in the session, the same for every retry
   * @param ackedBelow every sequence number below it has been answered to the caller, so the
   *                   state machine may forget their results
   * @param op         what to do
   */
  record Write(long clientId, long seq, long ackedBelow, WriteOp op) implements KvRequest {
    public Write {
      Objects.requireNonNull(op, "op");
    }
  }

  /** The receiving node's view of the cluster. */
  record Status() implements KvRequest {}

  /** An administrative operation. */
  record Admin(AdminOp op) implements KvRequest {
    public Admin {
      Objects.requireNonNull(op, "op");
    }
  }

  /**
   * A {@link Get}, {@link Scan} or {@link Write} for one partition, forwarded by a node that routed
   * it; the receiver serves it locally or answers {@link KvResponse.Code#NOT_LEADER}, never forwards
   * again (so forwarding cannot loop).
   */
  record ForPartition(long partitionId, KvRequest inner) implements KvRequest {
    public ForPartition {
      if (!(inner instanceof Get || inner instanceof Scan || inner instanceof Write)) {
        throw new IllegalArgumentException("only reads and writes are forwarded: " + inner);
      }
    }
  }
}
