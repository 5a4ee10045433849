package io.quorumkv;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.Timer;
import io.quorumkv.raft.Message;
import io.quorumkv.storage.StorageEngine;
import io.quorumkv.storage.SyncEvent;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import java.util.function.ToDoubleFunction;

/**
 * A node's meters, all tagged with {@code node}. Names: {@code quorumkv.proposals} (entries
 * proposed), {@code quorumkv.writes.proposed} (client writes in them) and
 * {@code quorumkv.writes.packed} (those that shared an entry with another write),
 * {@code quorumkv.commits} (entries applied), {@code quorumkv.apply.writes} and
 * {@code quorumkv.apply.batches} (the applier's state machine writes and the groups' batches they
 * wrote: batches per write is their ratio), {@code quorumkv.leader.changes},
 * {@code quorumkv.readindex.latency}, {@code quorumkv.fsync.latency}, {@code quorumkv.apply.lag}
 * (committed but not yet applied entries, all partitions), {@code quorumkv.queue.depth} (tag
 * {@code queue}: raft, apply, log), {@code quorumkv.sync.stalls},
 * {@code quorumkv.replica.hash.mismatches}, {@code quorumkv.replicas.diverged} (fenced replicas, see
 * ReplicaHashChecks#compareHash), {@code quorumkv.replica.repairs} and
 * {@code quorumkv.replica.repairs.done} (replacements of diverged replicas this node started and
 * finished as leader, see ReplicaRepair), {@code quorumkv.messages.dropped} (inbox full),
 * {@code quorumkv.reads.index.retries} and {@code quorumkv.reads.index.locked} (gets that read again,
 * or read under the state lock, to report the exact index of the state they read),
 * {@code quorumkv.requests.forwarded}, {@code quorumkv.requests.multi} and
 * {@code quorumkv.requests.multi.items} (multi requests received and the gets and writes they carried),
 * {@code quorumkv.raft.sent} (Raft messages handed to the transport, tag {@code type}: append,
 * append.response, heartbeat, other) and {@code quorumkv.raft.sent.entries} (entries carried by the
 * AppendEntries sent; with {@code quorumkv.proposals} they give messages per proposal and entries
 * per AppendEntries), {@code quorumkv.log.entries.synced} and {@code quorumkv.log.bytes.synced} (what the fsyncs made
 * durable: entries per fsync is their rate over the fsync count's), {@code quorumkv.snapshot.bytes.received},
 * {@code quorumkv.writes.answered.at.commit} and {@code quorumkv.writes.answered.at.commit.contradicted}
 * (see AnswerAtCommit),
 * and the transport's counters {@code quorumkv.transport.messages} (tag {@code direction}: sent,
 * received), {@code quorumkv.transport.heartbeat.frames} and {@code quorumkv.transport.dropped} (tag
 * {@code reason}: queue-full, unreachable, fault, too-large).
 */
final class NodeMetrics {

  final Counter proposals;
  final Counter writesProposed;
  final Counter writesPacked;
  final Counter commits;
  final Counter applyWrites;
  final Counter applyBatches;
  final Counter leaderChanges;
  final Counter balancingTransfers;
  final Timer readIndexLatency;
  final Timer fsyncLatency;
  final Timer hashDuration;
  final Counter syncStalls;
  final Counter hashMismatches;
  final Counter replicaRepairs;
  final Counter replicaRepairsDone;
  final Counter droppedMessages;
  final Counter forwarded;
  final Counter directoryAnswersFull;
  final Counter directoryAnswersUnchanged;
  final Counter multis;
  final Counter multiItems;
  final Counter leaseReadsFallenBack;
  final Counter readsFromDisk;
  final Counter readsMovedDuringRead;
  final Counter readsIndexRetried;
  final Counter readsIndexLocked;
  final Counter readBatches;
  final Counter batchedReads;
  final Counter sentAppends;
  final Counter sentAppendResponses;
  final Counter sentHeartbeats;
  final Counter sentOther;
  final Counter sentEntries;
  final Counter entriesSynced;
  final Counter bytesSynced;
  final Counter snapshotBytesReceived;
  final Counter snapshotsTaken;
  final Counter answeredAtCommit;
  final Counter answersAtCommitContradicted;
  private final MeterRegistry registry;
  private final Tags tags;

