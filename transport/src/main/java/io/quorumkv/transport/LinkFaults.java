package io.quorumkv.transport;

import java.time.Duration;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.function.DoubleSupplier;

/**
 * The fault rules of one node (Netty) or one whole network (memory). Rules are an immutable
 * value swapped atomically, so the hot path reads one volatile field and takes no lock.
 */
final class LinkFaults implements FaultInjector {

  /** A directed link. */
  record Link(long from, long to) {}

  /** What happens to one message on a link. */
  record Fate(boolean drop, long delayNanos) {
    static final Fate PASS = new Fate(false, 0);
    static final Fate DROP = new Fate(true, 0);
  }

  private record Rules(
      List<Set<Long>> partition, Set<Link> blocked, Map<Link, Double> dropRates,
      Map<Link, Long> delays) {
    static final Rules NONE = new Rules(List.of(), Set.of(), Map.of(), Map.of());

    boolean isNone() {
      return partition.isEmpty() && blocked.isEmpty() && dropRates.isEmpty() && delays.isEmpty();
    }
  }

  private final DoubleSupplier random;
  private volatile Rules rules = Rules.NONE;

  /** @param random uniform doubles in [0, 1) for drop decisions */
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
    Link link = new Link(from, to);
    Double p = r.dropRates.get(link);
    if (p != null && random.getAsDouble() < p) {
      return Fate.DROP;
    }
    Long delay = r.delays.get(link);
    return delay == null ? Fate.PASS : new Fate(false, delay);
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
    rules = new Rules(List.of(sides).stream().map(Set::copyOf).toList(), r.blocked, r.dropRates,
        r.delays);
  }

  @Override
  public synchronized void blockOneWay(long from, long to) {
    Rules r = rules;
    Set<Link> blocked = new HashSet<>(r.blocked);
    blocked.add(new Link(from, to));
    rules = new Rules(r.partition, Set.copyOf(blocked), r.dropRates, r.delays);
  }

  @Override
  public synchronized void dropRate(long from, long to, double p) {
    if (!(p >= 0 && p <= 1)) {
      throw new IllegalArgumentException("drop rate must be in [0, 1]: " + p);
    }
    Rules r = rules;
    Map<Link, Double> rates = new HashMap<>(r.dropRates);
    if (p == 0) {
      rates.remove(new Link(from, to));
    } else {
      rates.put(new Link(from, to), p);
    }
    rules = new Rules(r.partition, r.blocked, Map.copyOf(rates), r.delays);
  }

  @Override
  public synchronized void delay(long from, long to, Duration delay) {
    if (delay.isNegative()) {
      throw new IllegalArgumentException("negative delay " + delay);
    }
    Rules r = rules;
    Map<Link, Long> delays = new HashMap<>(r.delays);
    if (delay.isZero()) {
      delays.remove(new Link(from, to));
    } else {
      delays.put(new Link(from, to), delay.toNanos());
    }
    rules = new Rules(r.partition, r.blocked, r.dropRates, Map.copyOf(delays));
  }

  @Override
  public synchronized void heal() {
    rules = Rules.NONE;
  }
}
