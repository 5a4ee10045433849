package io.quorumkv.testing;

import java.util.stream.Collectors;
import net.jqwik.api.lifecycle.AroundPropertyHook;
import net.jqwik.api.lifecycle.PropagationMode;
import net.jqwik.api.lifecycle.FalsifiedSample;
import net.jqwik.api.lifecycle.PropertyExecutionResult;
import net.jqwik.api.lifecycle.PropertyExecutor;
import net.jqwik.api.lifecycle.PropertyLifecycleContext;

/**
 * A jqwik hook that puts everything needed to read and replay a failed property in its failure
 * message: what broke, the shrunk sample (the schedule), the history file and the seed, with the
 * command line that reruns it. Use it as {@code @AddLifecycleHook(FailureReport.class)} on a
 * properties class or method.
 */
public final class FailureReport implements AroundPropertyHook {

  /** Registered on a class, the hook must reach the properties inside it. */
  @Override
  public PropagationMode propagateTo() {
    return PropagationMode.ALL_DESCENDANTS;
  }

  @Override
  public PropertyExecutionResult aroundProperty(PropertyLifecycleContext context, PropertyExecutor property) {
    PropertyExecutionResult result = property.execute();
    if (result.status() != PropertyExecutionResult.Status.FAILED || result.throwable().isEmpty()) {
      return result;
    }
    Throwable shrunk = result.shrunkSample().flatMap(FalsifiedSample::falsifyingError)
        .orElse(result.throwable().get());
    return result.mapToFailed(new AssertionError(describe(context.extendedLabel(), result), shrunk));
  }

  /** The report of a failed property: problem, shrunk sample, history, seed and how to rerun it. */
  static String describe(String property, PropertyExecutionResult result) {
    Throwable t = result.shrunkSample().flatMap(FalsifiedSample::falsifyingError)
        .orElse(result.throwable().orElseThrow());
    String sample = result.shrunkSample().map(s -> s.parameters().stream().map(String::valueOf)
            .collect(Collectors.joining(", ")))
        .or(() -> result.falsifiedParameters().map(p -> p.stream().map(String::valueOf)
            .collect(Collectors.joining(", "))))
        .filter(text -> !text.isEmpty())
        .orElse("(no generated parameters)");
    String seed = result.seed().orElse("?");
    StringBuilder out = new StringBuilder();
    out.append("property ").append(property).append(" failed after ").append(result.countTries()).append(" tries\n");
    out.append("  problem: ").append(t instanceof ScheduleFailure ? t.getMessage() : String.valueOf(t)).append('\n');
    out.append("  shrunk sample: ").append(sample).append('\n');
    out.append("  seed: ").append(seed).append("  (rerun: -Djqwik.seed=").append(seed).append(')');
    return out.toString();
  }
}
