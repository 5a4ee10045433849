package io.quorumkv.raft;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * Random schedules against the Ready contract: a driver that persists late (messages go out
 * before the write, {@code messagesAfterPersist} only after it), crashes that lose every
 * unpersisted Ready, reordered, duplicated and dropped messages, partitions, snapshots and
 * membership changes. After every step the safety properties of the paper (figure 3) are checked:
 * one leader per term, and every node applies the same entry at each index. Reads are checked to
 * reflect every entry applied anywhere before they were requested.
 *
 * <p>This is the core's own smoke test; the cluster simulator and linearizability checker live in
 * the {@code sim} package. {@code -Dquorumkv.long=true} runs many more schedules.
 */
class RaftChaosTest {

  private static final boolean LONG = Boolean.getBoolean("quorumkv.long");
  private static final boolean TRACE = Boolean.getBoolean("quorumkv.chaos.trace");

  /** One member with a driver that may lag behind its core: Readies wait to be persisted. */
  private static final class Member {
    final Net.Node node;
    final ArrayDeque<Ready> unpersisted = new ArrayDeque<>();

    Member(Net.Node node) {
      this.node = node;
    }
  }

  private final class Cluster {
    final SplittableRandom rnd;
    final ReadOnlyOption readOption;
    final Map<Long, Member> members = new HashMap<>();
    final List<Message> network = new ArrayList<>();
    final Map<Long, Long> leaderOfTerm = new HashMap<>();
    final Map<Long, String> appliedAt = new HashMap<>();
    /** Read context to the highest index applied anywhere when it was requested. */
    final Map<Long, Long> readFloor = new HashMap<>();
    final Set<Long> cut = new HashSet<>();
    long nextCtx = 1;
    int proposals;
    long seed;
    long readsChecked;

    Cluster(long seed, int n, ReadOnlyOption readOption) {
      this.seed = seed;
      this.rnd = new SplittableRandom(seed);
      this.readOption = readOption;
      Set<Long> voters = new HashSet<>();
      for (long i = 1; i <= n; i++) {
        voters.add(i);
      }
      for (long i = 1; i <= n; i++) {
        RaftConfig.Builder b = RaftConfig.builder(i).electionTick(10).heartbeatTick(2)
            .maxInflightMsgs(4).maxSizePerMsg(200).readOnlyOption(readOption)
            .random(new SplittableRandom(seed * 31 + i));
        members.put(i, new Member(
            new Net.Node(i, b.build(), new MemoryStorage(ConfState.ofVoters(voters)))));
      }
    }

    void send(List<Message> msgs) {
      for (Message m : msgs) {
        if (!cut.contains(m.from()) && !cut.contains(m.to())) {
          network.add(m);
        } else {
          dropped(m);
        }
      }
    }

    void step() {
      int action = rnd.nextInt(1000);
      List<Member> all = new ArrayList<>(members.values());
      all.sort((a, b) -> Long.compare(a.node.id, b.node.id));
      Member m = all.get(rnd.nextInt(all.size()));
      if (action < 25) {
        for (Member x : all) {
          x.node.raw.tick(); // every clock runs at the same rate: leases must hold
        }
      } else if (action < 250) {
        if (m.node.raw.hasReady()) {
          Ready rd = m.node.raw.ready();
          send(rd.messages());
          m.unpersisted.add(rd);
        }
      } else if (action < 450) {
        persistOne(m);
      } else if (action < 820) {
        if (!network.isEmpty()) {
          Message msg = network.remove(rnd.nextInt(Math.min(network.size(), 4)));
          if (rnd.nextInt(20) == 0) {
            network.add(msg); // duplicate
          }
          Member to = members.get(msg.to());
          if (to != null && !cut.contains(msg.from()) && !cut.contains(msg.to())) {
            to.node.raw.step(msg);
          } else {
            dropped(msg);
          }
        }
      } else if (action < 840) {
        if (!network.isEmpty()) {
          dropped(network.remove(rnd.nextInt(network.size())));
        }
      } else if (action < 930) {
        if (m.node.raw.status().softState().role() == StateRole.LEADER) {
          try {
            m.node.raw.propose(("v" + seed + "-" + proposals++).getBytes(StandardCharsets.UTF_8));
          } catch (ProposalDroppedException e) {
            // transfers and limits: fine
          }
        }
      } else if (action < 960) {
        long ctx = nextCtx++;
        readFloor.put(ctx, members.values().stream().mapToLong(x -> x.node.appliedIndex).max().orElse(0));
        m.node.raw.readIndex(ctx);
      } else if (action < 965) {
        crash(m);
      } else if (action < 975) {
        if (cut.isEmpty()) {
          cut.add(m.node.id);
        } else {
          cut.clear();
        }
      } else if (action < 985) {
        if (m.node.appliedIndex > m.node.storage.snapshot().metadata().index() && m.node.appliedIndex > m.node.storage.firstIndex()) {
          if (TRACE) System.out.println("node " + m.node.id + " snapshots at " + m.node.appliedIndex + " " + m.node.confState);
          m.node.storage.createSnapshot(m.node.appliedIndex, m.node.confState,
              String.join("\n", m.node.state).getBytes(StandardCharsets.UTF_8));
          m.node.storage.compact(m.node.appliedIndex);
        }
      } else if (action < 990) {
        if (m.node.raw.status().softState().role() == StateRole.LEADER) {
          m.node.raw.transferLeadership(all.get(rnd.nextInt(all.size())).node.id);
        }
      } else if (action < 997) {
        membershipChange(m, all);
      } else {
        m.node.raw.campaign();
      }
      check();
    }

