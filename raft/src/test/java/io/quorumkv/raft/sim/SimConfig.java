package io.quorumkv.raft.sim;

/**
 * Everything that shapes a simulated run besides its schedule. Times are virtual microseconds.
 *
 * @param voters          initial voters, ids 1..voters
 * @param spares          further nodes (ids after the voters) that start outside the group and
 *                        may be added by membership changes
 * @param seed            the one seed every random choice of the run derives from
 * @param tickMicros      length of a Raft tick
 * @param electionTick    {@link io.quorumkv.raft.RaftConfig#electionTick()}
 * @param heartbeatTick   {@link io.quorumkv.raft.RaftConfig#heartbeatTick()}
 * @param maxSizePerMsg   small, so that replication batches split
 * @param maxInflightMsgs small, so that flow control engages
 * @param minSyncMicros   fastest disk sync
 * @param maxSyncMicros   slowest disk sync
 * @param clients         concurrent client processes
 * @param keys            registers the clients use
 * @param thinkMicros     longest pause between a client's operations
 * @param opTimeoutMicros a client records {@code info} after this long without an answer
 * @param maxAttempts     rejections a client accepts before it records {@code fail}
 * @param snapshotEvery   a node snapshots and compacts its log after this many applied entries;
 *                        0 never
 * @param keepEntries     entries kept behind a snapshot for slow followers
 * @param reportWritten   the driver reports each Ready's writes with
 *                        {@link io.quorumkv.raft.RawNode#written} as it issues them (so it applies
 *                        entries before they are durable), and a crash keeps a random prefix of
 *                        its unsynced writes; otherwise it applies only durable entries and a
 *                        crash loses every unsynced write
 * @param sendBudget      entry bytes each node may send each peer per tick, all its AppendEntries
 *                        together ({@link io.quorumkv.raft.SendBudget}); 0: no such bound
 */
public record SimConfig(
    int voters,
    int spares,
    long seed,
    long tickMicros,
    int electionTick,
    int heartbeatTick,
    long maxSizePerMsg,
    int maxInflightMsgs,
    long minSyncMicros,
    long maxSyncMicros,
    int clients,
    int keys,
    long thinkMicros,
    long opTimeoutMicros,
    int maxAttempts,
    int snapshotEvery,
    int keepEntries,
    boolean reportWritten,
    long sendBudget) {

  public SimConfig {
    if (voters < 1 || spares < 0 || voters + spares > 9) {
      throw new IllegalArgumentException("need 1..9 nodes, was " + voters + "+" + spares);
    }
    if (clients < 0 || keys < 1 || minSyncMicros < 0 || maxSyncMicros < minSyncMicros) {
      throw new IllegalArgumentException("bad client or disk settings");
    }
  }

  /** Defaults: 10 ms ticks, election after 10–20 ticks, 6 clients on 3 keys, no snapshots. */
  public static Builder builder(int voters, long seed) {
    return new Builder(voters, seed);
  }

  /** The defaults for {@code voters} nodes and {@code seed}. */
  public static SimConfig defaults(int voters, long seed) {
    return builder(voters, seed).build();
  }

  /** A builder of {@link SimConfig}, starting from the defaults. */
  public static final class Builder {
    private final int voters;
    private final long seed;
    private int spares;
    private int clients = 6;
    private int keys = 3;
    private long thinkMicros = 10_000;
    private long minSyncMicros = 100;
    private long maxSyncMicros = 2_000;
    private int snapshotEvery;
    private int keepEntries = 5;
    private long maxSizePerMsg = 2048;
    private boolean reportWritten;
    private long sendBudget;

    private Builder(int voters, long seed) {
      this.voters = voters;
      this.seed = seed;
    }

    /** See {@link SimConfig#spares()}. */
    public Builder spares(int n) { spares = n; return this; }
    /** See {@link SimConfig#clients()}. */
    public Builder clients(int n) { clients = n; return this; }
    /** See {@link SimConfig#keys()}. */
    public Builder keys(int n) { keys = n; return this; }
    /** See {@link SimConfig#thinkMicros()}. */
    public Builder thinkMicros(long v) { thinkMicros = v; return this; }
    /** See {@link SimConfig#maxSizePerMsg()}. */
    public Builder maxSizePerMsg(long v) { maxSizePerMsg = v; return this; }
    /** Disk syncs take between {@code min} and {@code max} microseconds. */
    public Builder sync(long min, long max) { minSyncMicros = min; maxSyncMicros = max; return this; }
    /** Snapshot and compact every {@code every} applied entries, keeping {@code keep}. */
    public Builder snapshots(int every, int keep) { snapshotEvery = every; keepEntries = keep; return this; }

    /** See {@link SimConfig#reportWritten()}. */
    public Builder reportWritten(boolean v) { reportWritten = v; return this; }

    /** See {@link SimConfig#sendBudget()}. */
    public Builder sendBudget(long bytes) { sendBudget = bytes; return this; }

    /** Builds and validates. */
    public SimConfig build() {
      return new SimConfig(voters, spares, seed, 10_000, 10, 1, maxSizePerMsg, 4, minSyncMicros,
          maxSyncMicros, clients, keys, thinkMicros, 500_000, 8, snapshotEvery, keepEntries, reportWritten,
          sendBudget);
    }
  }
}
