package io.quorumkv.transport;

import java.time.Duration;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.function.DoubleSupplier;
import java.util.function.UnaryOperator;

/**
 * The fault rules of one node (Netty) or one whole network (memory). Rules are an immutable
 * value swapped atomically, so the hot path reads one volatile field and takes no lock.
 */
final class LinkFaults implements FaultInjector {

  /** A directed link. */
  record Link(long from, long to) {}

  /**
   * What happens to one message on a link: dropped, or delivered {@code copies} times after
   * {@code delayNanos}.
   */
  record Fate(boolean drop, int copies, long delayNanos) {
    static final Fate PASS = new Fate(false, 1, 0);
    static final Fate DROP = new Fate(true, 0, 0);
  }

  /** How a link that is not cut treats each message. */
  private record Shaping(double dropRate, double duplicateRate, long delayNanos, long jitterNanos) {
    static final Shaping NONE = new Shaping(0, 0, 0, 0);

    boolean isNone() {
      return equals(NONE);
    }
  }

  private record Rules(List<Set<Long>> partition, Set<Link> blocked, Map<Link, Shaping> shaping) {
    static final Rules NONE = new Rules(List.of(), Set.of(), Map.of());

    boolean isNone() {
      return partition.isEmpty() && blocked.isEmpty() && shaping.isEmpty();
    }
  }

  private final DoubleSupplier random;
  private volatile Rules rules = Rules.NONE;

  /** @param random uniform doubles in [0, 1) for drop, duplicate and jitter decisions */
  LinkFaults(DoubleSupplier random) {
    this.random = Objects.requireNonNull(random, "random");
  }

  /** Whether the link is cut by a partition or a one-way block. */
  boolean isBlocked(long from, long to) {
    Rules r = rules;
    return !r.isNone() && blocked(r, from, to);
  }

  /** Decides the fate of one message on {@code from -> to}. */
  Fate fate(long from, long to) {
    Rules r = rules;
    if (r.isNone()) {
      return Fate.PASS;
    }
    if (blocked(r, from, to)) {
      return Fate.DROP;
    }
    Shaping s = r.shaping.get(new Link(from, to));
    if (s == null) {
      return Fate.PASS;
    }
    if (s.dropRate > 0 && random.getAsDouble() < s.dropRate) {
      return Fate.DROP;
    }
    int copies = s.duplicateRate > 0 && random.getAsDouble() < s.duplicateRate ? 2 : 1;
    long delay = s.delayNanos
        + (s.jitterNanos > 0 ? (long) (random.getAsDouble() * s.jitterNanos) : 0);
    return new Fate(false, copies, delay);
  }

  private static boolean blocked(Rules r, long from, long to) {
    if (r.blocked.contains(new Link(from, to))) {
      return true;
    }
    if (r.partition.isEmpty()) {
      return false;
    }
    for (Set<Long> side : r.partition) {
      if (side.contains(from)) {
        return !side.contains(to);
      }
    }
    return true; // a node in no side is cut off from everyone
  }

  @SafeVarargs
  @SuppressWarnings("varargs") // the array is only read, never stored or handed out
  @Override
  public final synchronized void partition(Set<Long>... sides) {
    Set<Long> seen = new HashSet<>();
    for (Set<Long> side : sides) {
      for (Long id : side) {
        if (!seen.add(id)) {
          throw new IllegalArgumentException("node " + id + " is in two sides of the partition");
        }
      }
    }
    Rules r = rules;
    rules = new Rules(java.util.Arrays.stream(sides).map(Set::copyOf).toList(), r.blocked, r.shaping);
  }

  @Override
  public synchronized void blockOneWay(long from, long to) {
    Rules r = rules;
    Set<Link> blocked = new HashSet<>(r.blocked);
    blocked.add(new Link(from, to));
    rules = new Rules(r.partition, Set.copyOf(blocked), r.shaping);
  }

  @Override
  public void dropRate(long from, long to, double p) {
    shape(from, to, s -> new Shaping(probability(p), s.duplicateRate, s.delayNanos, s.jitterNanos));
  }

  @Override
  public void duplicateRate(long from, long to, double p) {
    shape(from, to, s -> new Shaping(s.dropRate, probability(p), s.delayNanos, s.jitterNanos));
  }

  @Override
  public void delay(long from, long to, Duration delay) {
    shape(from, to, s -> new Shaping(s.dropRate, s.duplicateRate, nanos(delay), s.jitterNanos));
  }

  @Override
  public void reorder(long from, long to, Duration maxJitter) {
    shape(from, to, s -> new Shaping(s.dropRate, s.duplicateRate, s.delayNanos, nanos(maxJitter)));
  }

  private synchronized void shape(long from, long to, UnaryOperator<Shaping> change) {
    Rules r = rules;
    Map<Link, Shaping> shaping = new HashMap<>(r.shaping);
    Link link = new Link(from, to);
    Shaping s = change.apply(shaping.getOrDefault(link, Shaping.NONE));
    if (s.isNone()) {
      shaping.remove(link);
    } else {
      shaping.put(link, s);
    }
    rules = new Rules(r.partition, r.blocked, Map.copyOf(shaping));
  }

  private static double probability(double p) {
    if (!(p >= 0 && p <= 1)) {
      throw new IllegalArgumentException("a rate must be in [0, 1]: " + p);
    }
    return p;
  }

  private static long nanos(Duration d) {
    if (d.isNegative()) {
      throw new IllegalArgumentException("negative duration " + d);
    }
    return d.toNanos();
  }

  @Override
  public synchronized void heal() {
    rules = Rules.NONE;
  }
}
