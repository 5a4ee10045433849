package io.quorumkv.raft.sim;

import java.util.Collection;
import java.util.Map;
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

  /** The server processes by node id, started or not. */
  Map<Long, ? extends SimProcess> processes();

  /** Records a fault (or a note for the reader) in the history as a nemesis event. */
  void note(String f, String value);

  /** The node ids, started or not. */
  default Set<Long> nodeIds() {
    return processes().keySet();
  }

  /** Whether node {@code id} is running. */
  default boolean isUp(long id) {
    return processes().get(id).isUp();
  }

  /** Crashes a node: it loses everything it had not synced. */
  default void crash(long id) {
    SimProcess n = processes().get(id);
    if (n != null && n.isUp()) {
      note("crash", Long.toString(id));
      n.crash();
    }
  }

  /** Restarts a crashed node from its disk (a node never started or removed stays down). */
  default void restart(long id) {
    SimProcess n = processes().get(id);
    if (n != null && !n.isUp() && n.restartable()) {
      note("restart", Long.toString(id));
      n.start();
    }
  }

  /** Restarts every crashed node. */
  default void restartAll() {
    for (long id : nodeIds()) {
      restart(id);
    }
  }

  /** Stops node {@code id}'s process for {@code micros} (a long GC pause); then it carries on. */
  default void pause(long id, long micros) {
    SimProcess n = processes().get(id);
    if (n != null && n.isUp()) {
      note("pause", id + " for " + micros / 1000 + "ms");
      n.pause(micros);
    }
  }

  /** When the last paused process resumes (the past if none is paused). */
  default long pausesEnd() {
    return processes().values().stream().mapToLong(SimProcess::pausedUntil).max().orElse(0);
  }

  /** Makes every disk sync of node {@code id} take {@code micros} longer; 0 restores it. */
  default void slowDisk(long id, long micros) {
    SimProcess n = processes().get(id);
    if (n != null) {
      note("slow-disk", id + " +" + micros / 1000 + "ms");
      n.slowDisk(micros);
    }
  }

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
