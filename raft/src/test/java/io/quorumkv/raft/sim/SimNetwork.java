package io.quorumkv.raft.sim;

import java.util.Collection;
import java.util.HashSet;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.function.BiConsumer;
import java.util.function.Consumer;
import java.util.function.Predicate;
import java.util.function.ToLongFunction;
import java.util.stream.Collectors;

/**
 * The network between the simulated nodes: every Raft message goes through here and may be
 * dropped, delayed, duplicated or reordered, or cut by a partition.
 *
 * <p>A link is cut in one direction at a time, so a partition cuts both directions between
 * groups and a one-way partition cuts one. A cut is checked when the message arrives, so the
 * messages already in flight across a new partition are lost too.
 *
 * @param <M> what travels: a {@link io.quorumkv.raft.Message} in the single-group simulator, a
 *            message tagged with its group in a multi-raft one (one link per node pair carries
 *            every group, as the real transport's one connection per peer does)
 */
public final class SimNetwork<M> {

  /**
   * How the links behave while they are up.
   *
   * @param dropPercent      chance a message is lost
   * @param duplicatePercent chance a message is delivered twice (each copy delayed on its own)
   * @param minDelay         fastest delivery, virtual microseconds
   * @param maxDelay         slowest delivery; a wide range reorders messages
   */
  public record Faults(int dropPercent, int duplicatePercent, long minDelay, long maxDelay) {

    /** A healthy LAN: no loss, 0.1–1 ms. */
    public static final Faults NONE = new Faults(0, 0, 100, 1_000);

    public Faults {
      if (dropPercent < 0 || dropPercent > 100 || duplicatePercent < 0 || duplicatePercent > 100) {
        throw new IllegalArgumentException("percentages must be in [0, 100]");
      }
      if (minDelay < 0 || maxDelay < minDelay) {
        throw new IllegalArgumentException("need 0 <= minDelay <= maxDelay");
      }
    }
  }

  private final EventQueue events;
  private final SplittableRandom random;
  private final ToLongFunction<M> from;
  private final ToLongFunction<M> to;
  private final Predicate<M> reportsLoss;
  private final Consumer<M> deliver;
  private final Consumer<M> cutOff;
  private final Consumer<M> snapshotLost;
  /** Cut directed links, encoded by {@link #link}. */
  private final Set<Long> cut = new HashSet<>();
  private Faults faults = Faults.NONE;
  private BiConsumer<String, String> nemesis = (f, value) -> { };
  private Predicate<M> dropIf = m -> false;
  private long sent;
  private long dropped;

  /**
   * @param from         the sending node of a message
   * @param to           the receiving node of a message
   * @param reportsLoss  whether losing a message at random is reported to its sender (an
   *                     InstallSnapshot: a snapshot is streamed over a connection that
   *                     acknowledges it; other random losses are silent)
   * @param deliver      called with each message that arrives
   * @param cutOff       called with each message lost to a cut link, as a transport reports a
   *                     failed connection
   * @param snapshotLost called with each message lost at random that {@code reportsLoss}
   */
  public SimNetwork(EventQueue events, SplittableRandom random, ToLongFunction<M> from, ToLongFunction<M> to,
      Predicate<M> reportsLoss, Consumer<M> deliver, Consumer<M> cutOff, Consumer<M> snapshotLost) {
    this.events = events;
    this.random = random;
    this.from = from;
    this.to = to;
    this.reportsLoss = reportsLoss;
    this.deliver = deliver;
    this.cutOff = cutOff;
    this.snapshotLost = snapshotLost;
  }

  private static long link(long from, long to) {
    return (from << 32) | to;
  }

  /**
   * Records every fault set from now on with {@code nemesis(f, value)}, e.g. a history's nemesis
   * events ({@code partition}, {@code cut-one-way}, {@code heal}, {@code faults}).
   */
  public void recordFaults(BiConsumer<String, String> nemesis) {
    this.nemesis = nemesis;
  }

  /** Sets how the links behave from now on (messages in flight keep their delay). */
  public void setFaults(Faults faults) {
    nemesis.accept("faults", faults.toString());
    this.faults = faults;
  }

  /**
   * Splits the nodes into groups that cannot talk to each other; replaces any earlier cut.
   * Nodes in no group are cut off from everyone.
   */
  public void partition(Collection<? extends Collection<Long>> groups, Collection<Long> allNodes) {
    nemesis.accept("partition", groups.stream()
        .map(g -> g.stream().sorted().map(String::valueOf).collect(Collectors.joining(",", "[", "]")))
        .collect(Collectors.joining(",", "[", "]")));
    cut.clear();
    for (long a : allNodes) {
      for (long b : allNodes) {
        if (a != b && !together(groups, a, b)) {
          cut.add(link(a, b));
        }
      }
    }
  }

  private static boolean together(Collection<? extends Collection<Long>> groups, long a, long b) {
    for (Collection<Long> g : groups) {
      if (g.contains(a) && g.contains(b)) {
        return true;
      }
    }
    return false;
  }

  /** Cuts the link from {@code from} to {@code to} only; the other direction keeps working. */
  public void cutOneWay(long from, long to) {
    nemesis.accept("cut-one-way", from + "->" + to);
    cut.add(link(from, to));
  }

  /** Restores every link (a {@link #dropIf} filter stays). */
  public void heal() {
    nemesis.accept("heal", null);
    cut.clear();
  }

  /**
   * Loses every message {@code filter} accepts, on top of the other faults: the scalpel of
   * scenario tests that need one particular message lost. {@code m -> false} removes it.
   */
  public void dropIf(Predicate<M> filter) {
    dropIf = filter;
  }

  /** Whether messages from {@code from} to {@code to} are currently lost. */
  public boolean isCut(long from, long to) {
    return cut.contains(link(from, to));
  }

  /** Messages handed to the network, and how many of them it lost. */
  public long sent() {
    return sent;
  }

  /** Messages lost, at random or to a cut link. */
  public long dropped() {
    return dropped;
  }

  /** Sends one message; it arrives later, maybe twice, or never. */
  public void send(M m) {
    sent++;
    if (dropIf.test(m) || (faults.dropPercent() > 0 && random.nextInt(100) < faults.dropPercent())) {
      dropped++;
      if (reportsLoss.test(m)) {
        events.after(faults.maxDelay(), () -> snapshotLost.accept(m));
      }
      return;
    }
    int copies = faults.duplicatePercent() > 0 && random.nextInt(100) < faults.duplicatePercent() ? 2 : 1;
    for (int i = 0; i < copies; i++) {
      long delay = faults.minDelay() + (faults.maxDelay() == faults.minDelay()
          ? 0 : random.nextLong(faults.maxDelay() - faults.minDelay() + 1));
      events.after(delay, () -> {
        if (isCut(from.applyAsLong(m), to.applyAsLong(m))) {
          dropped++;
          cutOff.accept(m);
        } else {
          deliver.accept(m);
        }
      });
    }
  }
}
