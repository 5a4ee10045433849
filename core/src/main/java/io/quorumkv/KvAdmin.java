package io.quorumkv;

/**
 * Cluster administration, available on an embedded {@link KvNode} and a remote {@link KvClient}.
 * Membership changes apply to every partition: each node hosts a replica of each partition, unless
 * the cluster has a {@link KvNode.Builder#replicationFactor replication factor}, in which case it
 * places replicas itself ({@link #addNode}, {@link #decommission}).
 * Every method has the configured {@code requestTimeout} as deadline and throws a
 * {@link KvException} on failure. As for a write, {@link KvException#outcomeUnknown()} false
 * means the call changed nothing; true means it may have taken effect, in part (some partitions)
 * or later. An {@link IllegalArgumentException} means nothing changed, unless it follows an
 * attempt of the same call that may have taken effect (its answer was lost): the call then fails
 * with a {@link ClusterUnavailableException} whose outcome is unknown and whose cause is the
 * refusal. See docs/api.md, "Outcome of administrative calls".
 */
public sealed interface KvAdmin permits KvNode, KvClient {

  /** The answering node's view: members, and per partition leader, term, commit and applied index. */
  ClusterStatus status();

  /**
   * Asks the leader of {@code partitionId} to hand leadership to {@code toNode} and waits until
   * {@code toNode} leads it. The placement is pinned: leader balancing does not move it away for
   * {@link KvNode.Builder#leaderPinDuration} (default 10 min), or until the partition's next
   * membership change, or until {@code toNode} loses the leadership or restarts, whichever comes
   * first.
   *
   * @throws IllegalArgumentException at once, if the answering node hosts no partition
   *                                  {@code partitionId} or {@code toNode} is not one of its voters
   */
  void transferLeader(long partitionId, long toNode);

  /**
   * Adds a node as a voter of every partition: first as a learner, then, once it has caught up
   * with each partition's leader, promoted to voter, so the group's availability never depends on
   * a member that is still far behind. The new node must have been started with
   * {@link KvNode.Builder#join(boolean)} set.
   *
   * <p>On a cluster with a {@link KvNode.Builder#replicationFactor replication factor}, the node is
   * instead recorded in the placement registry and this returns at once: the cluster then moves
   * replicas onto it (each move: learner, caught up, promoted, source removed) until the replica
   * counts of the nodes differ by at most one.
   *
   * @param nodeId  the new node's id, unused so far
   * @param address its advertised {@code host:port}
   */
  void addNode(long nodeId, String address);

  /** Adds a node as a learner (non-voting replica) of every partition. */
  void addLearner(long nodeId, String address);

  /** Promotes a learner to voter in every partition. */
  void promote(long nodeId);

  /**
   * Removes a node (voter or learner) from every partition. Retrying a removal that is under way
   * is safe. A removed node stops leading (it hands each leadership to a remaining voter) and
   * reports the remaining members in its {@link #status()}.
   *
   * @throws IllegalArgumentException at once, if the node is a member of no partition: it was
   *                                  never added, or is already removed (by an earlier call; after
   *                                  an earlier attempt of this very call whose answer was lost,
   *                                  the call fails as {@link ClusterUnavailableException} with
   *                                  {@link KvException#outcomeUnknown()} true instead)
   */
  void removeNode(long nodeId);

  /**
   * Empties a node before it leaves, on a cluster with a {@link KvNode.Builder#replicationFactor
   * replication factor}: records it as decommissioning (in the replicated placement registry, so
   * the move survives any crash), and returns once no partition has a replica on it. Each replica is
   * moved by safe membership changes: a learner is added on another node, promoted once it has
   * caught up, and only then is the replica on this node removed, so no partition has fewer voters
   * than the replication factor meanwhile. Moves are made one at a time, cluster-wide. The node may
   * then be stopped. Retrying after a timeout is safe: the decommission goes on in the background.
   *
   * @throws IllegalArgumentException if the cluster has no replication factor (every node hosts
   *                                  every partition: use {@link #removeNode}), or the node is unknown
   * @throws KvTimeoutException       if replicas remain on the node at the deadline (the moves go on)
   */
  void decommission(long nodeId);

  /**
   * Splits the range partition holding {@code splitKey} into {@code [start, splitKey)} and
   * {@code [splitKey, end)}. Every key moves with its range exactly once: no key is lost or
   * duplicated, and writes during the split are either applied before it (and moved) or routed
   * to the new partition after it.
   *
   * @return the id of the new partition holding {@code [splitKey, end)}
   * @throws IllegalArgumentException if the cluster uses hash partitioning or {@code splitKey}
   *                                  already starts a partition
   */
  long split(byte[] splitKey);

  /**
   * Merges the range partition holding {@code key} back into its left-hand neighbour (the inverse
   * of {@link #split}). The right-hand partition first freezes, by an entry of its own log: every
   * write ordered before that entry is part of the state it hands over, and every request after it
   * is refused retryably and re-routed by the caller's client to the merged partition, so no key is
   * lost or duplicated and no write applies twice (client sessions are merged too). The whole state
   * travels in one log entry of the left partition, so only small partitions should be merged; it
   * is proposed only once every replica of the right-hand partition has applied the freeze, so
   * while one of them is down or cut off the merge waits (and this call may time out: the
   * partition's leader finishes the merge later). The retired partition's replicas are then
   * deleted. Retrying is safe.
   *
   * @return the id of the partition that now holds the keys (the left-hand one)
   * @throws IllegalArgumentException if the key's partition is a hash partition, or has no
   *                                  left-hand neighbour ({@code key} is in the first range)
   */
  long merge(byte[] key);

  /**
   * Injects a network fault into the transport of node {@code nodeId} (for fault-injection tests
   * against real processes). {@link Fault.Heal} removes every fault on that node.
   */
  void injectFault(long nodeId, Fault fault);

  /**
   * Checks that the replicas of the partitions the answering node leads hold the same state. For
   * each such partition the node proposes a hash check entry through the partition's log, so that
   * every replica hashes its state at that same index when it applies it (as the periodic check
   * does), and collects the hash each replica reports. It answers once every replica of every
   * partition it leads has reported, or after three quarters of the call's deadline with what it
   * has by then: a replica that is down, cut off or far behind is listed as missing, not waited for.
   * The answer also lists which of the node's own replicas are fenced (their state was outvoted by
   * a quorum's in some check). The entry proposed is the periodic check's: a mismatch is
   * attributed by majority and the outvoted replica fenced, as after any check.
   *
   * <p>Ask every node (a {@link KvClient} given that node's address alone, or
   * {@link KvNode#replicaHashes()} on each embedded node) to cover every partition. Compare hashes
   * only at the same {@link PartitionHashes#index()}: the state changes with every write. The hash
   * covers the partition's keys and values, its live client sessions and its key span (see
   * docs/architecture.md "Replica hash checks and fencing").
   *
   * @throws KvTimeoutException         if the node did not answer by the deadline
   * @throws ClusterUnavailableException if the node cannot be reached
   */
  ReplicaHashes replicaHashes();
}
