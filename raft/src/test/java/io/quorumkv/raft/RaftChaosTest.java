package io.quorumkv.raft;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
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

  /** One member with a driver that may lag behind its core. */
  private static final class Member {
    final long id;
    final MemoryStorage storage;
    RawNode raw;
    final ArrayDeque<Ready> unpersisted = new ArrayDeque<>();
    final List<String> state = new ArrayList<>();
    long applied;
    /** The membership as of {@code applied}: what the driver applied, not the core's view. */
    ConfState confState;

    Member(long id, MemoryStorage storage, RaftConfig config) {
      this.id = id;
      this.storage = storage;
      this.raw = new RawNode(config, storage);
      this.confState = storage.initialState().confState();
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
        members.put(i, new Member(i, new MemoryStorage(ConfState.ofVoters(voters)), config(i, 0)));
      }
    }

    RaftConfig config(long id, long applied) {
      return RaftConfig.builder(id).electionTick(10).heartbeatTick(2).applied(applied)
          .maxInflightMsgs(4).maxSizePerMsg(200).readOnlyOption(readOption)
          .random(new SplittableRandom(seed * 31 + id)).build();
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
      all.sort((a, b) -> Long.compare(a.id, b.id));
      Member m = all.get(rnd.nextInt(all.size()));
      if (action < 25) {
        for (Member x : all) {
          x.raw.tick(); // every clock runs at the same rate: leases must hold
        }
      } else if (action < 250) {
        if (m.raw.hasReady()) {
          Ready rd = m.raw.ready();
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
            to.raw.step(msg);
          } else {
            dropped(msg);
          }
        }
      } else if (action < 840) {
        if (!network.isEmpty()) {
          dropped(network.remove(rnd.nextInt(network.size())));
        }
      } else if (action < 930) {
        if (m.raw.status().softState().role() == StateRole.LEADER) {
          try {
            m.raw.propose(("v" + seed + "-" + proposals++).getBytes(StandardCharsets.UTF_8));
          } catch (ProposalDroppedException e) {
            // transfers and limits: fine
          }
        }
      } else if (action < 960) {
        long ctx = nextCtx++;
        readFloor.put(ctx, members.values().stream().mapToLong(x -> x.applied).max().orElse(0));
        m.raw.readIndex(ctx);
      } else if (action < 965) {
        crash(m);
      } else if (action < 975) {
        if (cut.isEmpty()) {
          cut.add(m.id);
        } else {
          cut.clear();
        }
      } else if (action < 985) {
        if (m.applied > m.storage.snapshot().metadata().index() && m.applied > m.storage.firstIndex()) {
          if (TRACE) System.out.println("node " + m.id + " snapshots at " + m.applied + " " + m.confState);
          m.storage.createSnapshot(m.applied, m.confState,
              String.join("\n", m.state).getBytes(StandardCharsets.UTF_8));
          m.storage.compact(m.applied);
        }
      } else if (action < 990) {
        if (m.raw.status().softState().role() == StateRole.LEADER) {
          m.raw.transferLeadership(all.get(rnd.nextInt(all.size())).id);
        }
      } else if (action < 997) {
        membershipChange(m, all);
      } else {
        m.raw.campaign();
      }
      check();
    }

    void membershipChange(Member m, List<Member> all) {
      if (m.raw.status().softState().role() != StateRole.LEADER) {
        return;
      }
      Member target = all.get(rnd.nextInt(all.size()));
      ConfState cs = m.raw.status().confState();
      ConfChangeType type = cs.learners().contains(target.id) ? ConfChangeType.ADD_VOTER
          : cs.voters().size() > 2 ? ConfChangeType.ADD_LEARNER : ConfChangeType.ADD_VOTER;
      try {
        m.raw.proposeConfChange(rnd.nextBoolean() ? ConfChange.of(type, target.id)
            : new ConfChange(List.of(new ConfChange.Single(type, target.id)),
                ConfChange.Transition.JOINT_IMPLICIT, Entry.EMPTY));
      } catch (ProposalDroppedException e) {
        // one at a time
      }
    }

    /** A transport reports a snapshot it failed to deliver, as the driver contract requires. */
    void dropped(Message msg) {
      Member from = members.get(msg.from());
      if (msg instanceof Message.InstallSnapshot && from != null) {
        from.raw.reportSnapshot(msg.to(), false);
      }
    }

    void persistOne(Member m) {
      Ready rd = m.unpersisted.poll();
      if (rd == null) {
        return;
      }
      rd.snapshot().ifPresent(s -> {
        m.storage.applySnapshot(s);
        m.state.clear();
        String data = new String(s.data(), StandardCharsets.UTF_8);
        if (!data.isEmpty()) {
          m.state.addAll(Arrays.asList(data.split("\n")));
        }
        m.applied = s.metadata().index();
        m.confState = s.metadata().confState();
        if (TRACE) System.out.println("node " + m.id + " installs snapshot " + s.metadata());
      });
      m.storage.append(rd.entries());
      rd.hardState().ifPresent(m.storage::setHardState);
      if (rd.lastEntry() != null) {
        m.raw.persisted(rd.lastEntry().index(), rd.lastEntry().term());
      }
      rd.snapshot().ifPresent(s -> m.raw.snapshotPersisted(s.metadata().index()));
      send(rd.messagesAfterPersist());
      for (Entry e : rd.committedEntries()) {
        if (e.index() != m.applied + 1) {
          fail("seed " + seed + ": node " + m.id + " applies " + e.index() + " after " + m.applied);
        }
        String content = e.term() + "/" + e.type() + "/" + new String(e.data(), StandardCharsets.UTF_8);
        String prev = appliedAt.putIfAbsent(e.index(), content);
        if (prev != null && !prev.equals(content)) {
          fail("seed " + seed + ": index " + e.index() + " applied as " + prev + " and as " + content);
        }
        if (e.type() == EntryType.CONF_CHANGE) {
          if (TRACE) System.out.println("node " + m.id + " applies " + e + " " + ConfChange.decode(e.data()).changes() + " to " + m.confState);
          m.confState = m.raw.applyConfChange(ConfChange.decode(e.data()));
          m.storage.setConfState(m.confState);
        } else if (e.data().length > 0) {
          m.state.add(new String(e.data(), StandardCharsets.UTF_8));
        }
        m.applied = e.index();
      }
      if (!rd.committedEntries().isEmpty()) {
        m.raw.applied(m.applied);
      }
      for (ReadState rs : rd.readStates()) {
        Long floor = readFloor.get(rs.context());
        if (floor != null && rs.index() < floor) {
          fail("seed " + seed + ": read " + rs.context() + " at " + rs.index()
              + " misses index " + floor + " applied before it was requested");
        }
        readsChecked++;
      }
    }

    /** Loses everything not persisted; the state machine and its applied index survive. */
    void crash(Member m) {
      if (TRACE) System.out.println("node " + m.id + " crashes, applied " + m.applied + " " + m.confState);
      for (Ready rd : m.unpersisted) {
        rd.messagesAfterPersist().forEach(this::dropped);
      }
      m.unpersisted.clear();
      m.raw = new RawNode(config(m.id, m.applied), m.storage);
    }

    void check() {
      for (Member x : members.values()) {
        SoftState ss = x.raw.status().softState();
        if (ss.role() == StateRole.LEADER) {
          long term = x.raw.status().hardState().term();
          Long other = leaderOfTerm.putIfAbsent(term, x.id);
          if (TRACE && other == null) System.out.println("node " + x.id + " leads term " + term + " " + x.raw.status());
          if (other != null && other != x.id) {
            fail("seed " + seed + ": two leaders in term " + term + ": " + other + " and " + x.id);
          }
        }
      }
    }

    /** Heals everything and lets the group settle, then checks it still makes progress. */
    void settleAndCheckLiveness() {
      cut.clear();
      for (int round = 0; round < 400; round++) {
        for (Member x : members.values()) {
          x.raw.tick();
        }
        for (int i = 0; i < 20; i++) {
          for (Member x : members.values()) {
            while (x.raw.hasReady()) {
              Ready rd = x.raw.ready();
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
              to.raw.step(msg);
            }
          }
          check();
        }
      }
      long leaders = members.values().stream()
          .filter(x -> x.raw.status().softState().role() == StateRole.LEADER).count();
      assertEquals(1, leaders, "seed " + seed + ": one leader after healing");
    }
  }

  private void run(long seeds, int steps, int n, ReadOnlyOption option) {
    long reads = 0;
    long first = Long.getLong("quorumkv.chaos.seed", 1);
    for (long seed = first; seed < first + seeds; seed++) {
      Cluster c = new Cluster(seed, n, option);
      try {
        c.members.get(1L).raw.campaign();
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
    run(LONG ? 2000 : 60, 3000, 3, ReadOnlyOption.SAFE);
  }

  @Test
  void randomSchedulesOfFiveNodesWithLeaseReads() {
    run(LONG ? 2000 : 40, 3000, 5, ReadOnlyOption.LEASE_BASED);
  }
}
