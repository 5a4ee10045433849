package io.quorumkv.storage;

import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.nio.file.attribute.UserPrincipal;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.stream.Stream;
import java.util.zip.CRC32C;
import org.rocksdb.RocksDB;
import org.rocksdb.util.Environment;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Loads RocksDB's JNI library without leaving a copy of it behind at every start. RocksDB's own
 * loader ({@code RocksDB.loadLibrary()}) extracts the 15 MB library from its jar into a new,
 * uniquely named file in {@code java.io.tmpdir} at each JVM start and deletes it only on a normal
 * exit, so every process that is killed (kill -9, OOM killer, power loss) leaves one behind, and a
 * service restarted that way fills {@code /tmp}. Here the library is extracted once into a
 * per-user, owner-only directory named after its content,
 * {@code <tmpdir>/quorumkv-native-<user>/<crc32c>-<length>/}, verified byte for byte before each
 * load, so every start with the same rocksdbjni reuses one file. A place the operator chose
 * ({@code ROCKSDB_SHAREDLIB_DIR}, or the library on {@code java.library.path}) is left to RocksDB,
 * and so is every case this class cannot handle safely (a non-POSIX file system, a directory it
 * cannot trust, any I/O error): it then logs one warning and calls RocksDB's loader, so it never
 * stops a start that RocksDB's loader alone would allow.
 */
final class NativeLibrary {

  private static final Logger LOG = LoggerFactory.getLogger(NativeLibrary.class);

  /** RocksDB's environment variable naming the directory it loads its library from. */
  private static final String SHAREDLIB_DIR = "ROCKSDB_SHAREDLIB_DIR";

  private static final Set<PosixFilePermission> OWNER_ONLY =
      PosixFilePermissions.fromString("rwx------");

  /** Verify-and-write rounds before giving up (another JVM may be replacing the file meanwhile). */
  private static final int ATTEMPTS = 3;

  private NativeLibrary() {}

  /** Loads RocksDB's library into this JVM (called once, by {@code RocksBackend}'s initializer). */
  static void load() {
    if (System.getenv(SHAREDLIB_DIR) != null || onLibraryPath()) {
      RocksDB.loadLibrary();
      return;
    }
    String tmpdir = System.getProperty("java.io.tmpdir");
    Path dir;
    try {
      ClassLoader loader = Objects.requireNonNullElse(
          RocksDB.class.getClassLoader(), ClassLoader.getSystemClassLoader());
      dir = extract(Path.of(tmpdir), loader, Environment.getJniLibraryFileName("rocksdb"),
          loadedName());
    } catch (IOException | RuntimeException e) {
      fallBack(tmpdir, "not extracted (" + e + ")");
      return;
    }
    try {
      RocksDB.loadLibrary(List.of(dir.toString()));
    } catch (UnsatisfiedLinkError | RuntimeException e) {
      // e.g. a tmpdir mounted noexec; RocksDB's loader then fails in the same way, as it did before
      fallBack(tmpdir, "cannot load it from " + dir + " (" + e + ")");
    }
  }

  private static void fallBack(String tmpdir, String reason) {
    LOG.warn("RocksDB native library: {}; using RocksDB's loader instead, which leaves a copy in {}"
        + " after every start that does not end in a normal exit", reason, tmpdir);
    RocksDB.loadLibrary();
  }

  /**
   * The file name {@code RocksDB.loadLibrary(List)} loads from each directory it is given. It is
   * not the jar's resource name: RocksDB passes "rocksdbjni" where the resource uses "rocksdb", so
   * on 64-bit Linux it is {@code librocksdbjnijni-linux64.so} for the resource
   * {@code librocksdbjni-linux64.so}.
   */
  static String loadedName() {
    return Environment.getJniLibraryFileName("rocksdbjni");
  }

  /**
   * Whether a library is installed on {@code java.library.path}, where RocksDB's loader looks
   * before its jar: then RocksDB loads that one, as it did before this class.
   */
  static boolean onLibraryPath() {
    try {
      List<String> names = Stream.of(Environment.getSharedLibraryName("rocksdb"),
              Environment.getJniLibraryName("rocksdb"),
              Environment.getFallbackJniLibraryName("rocksdb"))
          .filter(Objects::nonNull).map(System::mapLibraryName).toList();
      for (String dir : System.getProperty("java.library.path", "").split(File.pathSeparator)) {
        for (String name : names) {
          if (!dir.isEmpty() && Files.isRegularFile(Path.of(dir, name))) {
            return true;
          }
        }
      }
      return false;
    } catch (RuntimeException e) {
      // an unknown platform or an odd path entry: extraction then decides (and falls back)
      return false;
    }
  }

  /** This user's directory under {@code base}; its name avoids clashes, its owner is checked. */
  static Path userDirectory(Path base) {
    String user = System.getProperty("user.name", "");
    return base.resolve("quorumkv-native-" + user.replaceAll("[^A-Za-z0-9._-]", "_"));
  }

