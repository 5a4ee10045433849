package io.quorumkv.testkit;

/**
 * One line of a history file: a client operation event ({@link Op}) or a fault event
 * ({@link Event}). See {@link History} for the file format.
 */
public sealed interface HistoryLine permits Op, Event {

  /** Monotonic nanoseconds (virtual in the simulator); informational, see {@link History}. */
  long time();

  /** This line as one JSON object, without the trailing newline. */
  String toJson();
}
