package io.quorumkv;

import java.time.Duration;
import java.util.Optional;

/**
 * A read's value together with where and how fresh it was served.
 *
 * @param value              the value, or empty when the key is absent
 * @param consistency        the level the read was served at; a {@link ReadConsistency#LEASE}
 *                           read served through ReadIndex reports {@link ReadConsistency#LINEARIZABLE}
 * @param partitionId        the partition that holds the key
 * @param servedBy           the node whose replica answered
 * @param appliedIndex       the log index of the partition the answering replica had applied
 *                           when the read began: the value reflects every write up to it, and
 *                           may also reflect writes of entries the replica was applying at that
 *                           moment (a lower bound, not the exact index of the state read)
 * @param sinceLeaderContact for a {@link ReadConsistency#STALE} read, how long before the read
 *                           the answering replica last heard from its partition's leader
 *                           ({@link Duration#ZERO} when it is the leader); zero for other levels
 */
public record ReadResult(
    Optional<byte[]> value,
    ReadConsistency consistency,
    long partitionId,
    long servedBy,
    long appliedIndex,
    Duration sinceLeaderContact) {}