  /**
   * Makes {@code <base>/quorumkv-native-<user>/<crc32c>-<length>/<fileName>} hold exactly the bytes
   * of {@code resource}, writing it only if it does not already, and returns its directory. Throws
   * if the resource is missing, if a directory on the way is not a real directory owned by this
   * user with mode rwx------, or if the file cannot be written.
   */
  static Path extract(Path base, ClassLoader loader, String resource, String fileName)
      throws IOException {
    if (!base.getFileSystem().supportedFileAttributeViews().contains("posix")) {
      throw new IOException(base + " is not on a POSIX file system: cannot make it owner-only");
    }
    Content want;
    try (InputStream in = open(loader, resource)) {
      want = Content.of(in);
    }
    Path dir = trustedDirectory(trustedDirectory(userDirectory(base)).resolve(want.name()));
    Path target = dir.resolve(fileName);
    for (int attempt = 0; attempt < ATTEMPTS; attempt++) {
      if (holds(target, want)) {
        return dir;
      }
      write(loader, resource, target);
    }
    throw new IOException(target + " still differs from " + resource + " after " + ATTEMPTS
        + " writes");
  }

  private static InputStream open(ClassLoader loader, String resource) throws IOException {
    InputStream in = loader.getResourceAsStream(resource);
    if (in == null) {
      throw new IOException("no resource " + resource);
    }
    return in;
  }

  /**
   * Creates {@code dir} owner-only, or checks the one that exists: it is trusted only if it is a
   * directory (not a symbolic link to one) owned by this user with mode rwx------, since anyone
   * who can write in it could make this JVM load their code.
   */
  private static Path trustedDirectory(Path dir) throws IOException {
    try {
      Files.createDirectory(dir, PosixFilePermissions.asFileAttribute(OWNER_ONLY));
    } catch (FileAlreadyExistsException e) {
      // an earlier start (or a concurrent one) made it, or someone else did: checked below
    }
    PosixFileAttributes a =
        Files.readAttributes(dir, PosixFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
    if (!a.isDirectory()) {
      throw new IOException(dir + " is not a directory (a symbolic link or a file): not trusted");
    }
    UserPrincipal me = currentUser();
    if (!a.owner().equals(me)) {
      throw new IOException(dir + " is owned by " + a.owner().getName() + ", not by "
          + me.getName() + ": not trusted");
    }
    if (!a.permissions().equals(OWNER_ONLY)) {
      throw new IOException(dir + " has mode " + PosixFilePermissions.toString(a.permissions())
          + ", not rwx------: not trusted");
    }
    return dir;
  }

  /**
   * This process's user. On Linux the owner of {@code /proc/self} (the effective uid, even one
   * without a passwd entry, where {@code user.name} is "?"); elsewhere looked up by name.
   */
  private static UserPrincipal currentUser() throws IOException {
    Path self = Path.of("/proc/self");
    if (Files.isDirectory(self)) {
      return Files.getOwner(self);
    }
    return FileSystems.getDefault().getUserPrincipalLookupService()
        .lookupPrincipalByName(System.getProperty("user.name"));
  }

  /** Whether {@code file} is a regular file with exactly the wanted length and CRC32C. */
  private static boolean holds(Path file, Content want) throws IOException {
    BasicFileAttributes a;
    try {
      a = Files.readAttributes(file, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
    } catch (NoSuchFileException e) {
      return false;
    }
    if (!a.isRegularFile() || a.size() != want.length()) {
      return false;
    }
    try (InputStream in = Files.newInputStream(file, LinkOption.NOFOLLOW_LINKS)) {
      return Content.of(in).equals(want);
    }
  }

  /**
   * Writes a temporary file beside {@code target} and renames it over it. Never rewrites the file
   * in place: another JVM may have it mapped, and changing its pages would crash that JVM; a
   * rename leaves the old inode to whoever has it open. No fsync: a file torn by a power loss
   * fails {@link #holds} at the next start and is written again.
   */
  private static void write(ClassLoader loader, String resource, Path target) throws IOException {
    Path tmp = Files.createTempFile(target.getParent(), target.getFileName() + ".", ".tmp");
    try {
      try (InputStream in = open(loader, resource); OutputStream out = Files.newOutputStream(tmp)) {
        in.transferTo(out);
      }
      // atomic: a concurrent start sees the old file or this one, never a partial one; if two
      // starts race, the last rename wins and both copies are the same bytes
      Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
    } finally {
      Files.deleteIfExists(tmp);
    }
  }

  /** What a file must hold: its length and the CRC32C of its bytes. */
  record Content(long length, int crc) {

    /** Reads {@code in} to its end. */
    static Content of(InputStream in) throws IOException {
      CRC32C crc = new CRC32C();
      byte[] buf = new byte[1 << 16];
      long length = 0;
      for (int n; (n = in.read(buf)) >= 0; ) {
        crc.update(buf, 0, n);
        length += n;
      }
      return new Content(length, (int) crc.getValue());
    }

    /** The directory name: the same bytes always map to the same directory. */
    String name() {
      return String.format("%08x-%d", crc, length);
    }
  }
}
