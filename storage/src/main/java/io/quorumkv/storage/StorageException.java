package io.quorumkv.storage;

/** Base class of every failure the storage module reports. Unchecked: callers cannot fix I/O. */
public class StorageException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  /** @param message what failed, naming the group, index or file involved */
  public StorageException(String message) {
    super(message);
  }

  /**
   * @param message what failed
   * @param cause   the underlying error
   */
  public StorageException(String message, Throwable cause) {
    super(message, cause);
  }
}
