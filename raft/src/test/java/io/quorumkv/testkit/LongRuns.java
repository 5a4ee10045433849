package io.quorumkv.testkit;

import net.jqwik.api.lifecycle.AroundPropertyHook;
import net.jqwik.api.lifecycle.PropagationMode;
import net.jqwik.api.lifecycle.PropertyExecutionResult;
import net.jqwik.api.lifecycle.PropertyExecutor;
import net.jqwik.api.lifecycle.PropertyLifecycleContext;

/**
 * A jqwik hook that multiplies every property's tries by {@link #FACTOR} when the build runs with
 * {@code -Dquorumkv.long=true}: the default run stays fast, the long run digs deeper. Use it with
 * {@code @AddLifecycleHook(LongRuns.class)} on a properties class. {@code -Dquorumkv.long.factor=N}
 * sets another factor, for a run between the two (a slow property's 100 times can take hours).
 */
public final class LongRuns implements AroundPropertyHook {

  /** The system property that turns long runs on. */
  public static final String PROPERTY = "quorumkv.long";
  /** jqwik's default number of tries, for properties that do not set theirs. */
  private static final int DEFAULT_TRIES = 1000;
  /** How many times more tries a long run makes. */
  public static final int FACTOR = 100;

  /** The factor of this long run: {@code quorumkv.long.factor}, else {@link #FACTOR}. */
  public static int factor() {
    return Math.max(1, Integer.getInteger(PROPERTY + ".factor", FACTOR));
  }

  /** Whether this is a long run. */
  public static boolean enabled() {
    return Boolean.getBoolean(PROPERTY);
  }

  /** Registered on a class, the hook must reach the properties inside it. */
  @Override
  public PropagationMode propagateTo() {
    return PropagationMode.ALL_DESCENDANTS;
  }

  @Override
  public PropertyExecutionResult aroundProperty(PropertyLifecycleContext context, PropertyExecutor property) {
    if (enabled()) {
      int tries = context.attributes().tries().orElse(DEFAULT_TRIES);
      context.attributes().setTries(tries * factor());
    }
    return property.execute();
  }
}
