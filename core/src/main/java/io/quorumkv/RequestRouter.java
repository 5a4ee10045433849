package io.quorumkv;

import io.quorumkv.raft.RaftConfig;
import io.quorumkv.transport.TransportException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReferenceArray;
import java.util.function.BiConsumer;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * How one node answers a request, from a client or from a peer: decoded, routed by key to its
 * partition, and served here (a read through {@link ReadPath}, a write proposed on the Raft loop)
 * or forwarded to the node that can serve it; a multi's items dispatched together, a scan split
 * over the partitions it spans and merged. Every answer is a {@link KvResponse}, and a failure
 * says whether a write's outcome is unknown. Runs on the thread that received the request (a
 * transport I/O thread, a caller of {@link KvNode}) and, for half of a large multi of gets, on the
 * read pool; it never blocks.
 */
final class RequestRouter {

  /**
   * What the router needs of its node. {@link NodeRuntime} implements it over its own state; the
   * router keeps no reference to the runtime.
   */
  interface Node {
    /** This node's id. */
    long nodeId();

    /** Whether the node is running (not new, closing or closed). */
    boolean running();

    /** See {@link ReadPath.Node#postExternal}: collected into a multi's one task while it is dispatched. */
    boolean postExternal(Runnable task);

    /** loop: runs a posted task as the loop runs its own (a failure is logged, not thrown). */
    void runSafely(Runnable task);

    /** Proposes a client command on the loop; completes when its entry applies (or is refused). */
    CompletableFuture<PartitionStateMachine.Outcome> propose(Replica r, Command c);

    /** The answer to a client for a command's outcome in {@code r}. */
    KvResponse toResponse(Replica r, PartitionStateMachine.Outcome o);

    /** Sends a request to node {@code to} over the transport. */
    CompletableFuture<byte[]> request(long to, byte[] payload, Duration timeout);

    /** The node's status, as {@link KvAdmin#status} reports it. */
    ClusterStatus status();
  }

  /**
   * The loop tasks of the multi this thread is dispatching, or null. A thread-local rather than a
   * parameter because proposals and reads post from deep in their own paths (propose, ReadPath#leaderRead),
   * which then stay exactly as for a single request.
   */
  private static final ThreadLocal<List<Runnable>> multiLoopTasks = new ThreadLocal<>();

  private final String who;
  private final KvNodeConfig config;
  private final NodeMetrics metrics;
  private final Map<Long, Replica> replicas;
  private final Map<Long, String> members;
  private final RoutingTable routing;
  private final PlacementDriver placement;
  private final ReadPath reads;
  private final GroupCommands commands;
  private final ReplicaHashChecks hashChecks;
  private final Executor readPool;
  private final Node node;
  private final Logger log = LoggerFactory.getLogger(KvNode.class);

  RequestRouter(String who, KvNodeConfig config, NodeMetrics metrics, Map<Long, Replica> replicas,
      Map<Long, String> members, RoutingTable routing, PlacementDriver placement, ReadPath reads,
      GroupCommands commands, ReplicaHashChecks hashChecks, Executor readPool, Node node) {
    this.who = who;
    this.config = config;
    this.metrics = metrics;
    this.replicas = replicas;
    this.members = members;
    this.routing = routing;
    this.placement = placement;
    this.reads = reads;
    this.commands = commands;
    this.hashChecks = hashChecks;
    this.readPool = readPool;
    this.node = node;
  }

  /**
   * The loop tasks being collected for the multi this thread dispatches ({@link #serveMulti}), or
   * null: the node's {@link Node#postExternal} adds to them instead of posting.
   */
  static List<Runnable> collectingLoopTasks() {
    return multiLoopTasks.get();
  }

