package io.quorumkv;

/** A key is longer than the configured maximum. Rejected before anything was applied. */
public final class KeyTooLargeException extends KvException {
  private static final long serialVersionUID = 1L;

  private final int size;
  private final int max;

  /**
   * @param size the key's length in bytes
   * @param max  the configured maximum
   */
  public KeyTooLargeException(int size, int max) {
    super("key of " + size + " bytes exceeds the maximum of " + max + " bytes (maxKeySize)", false, null);
    this.size = size;
    this.max = max;
  }

  /** The rejected key's length in bytes. */
  public int size() {
    return size;
  }

  /** The configured maximum key length in bytes. */
  public int max() {
    return max;
  }
}
