package io.quorumkv.storage;

import java.nio.file.Path;

/** A process that holds a data directory open until its stdin closes (for the lock test). */
final class LockHolder {

  private LockHolder() {}

  /** Argument: the data directory. */
  public static void main(String[] args) throws Exception {
    try (StorageEngine e =
        StorageEngine.openRocksDb(Path.of(args[0]), "c", StorageOptions.defaults(1))) {
      System.out.println(e.groups().isEmpty() ? "READY" : "READY with data");
      System.out.flush();
      while (System.in.read() >= 0) {
        // wait for the parent to close our stdin
      }
    }
  }
}
