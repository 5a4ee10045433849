package io.quorumkv.testkit;

import net.jqwik.api.lifecycle.AroundPropertyHook;
import net.jqwik.api.lifecycle.PropertyExecutionResult;
import net.jqwik.api.lifecycle.PropertyExecutor;
import net.jqwik.api.lifecycle.PropertyLifecycleContext;

/**
 * A jqwik hook that multiplies every property's tries by {@link #FACTOR} when the build runs with
 * {@code -Dquorumkv.long=true}: the default run stays fast, the long run digs deeper. Use it with
 * {@code @AddLifecycleHook(LongRuns.class)} on a properties class.
 */
public final class LongRuns implements AroundPropertyHook {

  /** The system property that turns long runs on. */
  public static final String PROPERTY = "quorumkv.long";
  /** How many times more tries a long run makes. */
  public static final int FACTOR = 100;

  /** Whether this is a long run. */
  public static boolean enabled() {
    return Boolean.getBoolean(PROPERTY);
  }

  @Override
  public PropertyExecutionResult aroundProperty(PropertyLifecycleContext context, PropertyExecutor property) {
    if (enabled()) {
      context.attributes().tries().ifPresent(t -> context.attributes().setTries(t * FACTOR));
    }
    return property.execute();
  }
}