  /** Answers a request from a peer or an external client. Called on a transport I/O thread. */
  CompletableFuture<byte[]> onRequest(long from, byte[] payload) {
    KvRequest req;
    try {
      req = Codec.decodeRequest(payload);
    } catch (IllegalArgumentException e) {
      return CompletableFuture.completedFuture(Codec.encodeResponse(
          KvResponse.Failure.of(KvResponse.Code.INVALID_ARGUMENT, e.getMessage())));
    }
    if (!node.running()) {
      return CompletableFuture.completedFuture(Codec.encodeResponse(
          KvResponse.Failure.of(KvResponse.Code.CLOSED, who + " is not running")));
    }
    long deadline = System.nanoTime() + config.requestTimeout().toNanos();
    CompletableFuture<KvResponse> f;
    if (req instanceof KvRequest.ForPartition fp) {
      f = servePartition(fp.partitionId(), fp.inner(), deadline, false);
    } else if (req instanceof KvRequest.Directory d) {
      return answerDirectory(from, d);
    } else if (req instanceof KvRequest.Group g) {
      f = commands.executeGroup(g, deadline);
    } else if (req instanceof KvRequest.Multi m) {
      f = serveMulti(m);
    } else {
      f = execute(req, deadline);
    }
    return f.handle((r, e) -> Codec.encodeResponse(e == null ? r : failureOf(e)));
  }

  /**
   * A directory poll's answer, encoded (a peer's poll is answered "unchanged" by comparing
   * encodings, {@link PlacementDriver#answerDirectory}). Counting keys (for merges) scans the
   * replicas: then not on an I/O thread.
   */
  private CompletableFuture<byte[]> answerDirectory(long from, KvRequest.Directory d) {
    Supplier<byte[]> answer = () -> placement.answerDirectory(from, d);
    CompletableFuture<byte[]> f = config.mergeBelowKeys() > 0 ? CompletableFuture.supplyAsync(answer, readPool)
        : CompletableFuture.supplyAsync(answer, Runnable::run);
    return f.exceptionally(e -> Codec.encodeResponse(failureOf(e)));
  }

  /** The most bytes of values read that one multi's answer carries; reads beyond are refused, retryably. */
  static final int MULTI_ANSWER_READ_BYTES = 8 * 1024 * 1024;

  /**
   * Gets from which a multi of gets is served by two threads: this many or more are split in
   * halves, one served on the I/O thread at hand, one on the read pool. A client's connection is
   * served by one I/O thread, and a loaded client's gets arrive as frames of 64 to 128 (see the
   * client's RequestCoalescer): at 256 callers that thread was the bottleneck of lease reads (~86 %
   * busy, the other core half idle), at 64 the client waited for it while it served the frame
   * (split: +45-70 % and +15-25 %, benchmarks.md finding 55). Below it the hand-off (a wake-up,
   * ~10-20 µs) would cost more than it saves.
   */
  static final int READS_SPLIT_FROM = 64;

  /**
   * Serves a client's multi: every item as if it had arrived alone (routed, served here or
   * forwarded, with its own deadline), answered with one frame once all are done. The Raft-loop
   * work of its items (proposals, ReadIndex requests) reaches the loop as one task per dispatching
   * thread, so a multi of n writes costs one hand-off to the loop, not n, and its writes are
   * proposed in one loop drain. A large multi of gets is served by two threads
   * ({@link #READS_SPLIT_FROM}).
   */
  CompletableFuture<KvResponse> serveMulti(KvRequest.Multi m) {
    List<KvRequest.Multi.Item> items = m.items();
    int n = items.size();
    metrics.multis.increment();
    metrics.multiItems.increment(n);
    long now = System.nanoTime();
    AtomicReferenceArray<KvResponse> answers = new AtomicReferenceArray<>(n);
    AtomicInteger left = new AtomicInteger(n);
    CompletableFuture<KvResponse> done = new CompletableFuture<>();
    BiConsumer<Integer, KvResponse> answer = (i, r) -> {
      if (answers.compareAndSet(i, null, r) && left.decrementAndGet() == 0) {
        done.complete(multiAnswer(answers));
      }
    };
    int split = onlyGets(items) && n >= READS_SPLIT_FROM ? n / 2 : n;
    if (split < n) {
      try {
        readPool.execute(() -> dispatchItems(items, split, n, now, answer));
      } catch (RejectedExecutionException closed) {
        KvResponse failure = KvResponse.Failure.of(KvResponse.Code.CLOSED, who + " is closed");
        for (int i = split; i < n; i++) {
          answer.accept(i, failure);
        }
      }
    }
    dispatchItems(items, 0, split, now, answer);
    return done;
  }

