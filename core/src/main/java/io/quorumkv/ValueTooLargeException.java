package io.quorumkv;

/** A value is longer than the configured maximum. Rejected before anything was applied. */
public final class ValueTooLargeException extends KvException {
  private static final long serialVersionUID = 1L;

  private final int size;
  private final int max;

  /**
   * @param size the value's length in bytes
   * @param max  the configured maximum
   */
  public ValueTooLargeException(int size, int max) {
    super("value of " + size + " bytes exceeds the maximum of " + max + " bytes (maxValueSize)", false, null);
    this.size = size;
    this.max = max;
  }

  /** The rejected value's length in bytes. */
  public int size() {
    return size;
  }

  /** The configured maximum value length in bytes. */
  public int max() {
    return max;
  }
}
