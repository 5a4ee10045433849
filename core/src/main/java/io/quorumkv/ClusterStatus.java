package io.quorumkv;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A node's view of the cluster.
 *
 * @param nodeId                   the answering node
 * @param members                  every member the node knows of: node id to advertised {@code host:port}
 * @param partitions               every partition the node hosts a replica of, by id
 * @param preferredLeaders         the node's preferred leaders ({@link KvNode.Builder#preferredLeaders}),
 *                                 empty for none
 * @param preferredLeadersMismatch the peers that last reported other preferred leaders than
 *                                 {@code preferredLeaders}: peer id to its set. While it is not
 *                                 empty the node does not act on its preference (it balances
 *                                 leaderships over every voter)
 */
public record ClusterStatus(long nodeId, Map<Long, String> members, List<PartitionStatus> partitions,
    Set<Long> preferredLeaders, Map<Long, Set<Long>> preferredLeadersMismatch) {

  /** Checks and copies the fields. */
  public ClusterStatus {
    members = Map.copyOf(members);
    partitions = List.copyOf(partitions);
    preferredLeaders = Set.copyOf(preferredLeaders);
    Map<Long, Set<Long>> mismatch = new HashMap<>();
    preferredLeadersMismatch.forEach((peer, set) -> mismatch.put(peer, Set.copyOf(set)));
    preferredLeadersMismatch = Map.copyOf(mismatch);
  }

  /**
   * A view of a node without preferred leaders.
   *
   * @param nodeId     the answering node
   * @param members    every member the node knows of: node id to advertised {@code host:port}
   * @param partitions every partition the node hosts a replica of, by id
   */
  public ClusterStatus(long nodeId, Map<Long, String> members, List<PartitionStatus> partitions) {
    this(nodeId, members, partitions, Set.of(), Map.of());
  }

  /** How many partitions the answering node believes it leads. */
  public long leaderCount() {
    return partitions.stream().filter(p -> p.leader() == nodeId).count();
  }
}