  private static boolean onlyGets(List<KvRequest.Multi.Item> items) {
    for (KvRequest.Multi.Item item : items) {
      if (!(item.request() instanceof KvRequest.Get)) {
        return false;
      }
    }
    return true;
  }

  /** Executes a multi's items {@code from} (inclusive) to {@code to}, each answered through {@code answer}. */
  private void dispatchItems(List<KvRequest.Multi.Item> items, int from, int to, long now,
      BiConsumer<Integer, KvResponse> answer) {
    List<Runnable> loopTasks = new ArrayList<>();
    List<CompletableFuture<KvResponse>> results = new ArrayList<>(to - from);
    boolean[] onLoop = new boolean[to - from];
    multiLoopTasks.set(loopTasks);
    try {
      for (int i = from; i < to; i++) {
        KvRequest.Multi.Item item = items.get(i);
        int before = loopTasks.size();
        results.add(execute(item.request(), now + TimeUnit.MILLISECONDS.toNanos(item.timeoutMillis())));
        onLoop[i - from] = loopTasks.size() > before;
      }
    } finally {
      multiLoopTasks.remove();
    }
    if (!loopTasks.isEmpty() && !node.postExternal(() -> loopTasks.forEach(node::runSafely))) {
      // What a single request's refused post answers: nothing was proposed or asked of the loop.
      KvResponse refused = KvResponse.Failure.of(KvResponse.Code.CLOSED, who + " is not accepting work");
      for (int i = from; i < to; i++) {
        if (onLoop[i - from]) {
          answer.accept(i, refused);
        }
      }
    }
    for (int i = from; i < to; i++) {
      int at = i;
      results.get(i - from).whenComplete((r, e) -> answer.accept(at, e == null ? r : failureOf(e)));
    }
  }

  /** The answers in order; reads past {@link #MULTI_ANSWER_READ_BYTES} of values are refused to keep the frame bounded. */
  private KvResponse.Multi multiAnswer(AtomicReferenceArray<KvResponse> answers) {
    List<KvResponse> out = new ArrayList<>(answers.length());
    long readBytes = 0;
    for (int i = 0; i < answers.length(); i++) {
      KvResponse r = answers.get(i);
      if (r instanceof KvResponse.Read read) {
        int size = read.result().value().map(v -> v.length).orElse(0);
        if (readBytes + size > MULTI_ANSWER_READ_BYTES && readBytes > 0) {
          r = KvResponse.Failure.of(KvResponse.Code.TIMEOUT, "the values read by this multi exceed "
              + MULTI_ANSWER_READ_BYTES + " bytes; this read was not answered, retry it");
        } else {
          readBytes += size;
        }
      }
      out.add(r);
    }
    return new KvResponse.Multi(out);
  }

  KvResponse failureOf(Throwable t) {
    RuntimeException e = Await.unwrap(t);
    if (e instanceof NodeClosedException) {
      return KvResponse.Failure.of(KvResponse.Code.CLOSED, e.getMessage());
    }
    if (e instanceof NodeRuntime.LeadershipLost) {
      return KvResponse.Failure.of(KvResponse.Code.NO_LEADER, e.getMessage());
    }
    if (e instanceof IllegalArgumentException) {
      return KvResponse.Failure.of(KvResponse.Code.INVALID_ARGUMENT, e.getMessage());
    }
    if (!node.running()) {
      // Stopping (or crashed): its storage may be closed under the request. Not a node failure the
      // caller should see as one: retryable elsewhere, and a write's outcome is unknown.
      return new KvResponse.Failure(KvResponse.Code.TIMEOUT, who + " stopped while serving the request: " + e,
          0, 0, "", true);
    }
    log.warn("{}: request failed", who, e);
    return KvResponse.Failure.of(KvResponse.Code.INTERNAL, String.valueOf(e));
  }

