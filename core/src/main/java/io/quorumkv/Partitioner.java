package io.quorumkv;

/**
 * How keys map to partitions. Each partition is its own Raft group with a replica on every node.
 * Every node of a cluster must be configured with the same partitioner.
 *
 * <ul>
 *   <li>{@link HashPartitioner}: a fixed number of partitions, keys spread evenly by a stable hash;
 *       scans visit every partition.</li>
 *   <li>{@link RangePartitioner}: contiguous key ranges, initially given by split keys, that can be
 *       split further while serving ({@link KvAdmin#split(byte[])}); a scan visits only the
 *       partitions its range overlaps.</li>
 * </ul>
 */
public sealed interface Partitioner permits HashPartitioner, RangePartitioner {

  /** How many partitions a new cluster starts with. */
  int initialPartitionCount();
}
