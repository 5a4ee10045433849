package io.quorumkv.transport;

import com.google.protobuf.ByteString;
import com.google.protobuf.UnsafeByteOperations;
import io.quorumkv.raft.ConfState;
import io.quorumkv.raft.Entry;
import io.quorumkv.raft.EntryType;
import io.quorumkv.raft.Message;
import io.quorumkv.raft.Snapshot;
import io.quorumkv.raft.SnapshotMetadata;
import io.quorumkv.transport.proto.GroupHeartbeat;
import io.quorumkv.transport.proto.GroupHeartbeatResponse;
import io.quorumkv.transport.proto.RaftMessage;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * Converts Raft messages to and from their protobuf form: one exhaustive switch each way.
 *
 * <p>Inbound, the switch over the protobuf {@code oneof} is exhaustive (an enum switch).
 * Outbound, entry and snapshot data are wrapped, not copied (Raft never mutates them); the
 * only copy is into the frame's buffer. Inbound, each byte field is copied once, out of the
 * frame's buffer (which the decoder aliases) into the new record's array.
 */
final class RaftCodec {

  private RaftCodec() {}

  /** Thrown for a well-formed protobuf that is not a valid Raft message. */
  static final class MalformedMessageException extends Exception {
    MalformedMessageException(String message) {
      super(message);
    }
  }

  static RaftMessage toProto(Message m) {
    RaftMessage.Builder b = RaftMessage.newBuilder().setFrom(m.from()).setTo(m.to()).setTerm(m.term());
    // Java 17 has no pattern switch: an instanceof chain, whose completeness over the sealed
    // Message is checked by RaftCodecProperties against Message.class.getPermittedSubclasses().
    if (m instanceof Message.AppendEntries a) {
      var p = io.quorumkv.transport.proto.AppendEntries.newBuilder()
          .setPrevLogIndex(a.prevLogIndex()).setPrevLogTerm(a.prevLogTerm()).setCommit(a.commit());
      for (Entry e : a.entries()) {
        p.addEntries(io.quorumkv.transport.proto.Entry.newBuilder()
            .setIndex(e.index()).setTerm(e.term()).setType(toProto(e.type()))
            .setData(wrap(e.data())));
      }
      b.setAppendEntries(p);
    } else if (m instanceof Message.AppendEntriesResponse r) {
      b.setAppendEntriesResponse(io.quorumkv.transport.proto.AppendEntriesResponse.newBuilder()
          .setReject(r.reject()).setIndex(r.index()).setRejectHint(r.rejectHint())
          .setRejectHintTerm(r.rejectHintTerm()));
    } else if (m instanceof Message.RequestVote v) {
      b.setRequestVote(io.quorumkv.transport.proto.RequestVote.newBuilder()
          .setPreVote(v.preVote()).setLastLogIndex(v.lastLogIndex())
          .setLastLogTerm(v.lastLogTerm()).setLeadershipTransfer(v.leadershipTransfer()));
    } else if (m instanceof Message.RequestVoteResponse r) {
      b.setRequestVoteResponse(io.quorumkv.transport.proto.RequestVoteResponse.newBuilder()
          .setPreVote(r.preVote()).setReject(r.reject()));
    } else if (m instanceof Message.Heartbeat h) {
      b.setHeartbeat(io.quorumkv.transport.proto.Heartbeat.newBuilder()
          .setCommit(h.commit()).setReadContext(h.readContext()));
    } else if (m instanceof Message.HeartbeatResponse r) {
      b.setHeartbeatResponse(
          io.quorumkv.transport.proto.HeartbeatResponse.newBuilder().setReadContext(r.readContext()));
    } else if (m instanceof Message.InstallSnapshot s) {
      b.setInstallSnapshot(io.quorumkv.transport.proto.InstallSnapshot.newBuilder()
          .setSnapshot(toProto(s.snapshot())));
    } else if (m instanceof Message.TimeoutNow) {
      b.setTimeoutNow(io.quorumkv.transport.proto.TimeoutNow.getDefaultInstance());
    } else if (m instanceof Message.ReadIndexRequest r) {
      b.setReadIndexRequest(
          io.quorumkv.transport.proto.ReadIndexRequest.newBuilder().setContext(r.context()));
    } else if (m instanceof Message.ReadIndexResponse r) {
      b.setReadIndexResponse(io.quorumkv.transport.proto.ReadIndexResponse.newBuilder()
          .setIndex(r.index()).setContext(r.context()));
    } else if (m instanceof Message.TransferLeadershipRequest t) {
      b.setTransferLeadershipRequest(io.quorumkv.transport.proto.TransferLeadershipRequest
          .newBuilder().setTransferee(t.transferee()));
    } else {
      throw new AssertionError("RaftCodec does not know " + m.getClass());
    }
    return b.build();
  }