  NodeMetrics(MeterRegistry registry, long nodeId) {
    this.registry = registry;
    this.tags = Tags.of("node", Long.toString(nodeId));
    proposals = counter("quorumkv.proposals", "commands proposed by this node as leader");
    writesProposed = counter("quorumkv.writes.proposed",
        "client writes proposed by this node as leader, alone or packed with others in one entry");
    writesPacked = counter("quorumkv.writes.packed", "client writes proposed in an entry holding more than one write");
    commits = counter("quorumkv.commits", "committed entries applied");
    applyWrites = counter("quorumkv.apply.writes", "state machine writes of the applier, each for one or more groups' batches");
    applyBatches = counter("quorumkv.apply.batches", "batches of committed entries (one group's each) the applier applied");
    leaderChanges = counter("quorumkv.leader.changes", "leader changes seen, all partitions");
    balancingTransfers = counter("quorumkv.leader.transfers.balancing",
        "leaderships this node handed away to balance leaders (or to a preferred leader)");
    readIndexLatency = Timer.builder("quorumkv.readindex.latency").description("ReadIndex request to answer")
        .tags(tags).publishPercentiles(0.5, 0.99).register(registry);
    fsyncLatency = Timer.builder("quorumkv.fsync.latency").description("synced log writes")
        .tags(tags).publishPercentiles(0.5, 0.99).register(registry);
    hashDuration = Timer.builder("quorumkv.replica.hash.duration")
        .description("replica hash checks: hashing one partition's state, paced, off the applier")
        .tags(tags).publishPercentiles(0.5, 0.99).register(registry);
    syncStalls = counter("quorumkv.sync.stalls", "leaderships given up over a stalled sync");
    hashMismatches = counter("quorumkv.replica.hash.mismatches",
        "replicas whose state hash differed from the leader's at the same index");
    replicaRepairs = counter("quorumkv.replica.repairs",
        "replacements of a diverged replica this node started as the partition's leader");
    replicaRepairsDone = counter("quorumkv.replica.repairs.done",
        "replacements of a diverged replica finished with this node as the partition's leader (the rebuilt replica "
            + "a voter again, or the diverged one removed once its replacement was)");
    droppedMessages = counter("quorumkv.messages.dropped", "inbound messages dropped (raft inbox full)");
    leaseReadsFallenBack = counter("quorumkv.reads.lease.fallback",
        "LEASE reads whose lease lapsed while they read (a pause, a slow read), served by ReadIndex instead");
    readsFromDisk = counter("quorumkv.reads.disk",
        "gets whose record was not in memory where they were first served (an I/O thread, the Raft loop), read on the read pool instead");
    readsMovedDuringRead = counter("quorumkv.reads.moved",
        "reads refused because a split moved their keys away between the span check and the read (retried by the frontend)");
    readsIndexRetried = counter("quorumkv.reads.index.retries",
        "gets read again because an apply of their partition became visible while they read (see ReadPath#serveLocal)");
    readsIndexLocked = counter("quorumkv.reads.index.locked",
        "gets read under their partition's state lock, after three such tries, holding that partition's apply back for one read");
    readBatches = counter("quorumkv.reads.batches",
        "read indexes asked for batches of LINEARIZABLE or FOLLOWER reads (one ReadIndex request each)");
    batchedReads = counter("quorumkv.reads.batched", "LINEARIZABLE and FOLLOWER reads in those batches");
    forwarded = counter("quorumkv.requests.forwarded",
        "client requests forwarded to the partition's leader (a client routing by a stale table, or not routing)");
    directoryAnswersFull = Counter.builder("quorumkv.directory.answers")
        .description("directory polls of peers answered: with the full report, or as unchanged (the report the peer holds)")
        .tags(tags.and("kind", "full")).register(registry);
    directoryAnswersUnchanged = Counter.builder("quorumkv.directory.answers")
        .description("directory polls of peers answered: with the full report, or as unchanged (the report the peer holds)")
        .tags(tags.and("kind", "unchanged")).register(registry);
    multis = counter("quorumkv.requests.multi",
        "multi requests received: several gets and writes a client sent in one frame");
    multiItems = counter("quorumkv.requests.multi.items",
        "gets and writes received inside multi requests (items per multi: over quorumkv.requests.multi)");
    entriesSynced = counter("quorumkv.log.entries.synced", "log entries made durable by fsyncs");
    bytesSynced = counter("quorumkv.log.bytes.synced", "bytes of log entries made durable by fsyncs");
    snapshotBytesReceived = counter("quorumkv.snapshot.bytes.received", "snapshot payload bytes received from leaders");
    snapshotsTaken = counter("quorumkv.snapshots.taken", "snapshots taken of a partition for followers that needed one");
    answeredAtCommit = counter("quorumkv.writes.answered.at.commit",
        "client writes answered when their entry committed, before it applied (their outcome was known)");
    answersAtCommitContradicted = counter("quorumkv.writes.answered.at.commit.contradicted",
        "writes answered at commit whose entry then applied with another outcome (a bug: always 0)");
    sentAppends = sent("append");
    sentAppendResponses = sent("append.response");
    sentHeartbeats = sent("heartbeat");
    sentOther = sent("other");
    sentEntries = counter("quorumkv.raft.sent.entries", "log entries carried by the AppendEntries sent");
  }

