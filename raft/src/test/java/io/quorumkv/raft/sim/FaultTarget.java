package io.quorumkv.raft.sim;

import java.util.Collection;
import java.util.OptionalLong;
import java.util.Set;
import java.util.SplittableRandom;

/**
 * What a fault {@link Step} acts on: a simulated cluster in virtual time. The single-group
 * {@link SimCluster} is one; core's multi-raft key-value simulation is another, so both run the
 * same generated fault schedules. Every fault is recorded in the cluster's history as a nemesis
 * event.
 */
public interface FaultTarget {

  /** Runs every event due in the next {@code micros} of virtual time. */
  void runFor(long micros);

  /** The node a "leader" step aims at, if any leads now (in a multi-raft cluster: of a fixed group). */
  OptionalLong leader();

  /** The node ids, started or not. */
  Set<Long> nodeIds();

  /** Whether node {@code id} is running. */
  boolean isUp(long id);

  /** Crashes a node: it loses everything it had not synced. */
  void crash(long id);

  /** Restarts a crashed node from its disk. */
  void restart(long id);

  /** Stops node {@code id}'s process for {@code micros} (a long GC pause); then it carries on. */
  void pause(long id, long micros);

  /** Makes every disk sync of node {@code id} take {@code micros} longer; 0 restores it. */
  void slowDisk(long id, long micros);

  /** The network between the nodes (it records the faults it is given in the history). */
  SimNetwork<?> network();

  /** Splits the nodes into groups that cannot talk to each other. */
  default void partition(Collection<? extends Collection<Long>> groups) {
    network().partition(groups, nodeIds());
  }

  /** Cuts the link from {@code from} to {@code to} only. */
  default void cutOneWay(long from, long to) {
    network().cutOneWay(from, to);
  }

  /** Restores every link. */
  default void heal() {
    network().heal();
  }

  /** Sets loss, duplication and delay of the links. */
  default void setFaults(SimNetwork.Faults faults) {
    network().setFaults(faults);
  }

  /** Asks the {@link #leader()} to hand leadership to {@code to}; false without a leader. */
  boolean transferLeadership(long to);

  /** A random source for steps that must choose (e.g. how long each churn round lasts). */
  SplittableRandom choices();
}
