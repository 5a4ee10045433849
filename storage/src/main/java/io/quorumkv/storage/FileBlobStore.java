package io.quorumkv.storage;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/**
 * Snapshot payloads as files under a directory. A blob is written to a temporary file, fsynced,
 * renamed into place and its directory fsynced, so after a crash a name holds a complete payload
 * or nothing. Temporary files left by a crash are removed at start.
 */
final class FileBlobStore implements BlobStore {

  private static final String TMP = ".tmp";

  private final Path root;

  FileBlobStore(Path root) {
    this.root = root;
    try {
      Files.createDirectories(root);
      try (Stream<Path> s = Files.walk(root)) {
        for (Path p : (Iterable<Path>) s::iterator) {
          if (p.getFileName().toString().endsWith(TMP)) {
            Files.deleteIfExists(p);
          }
        }
      }
    } catch (IOException e) {
      throw new StorageException("cannot prepare snapshot directory " + root, e);
    }
  }

  private Path path(String name) {
    return root.resolve(name);
  }

  @Override
  public Writer create(String name) {
    Path target = path(name);
    Path tmp = target.resolveSibling(target.getFileName() + "." + System.nanoTime() + TMP);
    FileChannel ch;
    try {
      Files.createDirectories(target.getParent());
      ch = FileChannel.open(tmp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
    } catch (IOException e) {
      throw new StorageException("cannot create snapshot file " + tmp, e);
    }
    return new Writer() {
      private long size;
      private boolean done;

      @Override
      public void write(byte[] data, int off, int len) {
        try {
          ByteBuffer b = ByteBuffer.wrap(data, off, len);
          while (b.hasRemaining()) {
            ch.write(b);
          }
          size += len;
        } catch (IOException e) {
          throw new StorageException("cannot write snapshot file " + tmp, e);
        }
      }

      @Override
      public long size() {
        return size;
      }

      @Override
      public void commit() {
        try {
          ch.force(true);
          ch.close();
          try {
            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE,
                StandardCopyOption.REPLACE_EXISTING);
          } catch (AtomicMoveNotSupportedException e) {
            Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING);
          }
          syncDirectory(target.getParent());
          done = true;
        } catch (IOException e) {
          throw new StorageException("cannot commit snapshot file " + target, e);
        }
      }

      @Override
      public void close() {
        if (!done) {
          try {
            ch.close();
            Files.deleteIfExists(tmp);
          } catch (IOException e) {
            throw new UncheckedIOException(e);
          }
        }
      }
    };
  }

  static void syncDirectory(Path dir) throws IOException {
    try (FileChannel d = FileChannel.open(dir, StandardOpenOption.READ)) {
      d.force(true);
    }
  }

  @Override
  public Reader open(String name) {
    Path p = path(name);
    FileChannel ch;
    try {
      ch = FileChannel.open(p, StandardOpenOption.READ);
    } catch (NoSuchFileException e) {
      return null;
    } catch (IOException e) {
      throw new StorageException("cannot open snapshot file " + p, e);
    }
    return new Reader() {
      @Override
      public long size() {
        try {
          return ch.size();
        } catch (IOException e) {
          throw new StorageException("cannot stat snapshot file " + p, e);
        }
      }

      @Override
      public int read(long offset, byte[] buf, int off, int len) {
        try {
          return ch.read(ByteBuffer.wrap(buf, off, len), offset);
        } catch (IOException e) {
          throw new StorageException("cannot read snapshot file " + p, e);
        }
      }

      @Override
      public void close() {
        try {
          ch.close();
        } catch (IOException e) {
          throw new UncheckedIOException(e);
        }
      }
    };
  }

  @Override
  public boolean exists(String name) {
    return Files.isRegularFile(path(name));
  }

  @Override
  public void delete(String name) {
    try {
      Files.deleteIfExists(path(name));
    } catch (IOException e) {
      throw new StorageException("cannot delete snapshot file " + path(name), e);
    }
  }

  /**
   * Lists {@code <group>/<file>.snap} without a tree walk: other threads create, rename and delete
   * files here meanwhile (a snapshot of another group), and a walk fails on a file that vanishes
   * between being listed and being read; a directory listing just skips it.
   */
  @Override
  public List<String> list() {
    List<String> out = new ArrayList<>();
    try (DirectoryStream<Path> groupDirs = Files.newDirectoryStream(root)) {
      for (Path dir : groupDirs) {
        try (DirectoryStream<Path> files = Files.newDirectoryStream(dir, "*.snap")) {
          for (Path p : files) {
            out.add(dir.getFileName() + "/" + p.getFileName());
          }
        } catch (NoSuchFileException | NotDirectoryException gone) {
          // deleted meanwhile, or a stray file at the top
        }
      }
    } catch (NoSuchFileException empty) {
      return out;
    } catch (IOException e) {
      throw new StorageException("cannot list snapshot directory " + root, e);
    }
    return out;
  }

  @Override
  public String location(String name) {
    return "snapshot file " + path(name);
  }
}
