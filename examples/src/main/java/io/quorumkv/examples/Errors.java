package io.quorumkv.examples;

import io.quorumkv.InvalidConfigException;
import io.quorumkv.KvException;
import java.lang.reflect.InvocationTargetException;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;

/** Turns a failure into the one line a person reads on a terminal. */
final class Errors {
  private Errors() {}

  /** The failure without the wrappers futures and reflection put around it. */
  static Throwable unwrap(Throwable t) {
    while ((t instanceof CompletionException || t instanceof ExecutionException
        || t instanceof InvocationTargetException) && t.getCause() != null) {
      t = t.getCause();
    }
    return t;
  }

  /** One line: what failed and, for QuorumKV failures, whether a write may still have happened. */
  static String describe(Throwable failure) {
    Throwable t = unwrap(failure);
    if (t instanceof InvalidConfigException) {
      return "invalid configuration: " + t.getMessage();
    }
    if (t instanceof KvException) {
      return t.getMessage();
    }
    String message = t.getMessage();
    if (message == null || message.isBlank()) {
      Throwable cause = t.getCause();
      return t.getClass().getSimpleName() + (cause == null ? "" : ": " + describe(cause));
    }
    // Our own argument and I/O failures carry complete sentences; others need their type to make sense.
    return t instanceof IllegalArgumentException || t instanceof IllegalStateException
        || t instanceof java.io.UncheckedIOException ? message : t.getClass().getSimpleName() + ": " + message;
  }
}
