package io.quorumkv.testkit;

import java.util.Objects;

/**
 * A fault injected by the nemesis (partition, crash, heal, ...), written with
 * {@code "process":"nemesis"}. Checkers skip these lines; they are there for the person reading
 * a failing history.
 *
 * @param f     what happened, e.g. {@code partition}, {@code crash}, {@code heal}
 * @param value details as text, e.g. {@code [[1,2],[3]]}; may be null
 * @param time  monotonic nanoseconds
 */
public record Event(String f, String value, long time) implements HistoryLine {

  /** The {@code process} field of every nemesis line. */
  public static final String NEMESIS = "nemesis";

  public Event {
    Objects.requireNonNull(f, "f");
  }

  @Override
  public String toJson() {
    StringBuilder out = new StringBuilder(64);
    out.append("{\"process\":\"").append(NEMESIS).append("\",\"type\":\"info\",\"f\":");
    Json.appendString(out, f);
    out.append(",\"value\":");
    Json.appendString(out, value);
    out.append(",\"time\":").append(time).append('}');
    return out.toString();
  }
}
