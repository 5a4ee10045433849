package io.quorumkv.jepsen;

import java.util.Locale;

/** Formats run-relative nanoseconds for people. */
final class Millis {
  private Millis() {}

  /** e.g. {@code 12.345s}. */
  static String of(long nanos) {
    return String.format(Locale.ROOT, "%.3fs", nanos / 1e9);
  }
}
