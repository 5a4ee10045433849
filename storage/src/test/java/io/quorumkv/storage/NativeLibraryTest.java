package io.quorumkv.storage;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.PosixFilePermissions;
import java.nio.file.attribute.UserPrincipal;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.rocksdb.RocksDB;
import org.rocksdb.util.Environment;

/**
 * Loading RocksDB's native library: one verified copy per content in a trusted directory, reused
 * at every start, instead of one new file in the temporary directory per start.
 */
class NativeLibraryTest {

  private static final String RESOURCE = "native/libfake.so";
  private static final String FILE = "libfake-loaded.so";

  @TempDir Path tmp;
  private Path base;
  private Path classpath;
  private byte[] bytes;
  private URLClassLoader loader;

  @BeforeEach
  void resource() throws IOException {
    base = Files.createDirectory(tmp.resolve("base"));
    bytes = new byte[300_000];
    new Random(42).nextBytes(bytes);
    classpath = tmp.resolve("classpath");
    Files.createDirectories(classpath.resolve("native"));
    Files.write(classpath.resolve(RESOURCE), bytes);
    loader = new URLClassLoader(new URL[] {classpath.toUri().toURL()}, null);
  }

  @AfterEach
  void closeLoader() throws IOException {
    loader.close();
  }

  private Path extract() throws IOException {
    return NativeLibrary.extract(base, loader, RESOURCE, FILE);
  }

