package io.quorumkv;

import io.micrometer.core.instrument.MeterRegistry;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.Set;

/**
 * The validated configuration of a {@link KvNode}, built with {@link KvNode#builder()}. Every
 * field is described on the builder method of the same name.
 *
 * @param nodeId                this node's id, positive and unique in the cluster
 * @param advertisedAddress     {@code host:port} peers and clients use to reach this node
 * @param bindAddress           {@code host:port} the transport listens on
 * @param peers                 the other initial members: node id to {@code host:port}
 * @param join                  whether this node joins an existing cluster instead of bootstrapping
 * @param dataDir               where RocksDB keeps its files (unused with {@link StorageEngineType#MEMORY})
 * @param clusterId             the cluster's name; a data dir or peer of another cluster is refused
 * @param partitioner           how keys map to partitions
 * @param tickInterval          the length of one Raft tick
 * @param electionTicks         ticks without a leader before a follower campaigns
 * @param heartbeatTicks        ticks between leader heartbeats
 * @param requestTimeout        the default deadline of every call
 * @param maxKeySize            the largest key accepted, in bytes
 * @param maxValueSize          the largest value accepted, in bytes
 * @param storageEngine         where the log and state are kept
 * @param notLeaderPolicy       forward requests for partitions this node does not lead, or reject
 * @param leaseClockDriftFactor the part of the election timeout a lease gives away to clock drift
 * @param syncStallTimeout      a leader whose log sync takes longer than this steps down
 * @param sessionTimeout        a client session idle this long (in log time) expires
 * @param logCompactionEntries  the most applied entries between two compactions of a partition's log
 * @param logCompactionBytes    a partition's log is compacted once it grew by this many bytes, or
 *                              all the node's logs together did (each at least 256 KiB)
 * @param balanceLeaders        whether the node hands leaderships away to even them out
 * @param leaderPinDuration     how long balancing leaves a leadership placed by an explicit transfer
 * @param preferredLeaders      the nodes balancing places leaderships on (same on every node); empty for all voters
 * @param replicationFactor     voters per partition, placed by the cluster; 0 for every node
 * @param mergeBelowKeys        adjacent ranges both holding fewer keys are merged; 0 for never
 * @param quiesceIdleGroups     whether idle partitions stop ticking and heartbeating until used again
 * @param repairDivergedReplicas whether a partition's leader replaces a replica its hash checks found diverged
 * @param meterRegistry         where metrics go
 */
public record KvNodeConfig(
    long nodeId,
    String advertisedAddress,
    String bindAddress,
    Map<Long, String> peers,
    boolean join,
    Path dataDir,
    String clusterId,
    Partitioner partitioner,
    Duration tickInterval,
    int electionTicks,
    int heartbeatTicks,
    Duration requestTimeout,
    int maxKeySize,
    int maxValueSize,
    StorageEngineType storageEngine,
    NotLeaderPolicy notLeaderPolicy,
    double leaseClockDriftFactor,
    Duration syncStallTimeout,
    Duration sessionTimeout,
    long logCompactionEntries,
    long logCompactionBytes,
    boolean balanceLeaders,
    Duration leaderPinDuration,
    Set<Long> preferredLeaders,
    int replicationFactor,
    int mergeBelowKeys,
    boolean quiesceIdleGroups,
    boolean repairDivergedReplicas,
    MeterRegistry meterRegistry) {

  public KvNodeConfig {
    peers = Map.copyOf(peers);
    preferredLeaders = Set.copyOf(preferredLeaders);
  }

  /** The initial voters: this node and its peers (empty when joining). */
  java.util.Set<Long> initialMembers() {
    if (join) {
      return java.util.Set.of();
    }
    java.util.Set<Long> s = new java.util.TreeSet<>(peers.keySet());
    s.add(nodeId);
    return s;
  }

  /** The election timeout as wall time. */
  Duration electionTimeout() {
    // Not Duration.multipliedBy, which goes through BigDecimal: this is asked per replica per tick
    // (Quiescence): with 1,000 idle partitions that arithmetic was about 7 % of a node's Java samples.
    return Duration.ofNanos(tickInterval.toNanos() * electionTicks);
  }
}
