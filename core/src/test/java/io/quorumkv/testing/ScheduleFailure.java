package io.quorumkv.testing;

import java.nio.file.Path;

/**
 * A run of {@link ScheduleRunner} found a problem: a history that is not linearizable, a cluster
 * that did not recover after the faults ended, a client that threw something unexpected, or a
 * failed check of the caller's own. The message names the schedule and the history file, which is
 * always written for a failure.
 */
public final class ScheduleFailure extends AssertionError {

  private final transient FaultSchedule schedule;
  private final transient Path history;

  ScheduleFailure(String problem, FaultSchedule schedule, Path history, Throwable cause) {
    super(problem + "\n  schedule: " + schedule + "\n  history:  " + history, cause);
    this.schedule = schedule;
    this.history = history;
  }

  /** The schedule that was running. */
  public FaultSchedule schedule() {
    return schedule;
  }

  /** The history file (JSON Lines, nemesis events included). */
  public Path history() {
    return history;
  }
}