  /** One attempt of a request received by this node: routed, served here or forwarded. */
  CompletableFuture<KvResponse> execute(KvRequest req, long deadline) {
    try {
      if (req instanceof KvRequest.Get g) {
        return routeAndServe(g.key(), g, deadline);
      }
      if (req instanceof KvRequest.Write w) {
        return executeWrite(w, deadline);
      }
      if (req instanceof KvRequest.Scan s) {
        return scan(s, deadline);
      }
      if (req instanceof KvRequest.Status) {
        return CompletableFuture.completedFuture(new KvResponse.StatusReport(node.status()));
      }
      if (req instanceof KvRequest.Directory) {
        return done(placement.report());
      }
      if (req instanceof KvRequest.Routes) {
        return done(routes());
      }
      if (req instanceof KvRequest.Admin a) {
        return commands.admin(a.op(), deadline);
      }
      if (req instanceof KvRequest.ForPartition fp) {
        return servePartition(fp.partitionId(), fp.inner(), deadline, false);
      }
      if (req instanceof KvRequest.Multi m) {
        return serveMulti(m);
      }
      if (req instanceof KvRequest.CheckReplicas c) {
        long wait = TimeUnit.MILLISECONDS.toNanos(c.waitMillis());
        return hashChecks.checkReplicas(deadline - System.nanoTime() < wait ? deadline : System.nanoTime() + wait);
      }
      return commands.executeGroup((KvRequest.Group) req, deadline);
    } catch (RuntimeException e) {
      return CompletableFuture.completedFuture(failureOf(e));
    }
  }

  private CompletableFuture<KvResponse> routeAndServe(byte[] key, KvRequest inner, long deadline) {
    OptionalLong p = routing.route(key);
    if (p.isEmpty()) {
      return done(KvResponse.Failure.of(KvResponse.Code.NO_LEADER, who + " hosts no partition for the key yet"));
    }
    return servePartition(p.getAsLong(), inner, deadline, true);
  }

  private CompletableFuture<KvResponse> executeWrite(KvRequest.Write w, long deadline) {
    if (w.op() instanceof WriteOp.Batch) {
      long partition = 0;
      for (byte[] k : w.op().keys()) {
        OptionalLong p = routing.route(k);
        if (p.isEmpty()) {
          return done(KvResponse.Failure.of(KvResponse.Code.NO_LEADER, who + " hosts no partition for a key yet"));
        }
        if (partition != 0 && partition != p.getAsLong()) {
          return done(KvResponse.Failure.of(KvResponse.Code.INVALID_ARGUMENT,
              "a batch must stay within one partition; its keys fall in partitions " + partition + " and " + p.getAsLong()));
        }
        partition = p.getAsLong();
      }
      return servePartition(partition, w, deadline, true);
    }
    return routeAndServe(w.op().keys().get(0), w, deadline);
  }

  private CompletableFuture<KvResponse> scan(KvRequest.Scan s, long deadline) {
    List<RoutingTable.ScanPart> plan = routing.plan(s.from(), s.to());
    if (!covers(plan, s.from(), s.to())) {
      // A node that lost its replicas (removed, moved away) may know no partition for part of the
      // range: answering what it knows would be a scan missing keys, at any read level.
      return done(KvResponse.Failure.of(KvResponse.Code.NO_LEADER, who + (routing.snapshot().isEmpty()
          ? " hosts no partition yet" : " knows no partition for part of the range; ask another node")));
    }
    List<CompletableFuture<KvResponse>> parts = new ArrayList<>();
    for (RoutingTable.ScanPart part : plan) {
      parts.add(servePartition(part.partitionId(),
          new KvRequest.Scan(part.from(), part.to(), s.limit(), s.consistency()), deadline, true));
    }
    return CompletableFuture.allOf(parts.toArray(CompletableFuture[]::new)).thenApply(v -> {
      TreeMap<byte[], byte[]> merged = new TreeMap<>(Arrays::compareUnsigned);
      for (CompletableFuture<KvResponse> f : parts) {
        KvResponse r = f.join();
        if (!(r instanceof KvResponse.Scanned sc)) {
          return r;
        }
        for (KeyValue kv : sc.entries()) {
          merged.put(kv.key(), kv.value());
        }
      }
      List<KeyValue> out = new ArrayList<>();
      for (Map.Entry<byte[], byte[]> e : merged.entrySet()) {
        if (out.size() == s.limit()) {
          break;
        }
        out.add(new KeyValue(e.getKey(), e.getValue()));
      }
      return new KvResponse.Scanned(out);
    });
  }

