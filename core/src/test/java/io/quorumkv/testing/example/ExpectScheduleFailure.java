package io.quorumkv.testing.example;

import io.quorumkv.testing.ScheduleFailure;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import net.jqwik.api.lifecycle.AroundPropertyHook;
import net.jqwik.api.lifecycle.PropagationMode;
import net.jqwik.api.lifecycle.PropertyExecutionResult;
import net.jqwik.api.lifecycle.PropertyExecutor;
import net.jqwik.api.lifecycle.PropertyLifecycleContext;

/**
 * Inverts a property that demonstrates a bug: it passes only if the property failed with a
 * {@link ScheduleFailure} whose report (from {@code FailureReport}, which must run inside this
 * hook) names the shrunk schedule, the seed and an existing history file. The report is written
 * to {@code target/quorumkv-histories/stale-read-counter-report.txt}.
 */
public final class ExpectScheduleFailure implements AroundPropertyHook {

  /** Registered on a class, the hook must reach the properties inside it. */
  @Override
  public PropagationMode propagateTo() {
    return PropagationMode.ALL_DESCENDANTS;
  }

  static final Path REPORT = Path.of("target", "quorumkv-histories", "stale-read-counter-report.txt");

  /** Outside {@code FailureReport}, whose proximity is the default 0, so that it sees its report. */
  @Override
  public int aroundPropertyProximity() {
    return -10;
  }

  @Override
  public PropertyExecutionResult aroundProperty(PropertyLifecycleContext context, PropertyExecutor property) {
    PropertyExecutionResult result = property.execute();
    if (result.status() != PropertyExecutionResult.Status.FAILED) {
      return result.mapToFailed("expected the kit to catch the buggy counter, but the property "
          + result.status().name().toLowerCase(java.util.Locale.ROOT));
    }
    Throwable report = result.throwable().orElseThrow();
    ScheduleFailure failure = null;
    for (Throwable t = report; t != null; t = t.getCause()) {
      if (t instanceof ScheduleFailure f) {
        failure = f;
      }
    }
    String text = String.valueOf(report.getMessage());
    if (failure == null || !Files.isRegularFile(failure.history()) || !text.contains("seed: ")
        || !text.contains(failure.schedule().toString()) || !text.contains(failure.history().toString())) {
      return result.mapToFailed(new AssertionError("the failure does not report schedule, seed and history", report));
    }
    try {
      Files.createDirectories(REPORT.getParent());
      Files.writeString(REPORT, text + "\n");
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return result.mapToSuccessful();
  }
}