  /** Every file under {@code dir}, directories excluded. */
  private static List<Path> files(Path dir) throws IOException {
    try (Stream<Path> s = Files.walk(dir)) {
      return s.filter(p -> !Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS)).sorted().toList();
    }
  }

  private static Object inode(Path file) throws IOException {
    return Files.readAttributes(file, BasicFileAttributes.class).fileKey();
  }

  /** Extraction refuses, naming {@code untrusted}, and writes nothing into {@code untouched}. */
  private void assertRefused(Path untrusted, Path untouched) throws IOException {
    IOException e = assertThrows(IOException.class, this::extract);
    assertTrue(e.getMessage().contains(untrusted + " "), e.getMessage());
    assertTrue(e.getMessage().endsWith("not trusted"), e.getMessage());
    assertEquals(List.of(), files(untouched));
  }

  @Test
  void extractingTwiceLeavesOneFileWithTheResourcesBytes() throws IOException {
    Path first = extract();
    Object written = inode(first.resolve(FILE));
    Path second = extract();

    assertEquals(first, second);
    assertEquals(List.of(first.resolve(FILE)), files(base));
    assertArrayEquals(bytes, Files.readAllBytes(first.resolve(FILE)));
    assertEquals(written, inode(second.resolve(FILE)), "a verified file is reused, not rewritten");
    assertEquals(NativeLibrary.userDirectory(base), first.getParent());
    for (Path dir : List.of(first, first.getParent())) {
      assertEquals("rwx------", PosixFilePermissions.toString(Files.getPosixFilePermissions(dir)));
    }
  }

  @Test
  void otherContentGetsAnotherDirectory() throws IOException {
    Path first = extract();
    bytes[0] ^= 1;
    Files.write(classpath.resolve(RESOURCE), bytes);
    Path second = extract();

    assertEquals(first.getParent(), second.getParent());
    assertFalse(first.equals(second), "an upgraded library must not overwrite one in use");
    assertArrayEquals(bytes, Files.readAllBytes(second.resolve(FILE)));
  }

  @Test
  void aFileWithOtherContentIsReplaced() throws IOException {
    Path target = extract().resolve(FILE);
    byte[] sameLength = bytes.clone();
    sameLength[bytes.length / 2] ^= 0x10;
    Files.write(target, sameLength);
    assertEquals(target.getParent(), extract());
    assertArrayEquals(bytes, Files.readAllBytes(target));

    Files.write(target, new byte[] {1, 2, 3});
    extract();
    assertArrayEquals(bytes, Files.readAllBytes(target));

    Files.delete(target);
    Files.createSymbolicLink(target, Files.write(tmp.resolve("elsewhere.so"), bytes));
    extract();
    assertFalse(Files.isSymbolicLink(target), "a symbolic link is replaced, never followed");
    assertArrayEquals(bytes, Files.readAllBytes(target));
    assertEquals(List.of(target), files(base));
  }

  @Test
  void aDirectoryOthersMayWriteToIsRefused() throws IOException {
    Path dir = Files.createDirectory(NativeLibrary.userDirectory(base));
    Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxrwxrwx"));

    assertRefused(dir, base);
  }

  @Test
  void aContentDirectoryWithOtherPermissionsIsRefused() throws IOException {
    Path dir = extract();
    Files.delete(dir.resolve(FILE));
    Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxr-xr-x"));

    assertRefused(dir, base);
  }

  @Test
  void aSymbolicLinkIsRefused() throws IOException {
    Path real = Files.createDirectory(tmp.resolve("real"),
        PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
    Path link = Files.createSymbolicLink(NativeLibrary.userDirectory(base), real);

    assertRefused(link, real);
  }

  @Test
  void aDirectoryOwnedBySomeoneElseIsRefused() throws IOException {
    Path dir = Files.createDirectory(NativeLibrary.userDirectory(base),
        PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
    UserPrincipal other =
        dir.getFileSystem().getUserPrincipalLookupService().lookupPrincipalByName("65534");
    try {
      Files.setOwner(dir, other);
    } catch (IOException notRoot) {
      assumeTrue(false, "only root can give a directory away: " + notRoot);
    }

    assertRefused(dir, base);
  }

  @Test
  void aMissingResourceIsAnError() {
    IOException e = assertThrows(IOException.class,
        () -> NativeLibrary.extract(base, loader, "native/absent.so", FILE));
    assertTrue(e.getMessage().contains("native/absent.so"), e.getMessage());
  }

  @Test
  void concurrentStartsLeaveOneVerifiedFile() throws Exception {
    ExecutorService pool = Executors.newFixedThreadPool(4);
    try {
      List<Future<Path>> starts = new ArrayList<>();
      for (int i = 0; i < 8; i++) {
        starts.add(pool.submit(this::extract));
      }
      Path dir = extract();
      for (Future<Path> start : starts) {
        assertEquals(dir, start.get(30, TimeUnit.SECONDS));
      }
      assertEquals(List.of(dir.resolve(FILE)), files(base), "no temporary file left behind");
      assertArrayEquals(bytes, Files.readAllBytes(dir.resolve(FILE)));
    } finally {
      pool.shutdownNow();
    }
  }

  @Test
  void theJarsLibraryGoesWhereRocksDbLoadsItFrom() throws IOException {
    String resource = Environment.getJniLibraryFileName("rocksdb");
    ClassLoader rocks = RocksDB.class.getClassLoader();
    Path dir = NativeLibrary.extract(base, rocks, resource, NativeLibrary.loadedName());

    // RocksDB.loadLibrary(List) loads <dir>/ + getJniLibraryFileName("rocksdbjni")
    Path loaded = dir.resolve(Environment.getJniLibraryFileName("rocksdbjni"));
    assertEquals(List.of(loaded), files(base));
    try (InputStream in = rocks.getResourceAsStream(resource)) {
      assertArrayEquals(in.readAllBytes(), Files.readAllBytes(loaded));
    }
  }

  /**
   * End to end: the library this JVM runs RocksDB with is the one in the stable directory, and no
   * copy of it in the temporary directory itself is mapped.
   */
  @Test
  void rocksDbRunsOnTheLibraryFromTheStableDirectory() throws IOException {
    Path maps = Path.of("/proc/self/maps");
    assumeTrue(Files.isReadable(maps), "needs Linux /proc");
    assumeTrue(System.getenv("ROCKSDB_SHAREDLIB_DIR") == null, "the operator chose a place");
    assumeTrue(!NativeLibrary.onLibraryPath(), "a library is installed on java.library.path");

    try (StorageEngine engine = StorageEngine.openRocksDb(tmp.resolve("node"), "c",
        StorageOptions.defaults(1))) {
      assertEquals(0, engine.groups().size());
    }

    Path tmpdir = Path.of(System.getProperty("java.io.tmpdir")).toRealPath();
    List<Path> mapped;
    try (Stream<String> lines = Files.lines(maps)) {
      mapped = lines.map(l -> l.split("\\s+", 6))
          .filter(f -> f.length == 6 && f[5].contains("librocksdbjni"))
          .map(f -> Path.of(f[5].strip())).distinct().toList();
    }
    assertEquals(1, mapped.size(), "one RocksDB library mapped: " + mapped);
    Path library = mapped.get(0);
    assertEquals(NativeLibrary.loadedName(), library.getFileName().toString());
    assertEquals(NativeLibrary.userDirectory(tmpdir), library.getParent().getParent());
    assertFalse(library.getParent().equals(tmpdir), "a per-start copy in " + tmpdir);
  }

  /** Starts a {@link LockHolder} with {@code tmpdir} as its java.io.tmpdir, once it is READY. */
  private Process holder(Path tmpdir, String name) throws IOException {
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    ProcessBuilder pb = new ProcessBuilder(java, "-cp", System.getProperty("java.class.path"),
        "-Xmx128m", "-Djava.io.tmpdir=" + tmpdir, LockHolder.class.getName(),
        tmp.resolve("data-" + name).toString())
        .redirectError(tmp.resolve(name + ".err").toFile());
    pb.environment().remove("ROCKSDB_SHAREDLIB_DIR");
    Process child = pb.start();
    BufferedReader out = new BufferedReader(
        new InputStreamReader(child.getInputStream(), StandardCharsets.UTF_8));
    String line = out.readLine();
    if (line == null || !line.startsWith("READY")) {
      child.destroyForcibly();
      throw new AssertionError(name + " did not start: " + Files.readString(stderr(name)));
    }
    return child;
  }

  private Path stderr(String name) {
    return tmp.resolve(name + ".err");
  }

  /** The scenario that filled /tmp: processes killed with SIGKILL, one after another. */
  @Test
  void killedStartsShareOneCopy() throws Exception {
    assumeTrue(!NativeLibrary.onLibraryPath(), "a library is installed on java.library.path");
    Path tmpdir = Files.createDirectory(tmp.resolve("tmpdir"));
    for (int i = 0; i < 3; i++) {
      Process child = holder(tmpdir, "killed-" + i);
      child.destroyForcibly(); // SIGKILL on Unix: no shutdown hook, no deleteOnExit
      assertTrue(child.waitFor(30, TimeUnit.SECONDS));
    }
    List<Path> left = files(tmpdir);
    assertEquals(1, left.size(), "one copy for every start: " + left);
    assertEquals(NativeLibrary.userDirectory(tmpdir), left.get(0).getParent().getParent());
    assertEquals(NativeLibrary.loadedName(), left.get(0).getFileName().toString());
  }

  /** A directory that cannot be trusted costs a warning (and RocksDB's copy), never the start. */
  @Test
  void anUntrustedDirectoryFallsBackToRocksDbsLoaderWithAWarning() throws Exception {
    assumeTrue(!NativeLibrary.onLibraryPath(), "a library is installed on java.library.path");
    Path tmpdir = Files.createDirectory(tmp.resolve("tmpdir"));
    Path link = Files.createSymbolicLink(NativeLibrary.userDirectory(tmpdir),
        Files.createDirectory(tmp.resolve("elsewhere")));
    Process child = holder(tmpdir, "fallback");
    try {
      child.getOutputStream().close();
      assertTrue(child.waitFor(30, TimeUnit.SECONDS));
      assertEquals(0, child.exitValue());
    } finally {
      child.destroyForcibly();
    }
    List<String> warnings = Files.readAllLines(stderr("fallback")).stream()
        .filter(l -> l.contains("WARN") && l.contains(NativeLibrary.class.getName())).toList();
    assertEquals(1, warnings.size(), "one warning: " + warnings);
    assertTrue(warnings.get(0).contains(link + " is not a directory"), warnings.get(0));
  }
}
