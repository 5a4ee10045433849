package io.quorumkv.jepsen;

import java.util.ArrayList;
import java.util.List;

/**
 * What one checker concluded about one history.
 *
 * @param name     which check, e.g. {@code register LINEARIZABLE} or {@code bank}
 * @param verdict  valid, invalid, or unknown (the checker gave up)
 * @param summary  one line of counts for a person
 * @param problems the anomalies found, most telling first, at most a few dozen
 * @param history  the history file checked (relative to the run's folder), or null
 */
record CheckResult(String name, Verdict verdict, String summary, List<String> problems, String history) {

  /** A checker's conclusion. */
  enum Verdict { VALID, INVALID, UNKNOWN }

  /** How many problems a checker lists before it just counts. */
  static final int MAX_PROBLEMS = 20;

  CheckResult {
    problems = List.copyOf(problems);
  }

  boolean valid() {
    return verdict == Verdict.VALID;
  }

  CheckResult withHistory(String file) {
    return new CheckResult(name, verdict, summary, problems, file);
  }

  /** This result with {@code problem} first among its problems, so invalid. */
  CheckResult withProblem(String problem) {
    List<String> all = new ArrayList<>(problems.size() + 1);
    all.add(problem);
    all.addAll(problems);
    return new CheckResult(name, Verdict.INVALID, summary, all, history);
  }

  /** Valid when {@code problems} is empty. */
  static CheckResult of(String name, String summary, List<String> problems) {
    return new CheckResult(name, problems.isEmpty() ? Verdict.VALID : Verdict.INVALID, summary, problems, null);
  }

  /** Adds {@code problem} to {@code problems} unless it already holds {@link #MAX_PROBLEMS}. */
  static void note(List<String> problems, String problem) {
    if (problems.size() < MAX_PROBLEMS) {
      problems.add(problem);
    }
  }
}
