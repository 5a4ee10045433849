package io.quorumkv.storage;

/**
 * The engine hit an I/O error it cannot prove harmless (a failed fsync, a full disk) and went into
 * the failed state: every later write throws this exception, so nothing written after the failure
 * can ever be acknowledged. Fail-fast is deliberate: after a failed fsync the kernel may have
 * dropped dirty pages, and retrying would acknowledge data that is not on disk. The node must be
 * restarted (and recovers from what is durable).
 */
public final class StorageFailedException extends StorageException {
  private static final long serialVersionUID = 1L;

  /**
   * @param message what the caller was doing
   * @param cause   the failure that put the engine into the failed state
   */
  public StorageFailedException(String message, Throwable cause) {
    super(message, cause);
  }
}
