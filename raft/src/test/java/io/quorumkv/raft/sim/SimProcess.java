package io.quorumkv.raft.sim;

/** One simulated server process, as the fault steps see it (see {@link FaultTarget}). */
public interface SimProcess {

  /** Whether the process runs. */
  boolean isUp();

  /** Whether a crashed process may be started again (it ran before and was not removed). */
  boolean restartable();

  /** Starts the process from what its disk holds. */
  void start();

  /** Stops the process; it loses everything it had not synced. */
  void crash();

  /** Stops the process for {@code micros} (a long GC pause); then it carries on. */
  void pause(long micros);

  /** When the process resumes from its pause (the past if it is not paused). */
  long pausedUntil();

  /** Every disk sync from now on takes {@code micros} longer (0 restores the disk). */
  void slowDisk(long micros);
}
