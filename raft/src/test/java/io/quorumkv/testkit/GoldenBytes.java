package io.quorumkv.testkit;

import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Golden encodings: the exact bytes one version of a format writes, kept in a test resource, so
 * that a change to an encoding that is stored on disk or sent between nodes fails a test instead
 * of reaching users' data directories and mixed-version clusters unnoticed.
 *
 * <p>A golden file is UTF-8 text, one sample per line: {@code name hex}; lines starting with
 * {@code #} and blank lines are comments. Sample names are chosen by the test and must stay stable
 * (new samples are added with new names). Run a test with {@code -Dquorumkv.golden.write=true} to
 * write the current encodings to the module's {@code src/test/resources} instead of checking them:
 * only for a new format version, never to make a failing check pass.
 */
public final class GoldenBytes {

  /** The system property that makes {@link #check} write the golden file instead of checking it. */
  public static final String WRITE_PROPERTY = "quorumkv.golden.write";

  private GoldenBytes() {}

  /**
   * The samples of a golden file, in file order, or empty if the resource does not exist.
   *
   * @param owner    the class whose class loader and package locate the resource
   * @param resource the resource name relative to {@code owner}'s package
   */
  public static Optional<Map<String, byte[]>> load(Class<?> owner, String resource) {
    try (InputStream in = owner.getResourceAsStream(resource)) {
      if (in == null) {
        return Optional.empty();
      }
      Map<String, byte[]> out = new LinkedHashMap<>();
      String[] lines = new String(in.readAllBytes(), StandardCharsets.UTF_8).split("\n");
      for (int i = 0; i < lines.length; i++) {
        String line = lines[i].strip();
        if (line.isEmpty() || line.startsWith("#")) {
          continue;
        }
        String[] parts = line.split(" ");
        if (parts.length != 2 || out.put(parts[0], HexFormat.of().parseHex(parts[1])) != null) {
          throw new IllegalStateException(resource + " line " + (i + 1) + ": not a new 'name hex' sample: " + line);
        }
      }
      return Optional.of(out);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /**
   * Checks that {@code actual} holds exactly the samples of the golden file, byte for byte, and
   * fails naming every sample whose bytes differ, that is missing, or that is new. With
   * {@link #WRITE_PROPERTY} set, writes {@code actual} as the golden file instead.
   *
   * @param owner    the class whose package locates the resource
   * @param resource the resource name relative to {@code owner}'s package
   * @param header   comment lines for a written file: what the format is and the rule for changing it
   * @param actual   every sample's current encoding, by name
   * @param onChange what a developer must do when the bytes differ (part of the failure message)
   */
  public static void check(Class<?> owner, String resource, String header, Map<String, byte[]> actual,
      String onChange) {
    if (Boolean.getBoolean(WRITE_PROPERTY)) {
      write(owner, resource, header, actual);
      return;
    }
    Map<String, byte[]> golden = load(owner, resource).orElseThrow(() -> new AssertionError(
        "no golden file " + resource + " next to " + owner.getName() + "; " + onChange));
    List<String> problems = new ArrayList<>();
    HexFormat hex = HexFormat.of();
    golden.forEach((name, want) -> {
      byte[] got = actual.get(name);
      if (got == null) {
        problems.add(name + ": in the golden file, no longer produced");
      } else if (!java.util.Arrays.equals(want, got)) {
        problems.add(name + ": golden " + hex.formatHex(want) + ", now " + hex.formatHex(got));
      }
    });
    actual.keySet().stream().filter(name -> !golden.containsKey(name))
        .forEach(name -> problems.add(name + ": new, not in the golden file"));
    if (!problems.isEmpty()) {
      fail("the encodings of " + resource + " changed:\n  " + String.join("\n  ", problems) + "\n" + onChange);
    }
  }

  private static void write(Class<?> owner, String resource, String header, Map<String, byte[]> actual) {
    Path file = Path.of("src", "test", "resources", owner.getPackageName().replace('.', '/'), resource);
    StringBuilder out = new StringBuilder();
    header.lines().forEach(l -> out.append("# ").append(l).append('\n'));
    actual.forEach((name, bytes) -> out.append(name).append(' ').append(HexFormat.of().formatHex(bytes)).append('\n'));
    try {
      Files.createDirectories(file.getParent());
      Files.writeString(file, out.toString(), StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