    void membershipChange(Member m, List<Member> all) {
      if (m.node.raw.status().softState().role() != StateRole.LEADER) {
        return;
      }
      Member target = all.get(rnd.nextInt(all.size()));
      ConfState cs = m.node.raw.status().confState();
      ConfChangeType type = cs.learners().contains(target.node.id) ? ConfChangeType.ADD_VOTER
          : cs.voters().size() > 2 ? ConfChangeType.ADD_LEARNER : ConfChangeType.ADD_VOTER;
      try {
        m.node.raw.proposeConfChange(rnd.nextBoolean() ? ConfChange.of(type, target.node.id)
            : new ConfChange(List.of(new ConfChange.Single(type, target.node.id)),
                ConfChange.Transition.JOINT_IMPLICIT, Entry.EMPTY));
      } catch (ProposalDroppedException e) {
        // one at a time
      }
    }

    /** A transport reports a snapshot it failed to deliver, as the driver contract requires. */
    void dropped(Message msg) {
      Member from = members.get(msg.from());
      if (msg instanceof Message.InstallSnapshot && from != null) {
        from.node.raw.reportSnapshot(msg.to(), false);
      }
    }

    void persistOne(Member m) {
      Ready rd = m.unpersisted.poll();
      if (rd == null) {
        return;
      }
      Net.Node n = m.node;
      send(Net.persistAndApply(n, rd, e -> {
        if (e.index() != n.appliedIndex + 1) {
          fail("seed " + seed + ": node " + n.id + " applies " + e.index() + " after " + n.appliedIndex);
        }
        String content = e.term() + "/" + e.type() + "/" + new String(e.data(), StandardCharsets.UTF_8);
        String prev = appliedAt.putIfAbsent(e.index(), content);
        if (prev != null && !prev.equals(content)) {
          fail("seed " + seed + ": index " + e.index() + " applied as " + prev + " and as " + content);
        }
      }));
      for (ReadState rs : n.readStates) {
        Long floor = readFloor.get(rs.context());
        if (floor != null && rs.index() < floor) {
          fail("seed " + seed + ": read " + rs.context() + " at " + rs.index()
              + " misses index " + floor + " applied before it was requested");
        }
        readsChecked++;
      }
      n.readStates.clear();
    }

    /** Loses everything not persisted; the state machine and its applied index survive. */
    void crash(Member m) {
      for (Ready rd : m.unpersisted) {
        rd.messagesAfterPersist().forEach(this::dropped);
      }
      m.unpersisted.clear();
      m.node.restart();
    }

    void check() {
      for (Member x : members.values()) {
        SoftState ss = x.node.raw.status().softState();
        if (ss.role() == StateRole.LEADER) {
          long term = x.node.raw.status().hardState().term();
          Long other = leaderOfTerm.putIfAbsent(term, x.node.id);
          if (TRACE && other == null) System.out.println("node " + x.node.id + " leads term " + term + " " + x.node.raw.status());
          if (other != null && other != x.node.id) {
            fail("seed " + seed + ": two leaders in term " + term + ": " + other + " and " + x.node.id);
          }
        }
      }
    }

    /** Heals everything and lets the group settle, then checks it still makes progress. */
    void settleAndCheckLiveness() {
      cut.clear();
      for (int round = 0; round < 400; round++) {
        for (Member x : members.values()) {
          x.node.raw.tick();
        }
        for (int i = 0; i < 20; i++) {
          for (Member x : members.values()) {
            while (x.node.raw.hasReady()) {
              Ready rd = x.node.raw.ready();
              send(rd.messages());
              x.unpersisted.add(rd);
            }
            while (!x.unpersisted.isEmpty()) {
              persistOne(x);
            }
          }
          List<Message> batch = new ArrayList<>(network);
          network.clear();
          for (Message msg : batch) {
            Member to = members.get(msg.to());
            if (to != null) {
              to.node.raw.step(msg);
            }
          }
          check();
        }
      }
      long leaders = members.values().stream()
          .filter(x -> x.node.raw.status().softState().role() == StateRole.LEADER).count();
      assertEquals(1, leaders, "seed " + seed + ": one leader after healing");
    }
  }

  private void run(long seeds, int steps, int n, ReadOnlyOption option) {
    long reads = 0;
    long first = Long.getLong("quorumkv.chaos.seed", 1);
    for (long seed = first; seed < first + seeds; seed++) {
      Cluster c = new Cluster(seed, n, option);
      try {
        c.members.get(1L).node.raw.campaign();
        for (int i = 0; i < steps; i++) {
          c.step();
        }
        c.settleAndCheckLiveness();
      } catch (RuntimeException e) {
        throw new AssertionError("seed " + seed + " (" + n + " nodes, " + option + "): " + e, e);
      }
      reads += c.readsChecked;
    }
    assertTrue(reads > 0, "the schedules exercised reads");
  }

  @Test
  void randomSchedulesKeepElectionAndStateMachineSafetyWithReadIndex() {
    run(LONG ? 2000 : 30, 3000, 3, ReadOnlyOption.SAFE);
  }

  @Test
  void randomSchedulesOfFiveNodesWithLeaseReads() {
    run(LONG ? 2000 : 20, 3000, 5, ReadOnlyOption.LEASE_BASED);
  }
}
