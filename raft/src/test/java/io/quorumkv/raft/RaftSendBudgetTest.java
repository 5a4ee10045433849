package io.quorumkv.raft;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quorumkv.raft.Message.AppendEntries;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The node-wide {@link SendBudget}: several groups led on one node share it, so the entry bytes
 * they send a peer together stay within what the driver can take, whatever each group's own
 * window would allow; a spent budget delays entries but never stops commits or other peers.
 */
class RaftSendBudgetTest {

  /** A driver's budget: {@code perTurn} bytes per peer, refilled at each turn of its loop. */
  private static final class TurnBudget implements SendBudget {
    final Map<Long, Long> perTurn = new HashMap<>();
    final Map<Long, Long> spent = new HashMap<>();
    long defaultPerTurn;

    TurnBudget(long defaultPerTurn) {
      this.defaultPerTurn = defaultPerTurn;
    }

    @Override
    public long available(long peer) {
      return perTurn.getOrDefault(peer, defaultPerTurn) - spent.getOrDefault(peer, 0L);
    }

    @Override
    public void spend(long peer, long bytes) {
      spent.merge(peer, bytes, Long::sum);
    }

    void newTurn() {
      spent.clear();
    }
  }

  private static long entryBytesTo(Net net, long to) {
    return net.traced(AppendEntries.class).stream().filter(a -> a.to() == to)
        .mapToLong(a -> Entry.sizeBytes(a.entries())).sum();
  }

  /**
   * Eight groups led on node 1 catch up node 2, which missed 40 entries of each. Each group's own
   * window would let it send 16 entries at once (128 for the eight); the shared budget of four
   * entries' bytes per turn holds all of them together to that (plus at most one entry, since a
   * message carries at least one), and node 2 still catches up every group.
   */
  @Test
  void groupsLedOnOneNodeShareOneBudgetPerPeerAndAllCatchUp() {
    long entryBytes = Entry.HEADER_BYTES + 3;
    TurnBudget budget = new TurnBudget(4 * entryBytes);
    List<Net> groups = new ArrayList<>();
    for (int g = 0; g < 8; g++) {
      Net net = Net.of(3, 7919 + g, b -> b.maxSizePerMsg(2 * entryBytes).maxInflightMsgs(8)
          .maxInflightBytes(16 * entryBytes).sendBudget(budget));
      net.elect(1);
      net.isolate(2);
      for (int i = 10; i < 50; i++) {
        net.propose(1, "p" + i); // committed by nodes 1 and 3
      }
      net.heal();
      groups.add(net);
    }
    int turns = 0;
    long maxPerTurn = 0;
    while (groups.stream().anyMatch(n -> n.node(2).state.size() < 40) && turns < 500) {
      budget.newTurn();
      long sent = 0;
      for (Net net : groups) {
        net.trace.clear();
        net.tick(1);
        sent += entryBytesTo(net, 2);
      }
      maxPerTurn = Math.max(maxPerTurn, sent);
      turns++;
    }
    for (Net net : groups) {
      assertEquals(40, net.node(2).state.size(), "node 2 caught up every group");
    }
    assertTrue(maxPerTurn <= 5 * entryBytes,
        "at most the budget plus one entry per turn for all groups together, was " + maxPerTurn
            + " bytes (" + maxPerTurn / entryBytes + " entries)");
    assertTrue(turns >= 8 * 40 / 5, "catching up took turns, not one burst: " + turns);
  }

  /**
   * With nothing left for node 3, the leader still commits with node 2, and node 3 hears the
   * commit index in empty AppendEntries; once its budget is back it receives every entry.
   */
  @Test
  void aSpentBudgetForOnePeerHoldsBackOnlyItsEntries() {
    TurnBudget budget = new TurnBudget(Long.MAX_VALUE / 2);
    budget.perTurn.put(3L, 0L);
    Net net = Net.of(3, b -> b.sendBudget(budget));
    net.elect(1);
    net.tick(1);
    int before = net.node(3).state.size();
    net.trace.clear();
    for (int i = 0; i < 5; i++) {
      net.propose(1, "p" + i);
    }
    net.tick(1); // the last commit index travels with the next heartbeat
    assertEquals(before + 5, net.node(2).state.size(), "node 2 got and applied every entry");
    assertEquals(before, net.node(3).state.size(), "node 3 got none");
    assertEquals(0, entryBytesTo(net, 3));
    assertTrue(net.traced(AppendEntries.class).stream().anyMatch(a -> a.to() == 3),
        "node 3 still hears from the leader");
    budget.perTurn.remove(3L);
    net.tick(2);
    assertEquals(before + 5, net.node(3).state.size(), "node 3 caught up once its budget was back");
  }
}
