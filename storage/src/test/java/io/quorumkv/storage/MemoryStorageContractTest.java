package io.quorumkv.storage;

/** The storage contract on the in-memory engine. */
class MemoryStorageContractTest extends StorageContractTest {

  private final MemoryDisk disk = new MemoryDisk();
  private final MemoryDisk otherDisk = new MemoryDisk();
  private StorageOptions otherOptions;

  @Override
  StorageEngine openEngine(String clusterId, StorageOptions options) {
    return StorageEngine.openInMemory(disk, clusterId, options);
  }

  @Override
  StorageEngine openOtherNode(StorageOptions options) {
    otherOptions = options;
    return StorageEngine.openInMemory(otherDisk, CLUSTER, options);
  }

  @Override
  boolean holdsEverythingInMemory() {
    return true;
  }

  @Override
  boolean syncsTakeTime() {
    return false;
  }

  @Override
  StorageEngine crashAndReopen(StorageEngine engine) {
    disk.crash();
    return open();
  }

  @Override
  StorageEngine crashAndReopenOther(StorageEngine other) {
    otherDisk.crash();
    return track(StorageEngine.openInMemory(otherDisk, CLUSTER, otherOptions));
  }
}
