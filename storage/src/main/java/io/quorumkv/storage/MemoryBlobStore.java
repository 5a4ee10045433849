package io.quorumkv.storage;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/** Snapshot payloads on a {@link MemoryDisk}: durable once committed. */
final class MemoryBlobStore implements BlobStore {

  private final MemoryDisk disk;

  MemoryBlobStore(MemoryDisk disk) {
    this.disk = disk;
  }

  @Override
  public Writer create(String name) {
    return new Writer() {
      private byte[] buf = new byte[256];
      private int size;

      @Override
      public void write(byte[] data, int off, int len) {
        if (size + len > buf.length) {
          buf = Arrays.copyOf(buf, Math.max(buf.length * 2, size + len));
        }
        System.arraycopy(data, off, buf, size, len);
        size += len;
      }

      @Override
      public long size() {
        return size;
      }

      @Override
      public void commit() {
        synchronized (disk.lock) {
          disk.blobs.put(name, Arrays.copyOf(buf, size));
        }
      }

      @Override
      public void close() {}
    };
  }

  @Override
  public Reader open(String name) {
    byte[] data;
    synchronized (disk.lock) {
      data = disk.blobs.get(name);
    }
    if (data == null) {
      return null;
    }
    return new Reader() {
      @Override
      public long size() {
        return data.length;
      }

      @Override
      public int read(long offset, byte[] buf, int off, int len) {
        if (offset >= data.length) {
          return -1;
        }
        int n = (int) Math.min(len, data.length - offset);
        System.arraycopy(data, (int) offset, buf, off, n);
        return n;
      }

      @Override
      public void close() {}
    };
  }

  @Override
  public boolean exists(String name) {
    synchronized (disk.lock) {
      return disk.blobs.containsKey(name);
    }
  }

  @Override
  public void delete(String name) {
    synchronized (disk.lock) {
      disk.blobs.remove(name);
    }
  }

  @Override
  public List<String> list() {
    synchronized (disk.lock) {
      return new ArrayList<>(disk.blobs.keySet());
    }
  }

  @Override
  public String location(String name) {
    return "memory snapshot '" + name + "'";
  }
}
