package io.quorumkv.storage;

import java.nio.file.Path;
import org.junit.jupiter.api.io.TempDir;

/** The storage contract on the RocksDB engine. */
class RocksDbStorageContractTest extends StorageContractTest {

  @TempDir Path dir;
  private StorageOptions otherOptions;

  @Override
  StorageEngine openEngine(String clusterId, StorageOptions options) {
    return StorageEngine.openRocksDb(dir.resolve("node"), clusterId, options);
  }

  @Override
  StorageEngine openOtherNode(StorageOptions options) {
    otherOptions = options;
    return StorageEngine.openRocksDb(dir.resolve("other"), CLUSTER, options);
  }

  @Override
  StorageEngine crashAndReopen(StorageEngine engine) {
    engine.close();
    return open();
  }

  @Override
  StorageEngine crashAndReopenOther(StorageEngine other) {
    other.close();
    return track(StorageEngine.openRocksDb(dir.resolve("other"), CLUSTER, otherOptions));
  }
}