  static Message fromProto(RaftMessage p) throws MalformedMessageException {
    long from = p.getFrom();
    long to = p.getTo();
    long term = p.getTerm();
    return switch (p.getKindCase()) {
      case APPEND_ENTRIES -> {
        var a = p.getAppendEntries();
        List<Entry> entries = new ArrayList<>(a.getEntriesCount());
        for (var e : a.getEntriesList()) {
          entries.add(new Entry(e.getIndex(), e.getTerm(), fromProto(e.getType()),
              e.getData().toByteArray()));
        }
        yield new Message.AppendEntries(from, to, term, a.getPrevLogIndex(), a.getPrevLogTerm(),
            entries, a.getCommit());
      }
      case APPEND_ENTRIES_RESPONSE -> {
        var r = p.getAppendEntriesResponse();
        yield new Message.AppendEntriesResponse(from, to, term, r.getReject(), r.getIndex(),
            r.getRejectHint(), r.getRejectHintTerm());
      }
      case REQUEST_VOTE -> {
        var v = p.getRequestVote();
        yield new Message.RequestVote(from, to, term, v.getPreVote(), v.getLastLogIndex(),
            v.getLastLogTerm(), v.getLeadershipTransfer());
      }
      case REQUEST_VOTE_RESPONSE -> {
        var r = p.getRequestVoteResponse();
        yield new Message.RequestVoteResponse(from, to, term, r.getPreVote(), r.getReject());
      }
      case HEARTBEAT -> new Message.Heartbeat(from, to, term, p.getHeartbeat().getCommit(),
          p.getHeartbeat().getReadContext());
      case HEARTBEAT_RESPONSE -> new Message.HeartbeatResponse(from, to, term,
          p.getHeartbeatResponse().getReadContext());
      case INSTALL_SNAPSHOT -> {
        if (!p.getInstallSnapshot().hasSnapshot()) {
          throw new MalformedMessageException("InstallSnapshot without a snapshot");
        }
        yield new Message.InstallSnapshot(from, to, term,
            fromProto(p.getInstallSnapshot().getSnapshot()));
      }
      case TIMEOUT_NOW -> new Message.TimeoutNow(from, to, term);
      case READ_INDEX_REQUEST -> new Message.ReadIndexRequest(from, to, term,
          p.getReadIndexRequest().getContext());
      case READ_INDEX_RESPONSE -> new Message.ReadIndexResponse(from, to, term,
          p.getReadIndexResponse().getIndex(), p.getReadIndexResponse().getContext());
      case TRANSFER_LEADERSHIP_REQUEST -> new Message.TransferLeadershipRequest(from, to, term,
          p.getTransferLeadershipRequest().getTransferee());
      case KIND_NOT_SET -> throw new MalformedMessageException("Raft message of no known kind");
    };
  }

  static GroupHeartbeat toProto(long groupId, Message.Heartbeat h) {
    return GroupHeartbeat.newBuilder().setGroupId(groupId).setFrom(h.from()).setTo(h.to())
        .setTerm(h.term()).setCommit(h.commit()).setReadContext(h.readContext()).build();
  }

  static Message.Heartbeat fromProto(GroupHeartbeat h) {
    return new Message.Heartbeat(h.getFrom(), h.getTo(), h.getTerm(), h.getCommit(),
        h.getReadContext());
  }

  static GroupHeartbeatResponse toProto(long groupId, Message.HeartbeatResponse r) {
    return GroupHeartbeatResponse.newBuilder().setGroupId(groupId).setFrom(r.from())
        .setTo(r.to()).setTerm(r.term()).setReadContext(r.readContext()).build();
  }

  static Message.HeartbeatResponse fromProto(GroupHeartbeatResponse r) {
    return new Message.HeartbeatResponse(r.getFrom(), r.getTo(), r.getTerm(), r.getReadContext());
  }

  private static io.quorumkv.transport.proto.Snapshot toProto(Snapshot s) {
    SnapshotMetadata m = s.metadata();
    ConfState c = m.confState();
    return io.quorumkv.transport.proto.Snapshot.newBuilder()
        .setMetadata(io.quorumkv.transport.proto.SnapshotMetadata.newBuilder()
            .setIndex(m.index()).setTerm(m.term())
            .setConfState(io.quorumkv.transport.proto.ConfState.newBuilder()
                .addAllVoters(sorted(c.voters())).addAllLearners(sorted(c.learners()))
                .addAllVotersOutgoing(sorted(c.votersOutgoing()))
                .addAllLearnersNext(sorted(c.learnersNext()))
                .setAutoLeave(c.autoLeave())))
        .setData(wrap(s.data()))
        .build();
  }

  private static Snapshot fromProto(io.quorumkv.transport.proto.Snapshot p) {
    var m = p.getMetadata();
    var c = m.getConfState();
    ConfState conf = new ConfState(new HashSet<>(c.getVotersList()),
        new HashSet<>(c.getLearnersList()), new HashSet<>(c.getVotersOutgoingList()),
        new HashSet<>(c.getLearnersNextList()), c.getAutoLeave());
    return new Snapshot(new SnapshotMetadata(m.getIndex(), m.getTerm(), conf),
        p.getData().toByteArray());
  }

  /** Sorted, so that equal messages encode to equal bytes. */
  private static List<Long> sorted(Set<Long> ids) {
    return ids.stream().sorted().toList();
  }

  private static io.quorumkv.transport.proto.EntryType toProto(EntryType t) {
    return switch (t) {
      case NORMAL -> io.quorumkv.transport.proto.EntryType.ENTRY_NORMAL;
      case CONF_CHANGE -> io.quorumkv.transport.proto.EntryType.ENTRY_CONF_CHANGE;
    };
  }

  private static EntryType fromProto(io.quorumkv.transport.proto.EntryType t)
      throws MalformedMessageException {
    return switch (t) {
      case ENTRY_NORMAL -> EntryType.NORMAL;
      case ENTRY_CONF_CHANGE -> EntryType.CONF_CHANGE;
      case UNRECOGNIZED -> throw new MalformedMessageException("unknown entry type");
    };
  }

  /** Raft never mutates an array once it is in a message, so the wire may share it. */
  static ByteString wrap(byte[] data) {
    return data.length == 0 ? ByteString.EMPTY : UnsafeByteOperations.unsafeWrap(data);
  }
}
