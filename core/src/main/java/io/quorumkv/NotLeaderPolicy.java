package io.quorumkv;

/** What a node does with a request for a partition it does not lead. */
public enum NotLeaderPolicy {
  /** Forward the request to the leader over the cluster transport and relay the answer (default). */
  FORWARD,
  /** Fail the call at once with a {@link NotLeaderException} carrying the leader hint. */
  REJECT
}
