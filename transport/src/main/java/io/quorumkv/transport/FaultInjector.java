package io.quorumkv.transport;

import java.time.Duration;
import java.util.Set;

/**
 * Drops, delays or blocks traffic between chosen nodes, for fault-injection tests. Rules are
 * about directed links {@code from -> to}.
 *
 * <p>In a {@link MemoryNetwork} one set of rules governs the whole network. A
 * {@link NettyTransport} has rules of its own and applies those that concern it: blocks and
 * partitions at both ends of a link (a receiver told {@code block 1 2} discards what node 1
 * still sends it), drop and duplicate rates, delays and reordering at the sending end only (so
 * that they are not applied twice). In a multi-process cluster, give every node the same rules; core exposes
 * {@link #execute(String)} through an admin request for that.
 *
 * <p>Faults apply to Raft messages and peer requests (and their responses), except that only
 * Raft messages are duplicated. Snapshot transfers
 * honour blocks and partitions at the sender (a blocked transfer stalls, then fails after its
 * stall timeout) but not drop rates or delays. Requests from {@link TransportClient}s are never
 * affected. Connections stay open under every rule: a healed link works at once.
 */
public interface FaultInjector {

  /**
   * Splits the cluster: nodes in different sets cannot talk to each other in either direction.
   * Nodes not named in any set are cut off from everyone. Replaces earlier partitions.
   */
  @SuppressWarnings("unchecked")
  void partition(Set<Long>... sides);

  /** Drops everything {@code from} sends to {@code to} (but not the reverse). */
  void blockOneWay(long from, long to);

  /** Drops each message on {@code from -> to} with probability {@code p} (a flaky link). */
  void dropRate(long from, long to, double p);

  /** Delivers each message on {@code from -> to} twice with probability {@code p}. */
  void duplicateRate(long from, long to, double p);

  /** Delays every message on {@code from -> to} by {@code delay}, keeping their order. */
  void delay(long from, long to, Duration delay);

  /**
   * Delays each message on {@code from -> to} by a further random time up to
   * {@code maxJitter}, so that later messages overtake earlier ones.
   */
  void reorder(long from, long to, Duration maxJitter);

  /** Removes every rule. */
  void heal();

  /**
   * Applies one rule written as text, so another process can send it in an admin request:
   * {@code "partition 1,2 3"} (sides separated by spaces, members by commas),
   * {@code "block 1 2"}, {@code "drop 1 2 0.25"}, {@code "duplicate 1 2 0.1"},
   * {@code "delay 1 2 150"} and {@code "reorder 1 2 50"} (milliseconds), {@code "heal"}.
   *
   * @throws IllegalArgumentException naming what is wrong with {@code command}
   */
  default void execute(String command) {
    FaultCommands.execute(this, command);
  }
}
