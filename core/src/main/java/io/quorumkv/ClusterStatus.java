package io.quorumkv;

import java.util.List;
import java.util.Map;

/**
 * A node's view of the cluster.
 *
 * @param nodeId     the answering node
 * @param members    every member the node knows of: node id to advertised {@code host:port}
 * @param partitions every partition the node hosts a replica of, by id
 */
public record ClusterStatus(long nodeId, Map<Long, String> members, List<PartitionStatus> partitions) {

  /** Checks and copies the fields. */

  public ClusterStatus {
    members = Map.copyOf(members);
    partitions = List.copyOf(partitions);
  }

  /** How many partitions the answering node believes it leads. */
  public long leaderCount() {
    return partitions.stream().filter(p -> p.leader() == nodeId).count();
  }
}
