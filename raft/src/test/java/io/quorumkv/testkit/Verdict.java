package io.quorumkv.testkit;

/** The outcome of {@link LinearizabilityChecker#check(History)}. */
public sealed interface Verdict {

  /** True only for {@link Linearizable}. */
  default boolean isLinearizable() {
    return this instanceof Linearizable;
  }

  /** One paragraph for a person: what was checked, or why it failed. */
  String describe();

  /**
   * Every key's operations have a linearization.
   *
   * @param keys       keys checked
   * @param operations completed or pending operations taken into account
   */
  record Linearizable(int keys, int operations) implements Verdict {
    @Override
    public String describe() {
      return "linearizable: " + operations + " operations on " + keys + " keys";
    }
  }

  /**
   * A key whose operations have no linearization.
   *
   * @param key            the first such key (in key order)
   * @param counterexample the longest linearizable prefix found, the operation that could not
   *                       follow it, and the operations concurrent with that one
   */
  record NotLinearizable(String key, String counterexample) implements Verdict {
    @Override
    public String describe() {
      return "NOT linearizable: " + counterexample;
    }
  }

  /**
   * The search gave up on a key before deciding (too many pending operations for the budget).
   *
   * @param key    the key it gave up on
   * @param reason how far it got
   */
  record Unknown(String key, String reason) implements Verdict {
    @Override
    public String describe() {
      return "unknown: " + reason;
    }
  }
}
