package io.quorumkv.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quorumkv.ClusterStatus;
import io.quorumkv.PartitionStatus;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class CatchUpTest {

  private static ClusterStatus status(long node, long commit1, long commit2, long applied1, long applied2) {
    return new ClusterStatus(node, Map.of(), List.of(
        new PartitionStatus(1, "hash 1/2", 1, 2, commit1, applied1, Set.of(1L, 2L, 3L), Set.of()),
        new PartitionStatus(2, "hash 2/2", 2, 2, commit2, applied2, Set.of(1L, 2L, 3L), Set.of())));
  }

  @Test
  void endsWhenTheLaggingNodeAppliedWhatTheOthersHadCommittedAtTheStart() throws Exception {
    AtomicLong progress = new AtomicLong();
    AtomicLong othersCommit = new AtomicLong(1000);
    try (CatchUp c = new CatchUp(address -> switch (address) {
      case "lagging" -> {
        long p = progress.addAndGet(100);
        if (p < 300) {
          throw new IllegalStateException("not started yet");
        }
        yield status(3, 0, 0, Math.min(p, 1000), Math.min(p, 900));
      }
      case "down" -> throw new IllegalStateException("unreachable");
      default -> status(1, othersCommit.getAndAdd(50), 900, 0, 0);
    }, "lagging", List.of("other", "down"), 1)) {
      long at = c.done().get(10, TimeUnit.SECONDS);
      assertTrue(at > 0);
      Json j = new Json();
      c.describe(j, 2_000_000);
      assertEquals(true, j.get("caught_up"));
      // applied 300/300 when first seen; targets 1000 and 900 (the first commit reading only)
      assertEquals(700L + 600L, j.get("catchup_entries"));
      assertEquals(2.0, j.get("catchup_mb"));
      assertTrue((double) j.get("catchup_entries_per_s") > 0);
    }
  }

  @Test
  void aNodeThatNeverAnswersIsReportedNotCaughtUp() throws Exception {
    try (CatchUp c = new CatchUp(address -> {
      throw new IllegalStateException("connection refused");
    }, "lagging", List.of("other"), 1)) {
      Thread.sleep(50);
      Json j = new Json();
      c.describe(j, -1);
      assertFalse(c.done().isDone());
      assertEquals(false, j.get("caught_up"));
      assertTrue(((String) j.get("catchup_error")).contains("connection refused"), j.toString());
    }
  }
}
