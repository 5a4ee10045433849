package io.quorumkv;

import io.quorumkv.testkit.LongRuns;
import net.jqwik.api.lifecycle.AroundPropertyHook;
import net.jqwik.api.lifecycle.PropagationMode;
import net.jqwik.api.lifecycle.PropertyExecutionResult;
import net.jqwik.api.lifecycle.PropertyExecutor;
import net.jqwik.api.lifecycle.PropertyLifecycleContext;

/**
 * Runs a property with a fixed seed in the default build, so that every build (CI included)
 * checks the same generated schedules and a red build always means a change broke one; the long
 * run ({@code -Dquorumkv.long=true}) explores fresh random seeds. Known failures found by fresh
 * seeds are listed in docs/testing.md ("Limits") with their replay commands.
 */
final class FixedSeedUnlessLong implements AroundPropertyHook {

  /** The default build's seed. */
  static final String SEED = "20261126";

  @Override
  public PropagationMode propagateTo() {
    return PropagationMode.ALL_DESCENDANTS;
  }

  @Override
  public PropertyExecutionResult aroundProperty(PropertyLifecycleContext context, PropertyExecutor property) {
    if (!LongRuns.enabled() && context.attributes().seed().isEmpty()) {
      context.attributes().setSeed(SEED);
    }
    return property.execute();
  }
}
