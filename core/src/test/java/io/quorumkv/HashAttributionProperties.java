package io.quorumkv;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import io.quorumkv.ReplicaHashChecks.Mismatch;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.Size;

/**
 * {@link ReplicaHashChecks#attributeMismatch}, the majority rule that decides who is fenced when a
 * replica hash differs from its leader's: whatever the voters' hashes and the order reports
 * arrive in, a replica holding the hash a majority holds is never blamed, and once everyone has
 * reported, every replica outside that majority is.
 */
class HashAttributionProperties {

  /**
   * @param hashes each voter's hash (voter i + 1 holds hashes[i]; few distinct values, so that
   *               majorities, ties and three-way splits all occur)
   * @param leaderAt which voter leads
   * @param order    a permutation seed for the order the followers report in
   */
  @Property(tries = 2000)
  void aReplicaHoldingTheMajorityHashIsNeverBlamedAndEveryOtherIsOnceAllReported(
      @ForAll @Size(min = 1, max = 5) List<@IntRange(min = 0, max = 2) Integer> hashes,
      @ForAll @IntRange(min = 0, max = 4) int leaderAt, @ForAll long order) {
    int n = hashes.size();
    Set<Long> voters = new TreeSet<>();
    for (long v = 1; v <= n; v++) {
      voters.add(v);
    }
    long leader = leaderAt % n + 1;
    long mine = hashes.get((int) leader - 1);
    Map<Long, Integer> holders = new HashMap<>();
    hashes.forEach(h -> holders.merge((long) h, 1, Integer::sum));
    Long majority = holders.entrySet().stream().filter(e -> e.getValue() > n / 2).map(Map.Entry::getKey)
        .findFirst().orElse(null);

    List<Long> followers = new ArrayList<>(voters);
    followers.remove(leader);
    java.util.Collections.shuffle(followers, new java.util.Random(order));
    Map<Long, Long> reports = new LinkedHashMap<>();
    for (long f : followers) {
      long reported = hashes.get((int) f - 1);
      reports.put(f, reported);
      if (reported == mine) {
        continue; // a match: the caller answers it before attributing anything
      }
      Mismatch m = ReplicaHashChecks.attributeMismatch(voters, leader, mine, reports, reported);
      if (majority != null && mine == majority) {
        assertNotEquals(Mismatch.LEADER_DIVERGED, m, "the leader holds the majority hash");
      }
      if (majority != null && reported == majority) {
        assertNotEquals(Mismatch.REPORTER_DIVERGED, m, "node " + f + " holds the majority hash");
      }
      if (majority == null) {
        assertEquals(Mismatch.UNDECIDED, m, "no hash is a majority's: nobody can be blamed");
      }
    }
    if (majority == null) {
      return;
    }
    for (long f : followers) {
      long reported = hashes.get((int) f - 1);
      if (reported == mine) {
        continue;
      }
      Mismatch m = ReplicaHashChecks.attributeMismatch(voters, leader, mine, reports, reported);
      if (mine == majority) {
        assertEquals(Mismatch.REPORTER_DIVERGED, m, "node " + f + " is outside the majority");
      } else if (reported == majority) {
        assertEquals(Mismatch.LEADER_DIVERGED, m, "the leader is outside the majority");
      }
    }
  }
}
