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
 * @param appliedIndex       the index of the partition's log the state read is at, exactly:
 *                           the value is the key's value after applying entries 1 to this
 *                           index, no more and no fewer (read together with the value, whatever
 *                           the level; the answering replica may have applied more since)
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