  /**
   * Whether {@code plan} (sorted by start) covers {@code [from, to)} without a gap; an empty
   * {@code to} is the end of the key space. A hash partition's part spans the whole range, so with
   * hash partitioning every one of the n partitions must be in the plan instead.
   */
  static boolean covers(List<RoutingTable.ScanPart> plan, byte[] from, byte[] to) {
    int hashPartitions = plan.stream().mapToInt(RoutingTable.ScanPart::hashPartitions).max().orElse(0);
    if (hashPartitions > 0) {
      // Every hash partition may hold keys anywhere in the range: each of 1..n must be known.
      return plan.stream().filter(p -> p.hashPartitions() > 0).mapToLong(RoutingTable.ScanPart::partitionId)
          .filter(id -> id >= 1 && id <= hashPartitions).distinct().count() == hashPartitions;
    }
    byte[] next = from;
    for (RoutingTable.ScanPart p : plan) {
      if (Arrays.compareUnsigned(p.from(), next) > 0) {
        return false; // a gap before this part
      }
      if (p.to().length == 0) {
        return true; // runs to the end of the key space
      }
      if (Arrays.compareUnsigned(p.to(), next) > 0) {
        next = p.to();
      }
    }
    return !plan.isEmpty() && to.length != 0 && Arrays.compareUnsigned(next, to) >= 0;
  }

  /**
   * This node's routing table with each partition's leader address, for clients that route, and
   * the addresses of the members that are voters of some partition here and learners of none: a
   * client learns the cluster's current members from it, not only the leaders (its configured
   * nodes may all have been removed since). A node being added is left out until it is a voter
   * everywhere: it is a learner of each partition until it has caught up with that partition
   * (promotions are per partition), and its empty replicas would answer a client's {@code STALE}
   * reads with nothing (the Jepsen bank saw its accounts vanish from a scan sent to a joining node).
   */
  private KvResponse.RouteTable routes() {
    List<KvResponse.Route> out = new ArrayList<>();
    Set<Long> voters = new HashSet<>();
    Set<Long> learners = new HashSet<>();
    for (Map.Entry<Long, KeySpan> e : routing.snapshot().entrySet()) {
      Replica r = replicas.get(e.getKey());
      long leader = r == null ? RaftConfig.NONE : r.leader;
      out.add(new KvResponse.Route(e.getKey(), e.getValue(),
          leader == RaftConfig.NONE ? "" : members.getOrDefault(leader, "")));
    }
    for (Replica r : replicas.values()) {
      voters.addAll(r.confState.voters());
      voters.addAll(r.confState.votersOutgoing());
      learners.addAll(r.confState.learners());
      learners.addAll(r.confState.learnersNext());
    }
    Map<Long, String> named = new HashMap<>();
    members.forEach((id, address) -> {
      if (voters.contains(id) && !learners.contains(id)) {
        named.put(id, address);
      }
    });
    return new KvResponse.RouteTable(out, named);
  }

  private static CompletableFuture<KvResponse> done(KvResponse r) {
    return CompletableFuture.completedFuture(r);
  }

  /**
   * Serves a read or write of one partition: here if this node can (leader, or a read level a
   * follower may serve), else forwarded to the leader if allowed and configured, else refused
   * with the leader hint.
   */
  private CompletableFuture<KvResponse> servePartition(long p, KvRequest inner, long deadline, boolean mayForward) {
    Replica r = replicas.get(p);
    if (r == null) {
      return serveElsewhere(p, inner, deadline, mayForward);
    }
    ReadConsistency level = inner instanceof KvRequest.Get g ? g.consistency()
        : inner instanceof KvRequest.Scan s ? s.consistency() : null;
    // A fenced replica (its state diverged) serves no read from its state: it goes to the leader.
    boolean fenced = r.divergedAt != 0;
    if (level == ReadConsistency.STALE && !fenced) {
      return reads.readLocal(r, inner, ReadConsistency.STALE);
    }
    if (level == ReadConsistency.FOLLOWER && !r.isLeader() && !fenced) {
      return reads.followerRead(r, inner, deadline);
    }
    if (r.isLeader()) {
      if (inner instanceof KvRequest.Write w) {
        return node.propose(r, new Command.Write(w.clientId(), w.seq(), w.ackedBelow(), w.op()))
            .thenApply(o -> node.toResponse(r, o));
      }
      return reads.leaderRead(r, inner, level, deadline);
    }
    long leader = r.leader;
    if (leader == RaftConfig.NONE && fenced) {
      // A fenced replica never campaigns, so, restarted in a quiesced partition (whose leader sends
      // no heartbeat), it learns no leader from Raft; the directory names one, and a request
      // forwarded there wakes the partition, whose heartbeats then reach this replica too.
      leader = placement.leaderOf(p);
      leader = leader == node.nodeId() ? RaftConfig.NONE : leader;
    }
    if (leader == RaftConfig.NONE) {
      return done(KvResponse.Failure.of(KvResponse.Code.NO_LEADER, "partition " + p + " has no leader right now"));
    }
    if (!mayForward || config.notLeaderPolicy() == NotLeaderPolicy.REJECT) {
      return done(notLeader(r));
    }
    metrics.forwarded.increment();
    return forward(leader, new KvRequest.ForPartition(p, inner), deadline, inner instanceof KvRequest.Write);
  }

