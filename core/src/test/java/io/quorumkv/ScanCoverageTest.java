package io.quorumkv;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * A node answers a scan only if its routing table covers the whole range: a node that lost its
 * replicas of part of the range (a Jepsen bank run, 2026-11-26: scans at every level saw no
 * accounts on a node just removed from the cluster) must refuse, not return what it knows. With
 * hash partitioning, every partition holds keys anywhere in the range: all must be known.
 */
class ScanCoverageTest {

  private static byte[] b(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  private static RoutingTable.ScanPart part(long id, String from, String to) {
    return new RoutingTable.ScanPart(id, b(from), b(to), 0);
  }

  private static RoutingTable.ScanPart hash(long id, int of) {
    return new RoutingTable.ScanPart(id, b("a"), b("z"), of);
  }

  @Test
  void contiguousPartsCoverTheRangeAndAGapOrAMissingEndDoesNot() {
    assertTrue(RequestRouter.covers(List.of(part(1, "a", "m"), part(2, "m", "z")), b("a"), b("z")));
    assertTrue(RequestRouter.covers(List.of(part(1, "a", "m"), part(2, "m", "")), b("a"), b("")));
    assertFalse(RequestRouter.covers(List.of(), b("bank/"), b("bank0")), "nothing known: no answer");
    assertFalse(RequestRouter.covers(List.of(part(2, "m", "z")), b("a"), b("z")), "the start is missing");
    assertFalse(RequestRouter.covers(List.of(part(1, "a", "f"), part(2, "m", "z")), b("a"), b("z")), "a gap");
    assertFalse(RequestRouter.covers(List.of(part(1, "a", "m")), b("a"), b("z")), "the end is missing");
    assertFalse(RequestRouter.covers(List.of(part(1, "a", "m")), b("a"), b("")), "unbounded, ends early");
  }

  @Test
  void hashPartitionsCoverTheRangeOnlyIfEveryOneIsKnown() {
    assertTrue(RequestRouter.covers(List.of(hash(1, 3), hash(2, 3), hash(3, 3)), b("a"), b("z")));
    assertFalse(RequestRouter.covers(List.of(hash(1, 3), hash(3, 3)), b("a"), b("z")), "partition 2 of 3 is missing");
    assertFalse(RequestRouter.covers(List.of(hash(1, 3), hash(3, 3), hash(3, 3)), b("a"), b("z")), "a duplicate is not 2");
    assertTrue(RequestRouter.covers(List.of(hash(1, 1)), b("a"), b("")));
  }
}
