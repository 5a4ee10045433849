package io.quorumkv;

import io.quorumkv.storage.StateMachineStore;
import io.quorumkv.storage.StateTamper;
import io.quorumkv.storage.StorageEngine;
import io.quorumkv.storage.StorageOptions;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeSet;

/**
 * A stopped node's replicas, read and damaged through the project's own storage and state machine
 * code, from outside core's package: the Jepsen suite's diverge nemesis rots one replica's state
 * the way a bad disk would ({@link #rewrite}), and its tests hash a replica as a hash check would
 * ({@link #hash}). Every method opens the node's data directory, so the node must not be running.
 */
public final class OfflineReplicas {

  /** KvNode's default session timeout (ExampleNode sets none): a hash counts the sessions live under it. */
  private static final long SESSION_TIMEOUT_MILLIS = Duration.ofMinutes(10).toMillis();

  private OfflineReplicas() {}

  /**
   * What {@link #rewrite} did.
   *
   * @param partition    the partition whose replica was changed
   * @param appliedIndex that replica's applied index, which the change left as it was
   * @param before       the value it held
   * @param after        the value it holds now
   */
  public record Rewrite(long partition, long appliedIndex, String before, String after) {}

  /**
   * Changes the value of user key {@code key} in the replica that holds it, on the stopped node
   * {@code nodeId} whose data directory is {@code dataDir}, behind Raft's back: the applied index
   * stays, no log entry says so, and the record's checksum is right. Only a replica hash check can
   * tell this replica from the others.
   *
   * @param partitioner the node's partitioning (the initial key spans of partitions that never
   *                    stored theirs)
   * @throws IllegalStateException if not exactly one replica on the node holds the key in its span
   */
  public static Rewrite rewrite(Path dataDir, String clusterId, long nodeId, Partitioner partitioner, String key,
      String value) {
    byte[] userKey = key.getBytes(StandardCharsets.UTF_8);
    byte[] stored = PartitionStateMachine.dataKey(userKey);
    try (StorageEngine engine = StorageEngine.openRocksDb(dataDir, clusterId, StorageOptions.defaults(nodeId))) {
      Map<Long, KeySpan> spans = RoutingTable.initialSpans(partitioner);
      List<Long> holders = new ArrayList<>();
      for (long g : new TreeSet<>(engine.groups())) {
        // A range partition's parent keeps no data of a child's span after a split; checked anyway.
        if (engine.stateMachine(g).get(stored).isPresent() && open(engine, g, spans).span().owns(userKey)) {
          holders.add(g);
        }
      }
      if (holders.size() != 1) {
        throw new IllegalStateException("node " + nodeId + ": " + holders.size() + " replicas hold \"" + key
            + "\" in their span (partitions " + holders + "), expected one");
      }
      long g = holders.get(0);
      StateMachineStore state = engine.stateMachine(g);
      String before = new String(state.get(stored).orElseThrow(), StandardCharsets.UTF_8);
      StateTamper.put(engine, g, stored, value.getBytes(StandardCharsets.UTF_8));
      Optional<byte[]> now = state.get(stored);
      String after = now.map(v -> new String(v, StandardCharsets.UTF_8)).orElse(null);
      return new Rewrite(g, state.appliedIndex(), before, after);
    }
  }

  /**
   * The hash that replica {@code partition} of the stopped node would report for a hash check
   * entry right after its applied index: the same code ({@link PartitionStateMachine}'s check)
   * over the same stored state. Nothing is written.
   */
  public static long hash(Path dataDir, String clusterId, long nodeId, Partitioner partitioner, long partition) {
    try (StorageEngine engine = StorageEngine.openRocksDb(dataDir, clusterId, StorageOptions.defaults(nodeId))) {
      StateMachineStore state = engine.stateMachine(partition);
      PartitionStateMachine sm = open(engine, partition, RoutingTable.initialSpans(partitioner));
      // stamp 0: the log time stays the replica's own, so sessions expire as they would at a real check
      byte[] check = Codec.encodeCommand(new Command.Stamped(0, new Command.CheckHash()));
      PartitionStateMachine.Outcome o = sm.apply(state.appliedIndex() + 1, state.appliedTerm(), check);
      return ((PartitionStateMachine.Outcome.Hashed) o).hash().hash(); // staged, never flushed
    }
  }

  /** The state machine over replica {@code g}'s store, as the node opens it. */
  private static PartitionStateMachine open(StorageEngine engine, long g, Map<Long, KeySpan> spans) {
    StateMachineStore state = engine.stateMachine(g);
    return PartitionStateMachine.open(g, new StoragePartitionStore(state), state.appliedTerm(), SESSION_TIMEOUT_MILLIS,
        spans.get(g));
  }
}
