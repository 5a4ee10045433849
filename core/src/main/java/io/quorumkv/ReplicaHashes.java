package io.quorumkv;

import java.util.List;
import java.util.Map;

/**
 * One node's answer to {@link KvAdmin#replicaHashes()}: a replica hash check of each partition it
 * leads, and which of its own replicas are fenced. Ask every node to cover every partition and
 * every fenced replica (a fenced follower's node knows it is fenced even when its leader does not).
 *
 * @param nodeId    the answering node
 * @param checked   one check per partition the node led and could check, in partition order
 * @param unchecked the partitions the node led when asked but could not check, with why (it lost the
 *                  leadership, or the check entry did not apply by the deadline)
 * @param fenced    the node's own replicas that are fenced, led or not: partition id to the log
 *                  index at which its state was found to differ from a quorum's
 */
public record ReplicaHashes(long nodeId, List<PartitionHashes> checked, Map<Long, String> unchecked,
    Map<Long, Long> fenced) {

  /** Checks and copies the fields. */
  public ReplicaHashes {
    checked = List.copyOf(checked);
    unchecked = Map.copyOf(unchecked);
    fenced = Map.copyOf(fenced);
  }
}
