package io.quorumkv.transport;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.quorumkv.raft.ConfChange;
import io.quorumkv.raft.ConfChangeType;
import io.quorumkv.raft.ConfState;
import io.quorumkv.raft.Entry;
import io.quorumkv.raft.EntryType;
import io.quorumkv.raft.Message;
import io.quorumkv.raft.Snapshot;
import io.quorumkv.raft.SnapshotMetadata;
import java.util.List;
import java.util.Set;

/** Sample messages of every kind, and a content comparison for them. */
final class Messages {

  private Messages() {}

  /** One message of each kind, with non-default values in every field. */
  static List<Message> oneOfEach(long from, long to) {
    byte[] conf = ConfChange.of(ConfChangeType.ADD_LEARNER, 4).encode();
    return List.of(
        new Message.AppendEntries(from, to, 5, 10, 4,
            List.of(Entry.normal(11, 5, "put k v".getBytes()),
                new Entry(12, 5, EntryType.CONF_CHANGE, conf),
                Entry.normal(13, 5, Entry.EMPTY)), 9),
        new Message.AppendEntriesResponse(from, to, 5, true, 10, 7, 3),
        new Message.RequestVote(from, to, 6, true, 13, 5, true),
        new Message.RequestVoteResponse(from, to, 6, true, true),
        new Message.Heartbeat(from, to, 5, 9, 77),
        new Message.HeartbeatResponse(from, to, 5, 77),
        new Message.InstallSnapshot(from, to, 5, new Snapshot(
            new SnapshotMetadata(100, 4, new ConfState(Set.of(1L, 2L, 3L), Set.of(4L),
                Set.of(1L, 2L, 5L), Set.of(5L), true)),
            "checkpoint-100".getBytes())),
        new Message.TimeoutNow(from, to, 5),
        new Message.ReadIndexRequest(from, to, 5, 123),
        new Message.ReadIndexResponse(from, to, 5, 99, 123),
        new Message.TransferLeadershipRequest(from, to, 5, 3));
  }

  /** Equality by content (records compare a snapshot's byte array by identity). */
  static void assertSameMessage(Message expected, Message actual) {
    if (expected instanceof Message.InstallSnapshot e
        && actual instanceof Message.InstallSnapshot a) {
      assertEquals(List.of(e.from(), e.to(), e.term()), List.of(a.from(), a.to(), a.term()));
      assertEquals(e.snapshot().metadata(), a.snapshot().metadata());
      assertArrayEquals(e.snapshot().data(), a.snapshot().data());
    } else {
      assertEquals(expected, actual);
    }
  }
}
