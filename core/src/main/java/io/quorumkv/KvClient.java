package io.quorumkv;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * A client for processes that are not cluster members (the CLI, a benchmark driver, a test
 * suite). It talks to one or more nodes over the transport's client connection; the node that
 * receives a request routes it to the partition's leader (or, if that node rejects, the client
 * follows the leader hint). Same operations, consistency levels, deadlines, retries and
 * exactly-once sessions as an embedded {@link KvNode}: the client owns its session, so a write
 * retried through another node after a timeout still applies at most once.
 *
 * <pre>{@code
 * try (KvClient client = KvClient.builder()
 *     .addresses("127.0.0.1:7001", "127.0.0.1:7002", "127.0.0.1:7003")
 *     .clusterId("orders")
 *     .build()) {
 *   client.put("k", "v");
 * }
 * }</pre>
 *
 * <p>Thread-safe. Connections are opened lazily and re-opened after failures.
 */
public final class KvClient extends FrontendStore implements KvAdmin, AutoCloseable {

  private final Config config;
  private final RemoteExecutor executor;
  private final KvFrontend frontend;

  private KvClient(Config config, RemoteExecutor.Connector connector) {
    this.config = config;
    this.executor = new RemoteExecutor(config, connector);
    this.frontend = new KvFrontend(config.maxKeySize(), config.maxValueSize(), executor);
  }

  /** A builder; at least one address is required. */
  public static Builder builder() {
    return new Builder();
  }

  /** Closes every connection and fails pending calls with {@link NodeClosedException}. Idempotent. */
  @Override
  public void close() {
    frontend.closeAll("the client was closed");
    executor.close();
  }

  /** The route table (tests). */
  ClientRoutes routes() {
    return executor.routes();
  }

  /** The coalescer of this client's gets and writes into multis (tests, benchmarks). */
  RequestCoalescer coalescer() {
    return executor.coalescer();
  }

  @Override
  KvFrontend frontend() {
    return frontend;
  }

  @Override
  Duration timeout() {
    return config.requestTimeout();
  }

  /**
   * The status as seen by the node at {@code address} (one of the configured addresses or any
   * member's advertised address), for tools that want every node's view.
   */
  public ClusterStatus status(String address) {
    return executor.statusOf(address, config.requestTimeout());
  }

  /**
   * A client's validated configuration.
   *
   * @param addresses      nodes to contact, {@code host:port}, tried in order then round-robin (with the
   *                       members the route table names that are not among them, unless only one
   *                       address is given: such a client talks to that node only)
   * @param clusterId      the cluster's name; nodes of another cluster are refused
   * @param requestTimeout the default deadline of every call
   * @param maxKeySize     keys longer than this are rejected locally (the nodes check again)
   * @param maxValueSize   values longer than this are rejected locally (the nodes check again)
   */
  record Config(List<String> addresses, String clusterId, Duration requestTimeout,
      int maxKeySize, int maxValueSize) {
    Config {
      addresses = List.copyOf(addresses);
    }
  }

  /** Builds a {@link KvClient}. */
  public static final class Builder {
    private final List<String> addresses = new ArrayList<>();
    private String clusterId = "quorumkv";
    private Duration requestTimeout = Duration.ofSeconds(5);
    private int maxKeySize = 4 << 10;
    private int maxValueSize = 1 << 20;
    private RemoteExecutor.Connector connector;

    private Builder() {}

    /** Adds node addresses ({@code host:port}) to contact. At least one is required. */
    public Builder addresses(String... hostPorts) {
      addresses.addAll(List.of(hostPorts));
      return this;
    }

    /** Adds node addresses ({@code host:port}) to contact. */
    public Builder addresses(List<String> hostPorts) {
      addresses.addAll(hostPorts);
      return this;
    }

    /** The cluster's name; default {@code quorumkv}. */
    public Builder clusterId(String v) { clusterId = v; return this; }

    /** The default deadline of every call; default 5 s. */
    public Builder requestTimeout(Duration v) { requestTimeout = v; return this; }

    /** The largest key accepted locally; default 4 KiB (match the nodes' setting). */
    public Builder maxKeySize(int v) { maxKeySize = v; return this; }

    /** The largest value accepted locally; default 1 MiB (match the nodes' setting). */
    public Builder maxValueSize(int v) { maxValueSize = v; return this; }

    /** Test hook: how the client reaches nodes (default: the transport's client connection). */
    Builder connector(RemoteExecutor.Connector c) { connector = c; return this; }

    /**
     * Validates the configuration and creates the client. Connections open on first use.
     *
     * @throws InvalidConfigException naming the first wrong field
     */
    public KvClient build() {
      if (addresses.isEmpty()) {
        throw new InvalidConfigException("addresses", "at least one node address is required");
      }
      for (int i = 0; i < addresses.size(); i++) {
        HostPort.parse("addresses[" + i + "]", addresses.get(i));
      }
      if (clusterId == null || clusterId.isEmpty()) {
        throw new InvalidConfigException("clusterId", "must be set");
      }
      if (requestTimeout == null || requestTimeout.isNegative() || requestTimeout.isZero()) {
        throw new InvalidConfigException("requestTimeout", "must be a positive duration, was " + requestTimeout);
      }
      if (maxKeySize < 1) {
        throw new InvalidConfigException("maxKeySize", "must be positive, was " + maxKeySize);
      }
      if (maxValueSize < 0) {
        throw new InvalidConfigException("maxValueSize", "must not be negative, was " + maxValueSize);
      }
      Config config = new Config(addresses, clusterId, requestTimeout, maxKeySize, maxValueSize);
      return new KvClient(config, connector != null ? connector : RemoteExecutor.transportConnector(config));
    }
  }
}