  private Counter counter(String name, String description) {
    return Counter.builder(name).description(description).tags(tags).register(registry);
  }

  private Counter sent(String type) {
    return Counter.builder("quorumkv.raft.sent").description("Raft messages handed to the transport")
        .tags(tags.and("type", type)).register(registry);
  }

  /** Counts one Raft message about to be handed to the transport. */
  void sent(Message m) {
    if (m instanceof Message.AppendEntries a) {
      sentAppends.increment();
      sentEntries.increment(a.entries().size());
    } else if (m instanceof Message.AppendEntriesResponse) {
      sentAppendResponses.increment();
    } else if (m instanceof Message.Heartbeat || m instanceof Message.HeartbeatResponse) {
      sentHeartbeats.increment();
    } else {
      sentOther.increment();
    }
  }

  void gauge(String name, String queue, Supplier<Number> value) {
    Gauge.builder(name, value).tags(queue == null ? tags : tags.and("queue", queue)).register(registry);
  }

  /** A counter read from {@code source} at each scrape (e.g. the transport's own counters). */
  <T> void functionCounter(String name, String description, Tags extra, T source, ToDoubleFunction<T> value) {
    FunctionCounter.builder(name, source, value).description(description).tags(tags.and(extra)).register(registry);
  }

  /**
   * {@code quorumkv.storage.sst.bytes} (tags {@code cf}: log, state, raft_meta; {@code reason}:
   * flush, compaction): the table-file bytes the database wrote, the background write-back that
   * shares the disk with the log's fsyncs.
   */
  void sstWrites(StorageEngine engine) {
    String name = "quorumkv.storage.sst.bytes";
    String description = "table-file bytes written by RocksDB flushes and compactions";
    functionCounter(name, description, Tags.of("cf", "log", "reason", "flush"), engine,
        e -> e.sstWrites().logFlushBytes());
    functionCounter(name, description, Tags.of("cf", "log", "reason", "compaction"), engine,
        e -> e.sstWrites().logCompactionBytes());
    functionCounter(name, description, Tags.of("cf", "state", "reason", "flush"), engine,
        e -> e.sstWrites().stateFlushBytes());
    functionCounter(name, description, Tags.of("cf", "state", "reason", "compaction"), engine,
        e -> e.sstWrites().stateCompactionBytes());
    functionCounter(name, description, Tags.of("cf", "raft_meta", "reason", "all"), engine,
        e -> e.sstWrites().metaBytes());
  }

  void fsync(SyncEvent e) {
    fsyncLatency.record(e.durationNanos(), TimeUnit.NANOSECONDS);
    entriesSynced.increment(e.entries());
    bytesSynced.increment(e.bytes());
  }
}
