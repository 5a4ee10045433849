package io.quorumkv;

import java.time.Duration;
import java.util.List;
import java.util.Set;

/**
 * A network fault to inject into a node's transport, for fault-injection tests (the Jepsen suite
 * partitions real processes with it). Rules are about directed links {@code from -> to}; a node
 * applies the rules concerning its own inbound and outbound traffic, so a test tells every node
 * the same rule ({@link KvAdmin#injectFault(long, Fault)} once per node). Client connections
 * ({@link KvClient}) are never affected.
 */
public sealed interface Fault {

  /**
   * Nodes in different sides cannot talk to each other in either direction; nodes in no side are
   * cut off from everyone. Replaces earlier partitions.
   */
  record Partition(List<Set<Long>> sides) implements Fault {
    /** Checks and copies the fields. */
    public Partition {
      sides = sides.stream().map(Set::copyOf).toList();
    }
  }

  /** Drop everything {@code from} sends to {@code to} (not the reverse). */
  record BlockOneWay(long from, long to) implements Fault {}

  /** Drop each message on {@code from -> to} with {@code probability} in [0, 1]. */
  record DropRate(long from, long to, double probability) implements Fault {
    /** Checks and copies the fields. */
    public DropRate {
      if (!(probability >= 0 && probability <= 1)) {
        throw new IllegalArgumentException("probability must be in [0, 1], was " + probability);
      }
    }
  }

  /** Delay every message on {@code from -> to} by {@code delay}, keeping their order. */
  record Delay(long from, long to, Duration delay) implements Fault {}

  /** Remove every rule. */
  record Heal() implements Fault {}
}
