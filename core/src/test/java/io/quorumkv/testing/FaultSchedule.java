package io.quorumkv.testing;

import java.util.List;
import java.util.stream.Collectors;

/**
 * A fault schedule: the steps {@link ScheduleRunner} applies one after another while clients run.
 * Generated (and shrunk) by {@link FaultSchedules}, or written by hand with {@link #of(Step...)}
 * to replay a failure.
 *
 * @param steps the steps, in order
 */
public record FaultSchedule(List<Step> steps) {

  /** Copies the list. */
  public FaultSchedule {
    steps = List.copyOf(steps);
  }

  /** A schedule of the given steps. */
  public static FaultSchedule of(Step... steps) {
    return new FaultSchedule(List.of(steps));
  }

  /** The steps, comma separated, e.g. {@code [isolate leader, wait 300ms, heal]}. */
  @Override
  public String toString() {
    return steps.stream().map(Step::toString).collect(Collectors.joining(", ", "[", "]"));
  }
}
