package io.quorumkv.raft;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.quorumkv.testkit.GoldenBytes;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * A {@link ConfChange} is stored in the log of every member for as long as the log keeps it, so
 * its bytes are a format: a node of a later version must read the changes an earlier one wrote,
 * and the enums it writes by ordinal ({@link ConfChangeType}, {@link ConfChange.Transition}) must
 * keep their order. The golden file holds the bytes this format writes.
 */
class ConfChangeFormatTest {

  private static final String GOLDEN = "conf-change-format-1.txt";

  static Map<String, ConfChange> samples() {
    Map<String, ConfChange> s = new LinkedHashMap<>();
    s.put("add-voter", ConfChange.of(ConfChangeType.ADD_VOTER, 2));
    s.put("add-learner", ConfChange.of(ConfChangeType.ADD_LEARNER, 4));
    s.put("remove", ConfChange.of(ConfChangeType.REMOVE, 3));
    s.put("leave-joint", ConfChange.leaveJoint());
    s.put("replace-joint-implicit-with-context", new ConfChange(
        List.of(new ConfChange.Single(ConfChangeType.ADD_VOTER, 4), new ConfChange.Single(ConfChangeType.REMOVE, 1)),
        ConfChange.Transition.JOINT_IMPLICIT, "127.0.0.1:7004".getBytes(StandardCharsets.UTF_8)));
    s.put("joint-explicit", new ConfChange(List.of(new ConfChange.Single(ConfChangeType.ADD_LEARNER, Long.MAX_VALUE)),
        ConfChange.Transition.JOINT_EXPLICIT, Entry.EMPTY));
    return s;
  }

  @Test
  void theBytesOfThisFormatAreTheGoldenOnes() {
    Map<String, byte[]> actual = new LinkedHashMap<>();
    samples().forEach((name, c) -> actual.put(name, c.encode()));
    GoldenBytes.check(ConfChangeFormatTest.class, GOLDEN,
        "ConfChange.encode(), format 1: the data of a CONF_CHANGE log entry.\n"
            + "Stored in the logs of users' nodes: never edit a line; a new format gets a new file,\n"
            + "and ConfChange.decode keeps reading this one.",
        actual,
        "ConfChange's stored bytes changed. Logs written by earlier versions hold the old bytes: keep "
            + "decoding them, give the new encoding a new FORMAT byte and a new golden file (see docs/operations.md, "
            + "\"Upgrades and formats\").");
  }

  @Test
  void everyGoldenChangeDecodesToItsSample() {
    Map<String, byte[]> golden = GoldenBytes.load(ConfChangeFormatTest.class, GOLDEN).orElseThrow();
    samples().forEach((name, want) -> {
      ConfChange got = ConfChange.decode(golden.get(name));
      assertEquals(want.changes(), got.changes(), name);
      assertEquals(want.transition(), got.transition(), name);
      assertArrayEquals(want.context(), got.context(), name);
    });
  }
}