  /**
   * A request for a partition this node hosts no replica of (placement put it elsewhere): forwarded
   * to the node the directory names, as a forwarded request is (served there or refused, never
   * forwarded again). A refusal naming the leader is remembered and retried.
   */
  private CompletableFuture<KvResponse> serveElsewhere(long p, KvRequest inner, long deadline, boolean mayForward) {
    long to = placement.leaderOf(p);
    if (to == 0 || to == node.nodeId() || !mayForward) {
      return done(KvResponse.Failure.of(KvResponse.Code.NO_LEADER, who + " hosts no replica of partition " + p
          + (to == 0 ? " and knows no node that does yet" : "")));
    }
    if (config.notLeaderPolicy() == NotLeaderPolicy.REJECT) {
      return done(KvResponse.Failure.notLeader(p, to, members.getOrDefault(to, "")));
    }
    return forward(to, new KvRequest.ForPartition(p, inner), deadline, inner instanceof KvRequest.Write)
        .thenApply(resp -> {
          if (resp instanceof KvResponse.Failure f && f.code() == KvResponse.Code.NOT_LEADER) {
            placement.hintLeader(p, f.hint());
            return new KvResponse.Failure(KvResponse.Code.NO_LEADER, f.message(), p, 0, "", false);
          }
          return resp;
        });
  }

  KvResponse.Failure notLeader(Replica r) {
    long leader = r.leader;
    return KvResponse.Failure.notLeader(r.groupId, leader, leader == 0 ? "" : members.getOrDefault(leader, ""));
  }

  /**
   * Sends {@code req} to node {@code to} and relays its answer. {@code isWrite}: the request may
   * change something (a write, a partition command, an administrative call), so a failure after
   * the request may have reached {@code to} says its outcome is unknown.
   */
  CompletableFuture<KvResponse> forward(long to, KvRequest req, long deadline, boolean isWrite) {
    Duration budget = Duration.ofNanos(Math.max(1_000_000, deadline - System.nanoTime()));
    return node.request(to, Codec.encodeRequest(req), budget).handle((bytes, e) -> {
      if (e == null) {
        try {
          return Codec.decodeResponse(bytes);
        } catch (IllegalArgumentException bad) {
          // The request reached the node, which answered: a write may have applied. An answer that
          // cannot be read is a lost answer (as a client treats one): retryable, outcome unknown.
          log.warn("{}: undecodable answer from node {} to a forwarded request: {}", who, to, bad.getMessage());
          return new KvResponse.Failure(KvResponse.Code.TIMEOUT, "bad answer from node " + to + ": "
              + bad.getMessage(), 0, 0, "", isWrite);
        }
      }
      Throwable cause = Await.unwrap(e);
      boolean delivered = !(cause instanceof TransportException te && !te.mayHaveBeenDelivered());
      KvResponse.Code code = cause instanceof TimeoutException ? KvResponse.Code.TIMEOUT : KvResponse.Code.NO_LEADER;
      return new KvResponse.Failure(code, "forwarding to node " + to + ": " + cause.getMessage(), 0, 0, "",
          isWrite && delivered);
    });
  }
}
