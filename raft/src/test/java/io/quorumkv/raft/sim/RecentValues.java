package io.quorumkv.raft.sim;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * The last few values clients saw or wrote per key, so that a generated compare-and-set expects a
 * value the register may really hold (and so succeeds often enough to matter).
 */
public final class RecentValues {

  private static final int KEEP = 4;
  private final Map<String, List<String>> recent = new HashMap<>();

  /** Remembers that {@code key} held {@code value} (null: absent, not remembered). */
  public void remember(String key, String value) {
    if (value == null) {
      return;
    }
    List<String> values = recent.computeIfAbsent(key, k -> new ArrayList<>());
    values.add(value);
    if (values.size() > KEEP) {
      values.remove(0);
    }
  }

  /** One of the last values of {@code key}, chosen with {@code random}; null if none. */
  public String any(String key, SplittableRandom random) {
    List<String> values = recent.get(key);
    return values == null || values.isEmpty() ? null : values.get(random.nextInt(values.size()));
  }

  /** The last value of {@code key}; null if none. */
  public String last(String key) {
    List<String> values = recent.get(key);
    return values == null || values.isEmpty() ? null : values.get(values.size() - 1);
  }
}
