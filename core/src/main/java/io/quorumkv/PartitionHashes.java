package io.quorumkv;

import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * The state hashes of one partition's replicas at one log index, as its leader collected them for
 * {@link KvAdmin#replicaHashes()}. The leader proposed a hash check entry; each replica hashed its
 * state when it applied that entry, so every hash here describes the state after the same prefix
 * of the log, and replicas in agreement have equal hashes.
 *
 * @param partitionId the partition
 * @param index       the log index of the check entry
 * @param leader      the node that proposed the check and collected the hashes
 * @param replicas    the partition's members (voters and learners) when the leader answered: the
 *                    replicas expected to report
 * @param hashes      the hash of each replica that reported by the deadline, by node id, the
 *                    leader's own included
 * @param fenced      the replicas the leader knows are fenced ({@code Replica.divergedAt}): itself,
 *                    if a quorum outvoted its state, and the followers it told they diverged. A
 *                    fenced replica serves no reads from its state
 * @param unreported  for each replica that did not report by the deadline, what the leader knew of it
 *                    then (how far its log had acknowledged the check entry, a hash it reported at
 *                    another index), so that a missing hash says why it is missing; may lack a
 *                    replica (an older node answered)
 */
public record PartitionHashes(long partitionId, long index, long leader, Set<Long> replicas, Map<Long, Long> hashes,
    Set<Long> fenced, Map<Long, String> unreported) {

  /** Checks and copies the fields. */
  public PartitionHashes {
    replicas = Set.copyOf(replicas);
    hashes = Map.copyOf(hashes);
    fenced = Set.copyOf(fenced);
    unreported = Map.copyOf(unreported);
  }

  /** A check without the leader's account of the replicas that did not report. */
  public PartitionHashes(long partitionId, long index, long leader, Set<Long> replicas, Map<Long, Long> hashes,
      Set<Long> fenced) {
    this(partitionId, index, leader, replicas, hashes, fenced, Map.of());
  }

  /** The replicas that did not report a hash by the deadline (down, cut off, or far behind), in id order. */
  public Set<Long> missing() {
    Set<Long> out = new TreeSet<>(replicas);
    out.removeAll(hashes.keySet());
    return out;
  }

  /** Whether every replica that reported has the same hash (true when at most one reported). */
  public boolean agree() {
    return new HashSet<>(hashes.values()).size() <= 1;
  }
}
