package io.quorumkv.raft;

/**
 * State that is useful to the driver but need not be persisted.
 *
 * @param leader the id of the current leader as far as this node knows, or {@link RaftConfig#NONE}
 * @param role   this node's role
 */
public record SoftState(long leader, StateRole role) {}
