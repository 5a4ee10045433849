package io.quorumkv.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quorumkv.KeyTooLargeException;
import io.quorumkv.KvException;
import io.quorumkv.ReadConsistency;
import io.quorumkv.testkit.History;
import io.quorumkv.testkit.Op;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** Each call and each way it can end is recorded as the history format says. */
class RecordingKvStoreTest {

  private static final Duration WAIT = Duration.ofSeconds(15);

  @Test
  void recordsOkFailAndInfoByOutcome() throws Exception {
    try (TestCluster c = TestCluster.builder().nodes(3).configure(b -> b.maxKeySize(8)).build().start()) {
      c.awaitLeaders(WAIT);
      Recording recording = new Recording("recording-test");
      RecordingKvStore store = recording.store(() -> c.node(1));
      long first = store.process();

      store.put("k", "v1");
      assertEquals(Optional.of("v1"), store.get("k"));
      assertFalse(store.compareAndSet("k", "nope", "v2"));
      assertTrue(store.compareAndSet("k", "v1", "v2"));
      assertFalse(store.putIfAbsent("k", "v3"));
      assertTrue(store.delete("k"));
      assertEquals(Optional.empty(), store.get("k", ReadConsistency.FOLLOWER));
      assertThrows(KeyTooLargeException.class, () -> store.put("123456789", "v"));
      assertThrows(IllegalArgumentException.class, () -> store.put("", "v"));
      assertEquals(first, store.process(), "certain failures keep the process");

      // No quorum: the write fails by its deadline; unknown outcome -> info and a new process.
      c.crash(2);
      c.crash(3);
      RecordingKvStore hurried = recording.store(() -> c.node(1).withTimeout(Duration.ofMillis(300)));
      long before = hurried.process();
      KvException e = assertThrows(KvException.class, () -> hurried.put("k", "v4"));

      List<Op> ops = recording.history().ops();
      List<String> lines = ops.stream().filter(op -> op.process() == first && op.type() != Op.Type.INVOKE)
          .map(op -> op.type() + " " + op.f()).toList();
      assertEquals(List.of("OK PUT", "OK GET", "FAIL CAS", "OK CAS", "FAIL CAS", "OK DELETE", "OK GET",
          "FAIL PUT", "FAIL PUT"), lines);
      Op last = ops.get(ops.size() - 1);
      assertEquals(before, last.process());
      assertEquals(e.outcomeUnknown() ? Op.Type.INFO : Op.Type.FAIL, last.type(), e.toString());
      assertEquals(e.outcomeUnknown(), hurried.process() != before);
      assertTrue(recording.check().isLinearizable(), recording.check().describe());

      Path file = recording.write();
      assertTrue(file.getFileName().toString().startsWith("recording-test-"));
      assertEquals(recording.history(), History.read(file));
      assertNotEquals(first, before);
    }
  }
}
