package io.quorumkv.storage;

import java.nio.file.Path;
import org.junit.jupiter.api.io.TempDir;

/** The pipelined log writer on RocksDB. */
class RocksDbPipelinedLogWriterTest extends PipelinedLogWriterTest {

  @TempDir Path dir;
  private int opened;

  @Override
  Backend newBackend() {
    opened++;
    return RocksBackend.open(dir.resolve("db" + opened), StorageOptions.defaults(1));
  }

  @Override
  BlobStore newBlobs() {
    return new FileBlobStore(dir.resolve("snapshots" + opened));
  }
}
