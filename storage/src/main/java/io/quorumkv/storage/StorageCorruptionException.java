package io.quorumkv.storage;

/**
 * A stored record failed its CRC32C check or could not be decoded. The message names where the
 * record lives (file or column family), the Raft group and the log index or key, so an operator
 * knows what is damaged; storage never returns a value that failed its check.
 */
public final class StorageCorruptionException extends StorageException {
  private static final long serialVersionUID = 1L;

  /** @param message where the corrupt record is and what is wrong with it */
  public StorageCorruptionException(String message) {
    super(message);
  }
}
