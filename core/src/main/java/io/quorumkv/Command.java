package io.quorumkv;

import java.util.List;
import java.util.Objects;

/**
 * What one log entry of a partition asks its state machine to do. Every replica applies the same
 * commands in the same order to the same state and gets the same result: a command's effect
 * depends only on the state and on the entry (including its leader's time stamp), never on the
 * applying node's clock or configuration.
 */
sealed interface Command {

  /**
   * A client write, deduplicated by session ({@link KvRequest.Write} explains the fields).
   */
  record Write(long clientId, long seq, long ackedBelow, WriteOp op) implements Command {
    public Write {
      Objects.requireNonNull(op, "op");
    }
  }

  /**
   * Several client writes of this partition in one log entry, proposed by the leader between two
   * Readies (not a client's atomic batch, which is one {@link WriteOp.Batch}). Each write keeps
   * its own session, range check and result, and is applied as if it had an entry of its own, in
   * order; the entry's stamp is every write's.
   */
  record Writes(List<Write> writes) implements Command {
    public Writes {
      writes = List.copyOf(writes);
      if (writes.isEmpty()) {
        throw new IllegalArgumentException("a packed entry holds at least one write");
      }
    }
  }

  /**
   * Split this (range) partition at {@code splitKey}: keys from {@code splitKey} up move to the
   * new partition {@code newPartitionId}, which starts with a copy of the sessions.
   */
  record Split(byte[] splitKey, long newPartitionId) implements Command {
    public Split {
      Objects.requireNonNull(splitKey, "splitKey");
    }
  }

  /**
   * First step of a merge, in the right-hand partition: from this entry on it refuses every read
   * and write (retryably: the keys are about to be served by {@code intoPartition}) and its state
   * no longer changes; the outcome carries that state, for {@link Merge}. {@code intoPartition} 0
   * undoes a freeze whose merge was refused.
   */
  record Freeze(long intoPartition) implements Command {}

  /**
   * Second step of a merge, in the left-hand partition: take over the frozen right-hand
   * partition {@code rightPartition}, whose whole state is {@code seed} (small by construction:
   * only partitions under the merge threshold are merged), and extend the span over its keys.
   * Idempotent: a merge already applied is a no-op.
   */
  record Merge(long rightPartition, byte[] seed) implements Command {
    public Merge {
      Objects.requireNonNull(seed, "seed");
    }
  }

  /**
   * Record a node in the placement registry (kept by partition 1): active, or being
   * decommissioned (the placement driver moves every replica off it).
   */
  record SetNodeState(long nodeId, String address, boolean decommissioning) implements Command {
    public SetNodeState {
      Objects.requireNonNull(address, "address");
    }
  }

  /**
   * Every replica hashes its state as of this entry and records the hash, so replicas can be
   * compared at the same applied index (replica integrity check).
   */
  record CheckHash() implements Command {}

  /**
   * A command as stored in a log entry.
   *
   * @param stampMillis the proposing leader's wall-clock time in ms; the partition's log time is
   *                    the maximum stamp applied so far, which drives session expiry
   * @param command     what to do
   */
  record Stamped(long stampMillis, Command command) {
    public Stamped {
      Objects.requireNonNull(command, "command");
    }
  }
}
