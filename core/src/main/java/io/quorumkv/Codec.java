package io.quorumkv;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * The compact binary encoding of log commands, client requests and responses. Every message
 * starts with a format byte; integers are big-endian fixed width, byte strings are length-prefixed.
 * Decoding checks every length against what is left, so a malformed message is an
 * {@link IllegalArgumentException}, never an out-of-memory error or a wrong value.
 */
final class Codec {
  private Codec() {}

  static final byte FORMAT = 1;
  /** The enums decoded by ordinal, copied once ({@code values()} copies its array on every call). */
  private static final ReadConsistency[] CONSISTENCIES = ReadConsistency.values();
  private static final KvResponse.Code[] FAILURE_CODES = KvResponse.Code.values();
  /** The smallest encoded write: session (24 bytes), op tag, and a delete's empty key. */
  private static final int MIN_WRITE_BYTES = 24 + 1 + 4;

  // ---- log commands ----

  static byte[] encodeCommand(Command.Stamped stamped) {
    Command cmd = stamped.command();
    Writer w = new Writer(commandSize(cmd));
    w.u8(FORMAT).i64(stamped.stampMillis());
    if (cmd instanceof Command.Write c) {
      w.u8(1);
      writeWrite(w, c);
    } else if (cmd instanceof Command.Writes c) {
      w.u8(7).i32(c.writes().size());
      for (Command.Write one : c.writes()) {
        writeWrite(w, one);
      }
    } else if (cmd instanceof Command.Split c) {
      w.u8(2).bytes(c.splitKey()).i64(c.newPartitionId());
    } else if (cmd instanceof Command.Freeze c) {
      w.u8(5).i64(c.intoPartition());
    } else if (cmd instanceof Command.Merge c) {
      w.u8(6).i64(c.rightPartition()).bytes(c.seed());
    } else if (cmd instanceof Command.SetNodeState c) {
      w.u8(4).i64(c.nodeId()).str(c.address()).bool(c.decommissioning());
    } else {
      w.u8(3); // CheckHash
    }
    return w.toArray();
  }

  /** Bytes of a packed entry's header: format, stamp, tag and count. */
  static final int WRITES_HEADER_BYTES = 1 + 8 + 1 + 4;

  /** The exact encoded size of one write inside a command (session and operation). */
  static int writeSize(Command.Write w) {
    return 24 + opSize(w.op());
  }

  private static int commandSize(Command c) {
    if (c instanceof Command.Write w) {
      return 10 + writeSize(w);
    }
    if (c instanceof Command.Writes ws) {
      int n = WRITES_HEADER_BYTES;
      for (Command.Write w : ws.writes()) {
        n += writeSize(w);
      }
      return n;
    }
    return 64;
  }

  private static void writeWrite(Writer w, Command.Write c) {
    w.i64(c.clientId()).i64(c.seq()).i64(c.ackedBelow());
    writeOp(w, c.op());
  }

  private static Command.Write readWrite(Reader r) {
    return new Command.Write(r.i64(), r.i64(), r.i64(), readOp(r));
  }

  static Command.Stamped decodeCommand(byte[] data) {
    Reader r = new Reader(data, "command");
    r.format();
    long stamp = r.i64();
    int tag = r.u8();
    Command c = switch (tag) {
      case 1 -> readWrite(r);
      case 7 -> {
        int n = r.count(MIN_WRITE_BYTES);
        if (n == 0) {
          throw r.bad("a packed entry holds no write");
        }
        List<Command.Write> writes = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
          writes.add(readWrite(r));
        }
        yield new Command.Writes(writes);
      }
      case 2 -> new Command.Split(r.bytes(), r.i64());
      case 3 -> new Command.CheckHash();
      case 4 -> new Command.SetNodeState(r.i64(), r.str(), r.bool());
      case 5 -> new Command.Freeze(r.i64());
      case 6 -> new Command.Merge(r.i64(), r.bytes());
      default -> throw r.bad("unknown command tag " + tag);
    };
    r.end();
    return new Command.Stamped(stamp, c);
  }

  private static void writeOp(Writer w, WriteOp op) {
    if (op instanceof WriteOp.Put p) {
      w.u8(1).bytes(p.key()).bytes(p.value());
    } else if (op instanceof WriteOp.Delete d) {
      w.u8(2).bytes(d.key());
    } else if (op instanceof WriteOp.Cas c) {
      w.u8(3).bytes(c.key()).optBytes(c.expected()).bytes(c.value());
    } else {
      WriteOp.Batch b = (WriteOp.Batch) op;
      w.u8(4).i32(b.ops().size());
      for (BatchOp o : b.ops()) {
        if (o instanceof BatchOp.Put p) {
          w.u8(1).bytes(p.key()).bytes(p.value());
        } else if (o instanceof BatchOp.Delete d) {
          w.u8(2).bytes(d.key());
        } else {
          BatchOp.Expect e = (BatchOp.Expect) o;
          w.u8(3).bytes(e.key()).optBytes(e.value());
        }
      }
    }
  }

  private static WriteOp readOp(Reader r) {
    int tag = r.u8();
    return switch (tag) {
      case 1 -> new WriteOp.Put(r.bytes(), r.bytes());
      case 2 -> new WriteOp.Delete(r.bytes());
      case 3 -> new WriteOp.Cas(r.bytes(), r.optBytes(), r.bytes());
      case 4 -> {
        int n = r.count(2);
        List<BatchOp> ops = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
          int t = r.u8();
          ops.add(switch (t) {
            case 1 -> new BatchOp.Put(r.bytes(), r.bytes());
            case 2 -> new BatchOp.Delete(r.bytes());
            case 3 -> new BatchOp.Expect(r.bytes(), r.optBytes());
            default -> throw r.bad("unknown batch op tag " + t);
          });
        }
        yield new WriteOp.Batch(ops);
      }
      default -> throw r.bad("unknown write op tag " + tag);
    };
  }

  // ---- requests ----

  static byte[] encodeRequest(KvRequest request) {
    Writer w = new Writer(request instanceof KvRequest.Write c ? 26 + opSize(c.op()) : 64);
    w.u8(FORMAT);
    writeRequest(w, request);
    return w.toArray();
  }

  /**
   * A {@link KvRequest.Multi} built from items already encoded by {@link #encodeRequest} (a client
   * encodes each request once, on the caller's thread, and its I/O thread only concatenates them):
   * the same bytes as encoding the multi itself.
   */
  static byte[] encodeMulti(List<byte[]> encodedItems, long[] timeoutMillis) {
    int size = 6;
    for (byte[] item : encodedItems) {
      size += 8 + item.length - 1;
    }
    Writer w = new Writer(size);
    w.u8(FORMAT).u8(10).i32(encodedItems.size());
    for (int i = 0; i < encodedItems.size(); i++) {
      byte[] item = encodedItems.get(i);
      // Each item's body without its own format byte, behind its length.
      w.i32(clampMillis(timeoutMillis[i])).i32(item.length - 1).raw(item, 1, item.length - 1);
    }
    return w.toArray();
  }

  private static int clampMillis(long millis) {
    return (int) Math.max(1, Math.min(Integer.MAX_VALUE, millis));
  }

  static KvRequest decodeRequest(byte[] data) {
    Reader r = new Reader(data, "request");
    r.format();
    KvRequest q = readRequest(r);
    r.end();
    return q;
  }

  private static void writeRequest(Writer w, KvRequest request) {
    if (request instanceof KvRequest.Get g) {
      w.u8(1).bytes(g.key()).u8(g.consistency().ordinal());
    } else if (request instanceof KvRequest.Scan s) {
      w.u8(2).bytes(s.from()).bytes(s.to()).i32(s.limit()).u8(s.consistency().ordinal());
    } else if (request instanceof KvRequest.Write c) {
      w.u8(3).i64(c.clientId()).i64(c.seq()).i64(c.ackedBelow());
      writeOp(w, c.op());
    } else if (request instanceof KvRequest.Status) {
      w.u8(4);
    } else if (request instanceof KvRequest.Directory d) {
      w.u8(8).i64(d.round()).i64(d.heldRound());
    } else if (request instanceof KvRequest.Routes) {
      w.u8(9);
    } else if (request instanceof KvRequest.Admin a) {
      w.u8(5);
      writeAdmin(w, a.op());
    } else if (request instanceof KvRequest.ForPartition f) {
      w.u8(6).i64(f.partitionId());
      writeRequest(w, f.inner());
    } else if (request instanceof KvRequest.Multi m) {
      w.u8(10).i32(m.items().size());
      for (KvRequest.Multi.Item item : m.items()) {
        w.i32(clampMillis(item.timeoutMillis()));
        int at = w.length();
        w.i32(0);
        writeRequest(w, item.request());
        w.patchI32(at, w.length() - at - 4);
      }
    } else if (request instanceof KvRequest.CheckReplicas c) {
      w.u8(11).i64(c.waitMillis());
    } else {
      KvRequest.Group g = (KvRequest.Group) request;
      w.u8(7).i64(g.partitionId());
      KvRequest.GroupCommand c = g.command();
      if (c instanceof KvRequest.GroupCommand.ReadIndex) {
        w.u8(1);
      } else if (c instanceof KvRequest.GroupCommand.TransferLeader t) {
        w.u8(2).i64(t.toNode());
      } else if (c instanceof KvRequest.GroupCommand.ChangeMember m) {
        w.u8(3).u8(m.type().ordinal()).i64(m.nodeId()).str(m.address()).i32(m.minVoters());
      } else if (c instanceof KvRequest.GroupCommand.Split sp) {
        w.u8(4).bytes(sp.splitKey()).i64(sp.newPartitionId());
      } else if (c instanceof KvRequest.GroupCommand.CheckHash) {
        w.u8(5);
      } else if (c instanceof KvRequest.GroupCommand.MergeInto m) {
        w.u8(8).i64(m.leftPartition());
      } else if (c instanceof KvRequest.GroupCommand.Absorb a) {
        w.u8(9).i64(a.rightPartition()).bytes(a.seed());
      } else if (c instanceof KvRequest.GroupCommand.SetNodeState n) {
        w.u8(7).i64(n.nodeId()).str(n.address()).bool(n.decommissioning());
      } else {
        KvRequest.GroupCommand.ReportHash h = (KvRequest.GroupCommand.ReportHash) c;
        w.u8(6).i64(h.index()).i64(h.hash()).i64(h.fromNode());
      }
    }
  }

  private static KvRequest readRequest(Reader r) {
    int tag = r.u8();
    return switch (tag) {
      case 1 -> new KvRequest.Get(r.bytes(), r.consistency());
      case 2 -> new KvRequest.Scan(r.bytes(), r.bytes(), r.i32(), r.consistency());
      case 3 -> new KvRequest.Write(r.i64(), r.i64(), r.i64(), readOp(r));
      case 4 -> new KvRequest.Status();
      case 9 -> new KvRequest.Routes();
      case 5 -> new KvRequest.Admin(readAdmin(r));
      case 6 -> {
        long p = r.i64();
        int innerTag = r.peekU8();
        if (innerTag == 6) {
          throw r.bad("nested forwarded request");
        }
        yield new KvRequest.ForPartition(p, readRequest(r));
      }
      case 7 -> {
        long p = r.i64();
        int t = r.u8();
        KvRequest.GroupCommand c = switch (t) {
          case 1 -> new KvRequest.GroupCommand.ReadIndex();
          case 2 -> new KvRequest.GroupCommand.TransferLeader(r.i64());
          case 3 -> {
            int type = r.u8();
            if (type >= io.quorumkv.raft.ConfChangeType.values().length) {
              throw r.bad("unknown change type " + type);
            }
            yield new KvRequest.GroupCommand.ChangeMember(io.quorumkv.raft.ConfChangeType.values()[type], r.i64(), r.str(),
                r.i32());
          }
          case 4 -> new KvRequest.GroupCommand.Split(r.bytes(), r.i64());
          case 5 -> new KvRequest.GroupCommand.CheckHash();
          case 6 -> new KvRequest.GroupCommand.ReportHash(r.i64(), r.i64(), r.i64());
          case 7 -> new KvRequest.GroupCommand.SetNodeState(r.i64(), r.str(), r.bool());
          case 8 -> new KvRequest.GroupCommand.MergeInto(r.i64());
          case 9 -> new KvRequest.GroupCommand.Absorb(r.i64(), r.bytes());
          default -> throw r.bad("unknown group command " + t);
        };
        yield new KvRequest.Group(p, c);
      }
      case 8 -> new KvRequest.Directory(r.i64(), r.i64());
      case 10 -> readMulti(r);
      case 11 -> new KvRequest.CheckReplicas(r.i64());
      default -> throw r.bad("unknown request tag " + tag);
    };
  }

  /** A multi's items: each a get or a write, exactly as long as its length says. */
  private static KvRequest.Multi readMulti(Reader r) {
    if (r.size() > KvRequest.Multi.MAX_BYTES) {
      throw r.bad("a multi of " + r.size() + " bytes is over the limit of " + KvRequest.Multi.MAX_BYTES);
    }
    int n = r.count(9);
    if (n == 0 || n > KvRequest.Multi.MAX_ITEMS) {
      throw r.bad("a multi of " + n + " items (1 to " + KvRequest.Multi.MAX_ITEMS + " allowed)");
    }
    List<KvRequest.Multi.Item> items = new ArrayList<>(n);
    for (int i = 0; i < n; i++) {
      int timeout = r.i32();
      if (timeout <= 0) {
        throw r.bad("item " + i + " of a multi has timeout " + timeout + " ms");
      }
      int length = r.i32();
      r.need(length);
      int start = r.position();
      int itemTag = r.peekU8();
      if (itemTag == 10) {
        throw r.bad("item " + i + " of a multi is a nested multi");
      }
      if (itemTag != 1 && itemTag != 3) {
        throw r.bad("item " + i + " of a multi is not a get or a write (request tag " + itemTag + ")");
      }
      KvRequest q = readRequest(r);
      if (r.position() - start != length) {
        throw r.bad("item " + i + " of a multi took " + (r.position() - start) + " bytes, its length says " + length);
      }
      items.add(new KvRequest.Multi.Item(q, timeout));
    }
    return new KvRequest.Multi(items);
  }

  private static void writeAdmin(Writer w, AdminOp op) {
    if (op instanceof AdminOp.TransferLeader t) {
      w.u8(1).i64(t.partitionId()).i64(t.toNode());
    } else if (op instanceof AdminOp.AddNode a) {
      w.u8(2).i64(a.nodeId()).str(a.address()).bool(a.learnerOnly());
    } else if (op instanceof AdminOp.Promote p) {
      w.u8(3).i64(p.nodeId());
    } else if (op instanceof AdminOp.RemoveNode n) {
      w.u8(4).i64(n.nodeId());
    } else if (op instanceof AdminOp.Split s) {
      w.u8(5).bytes(s.splitKey());
    } else if (op instanceof AdminOp.Merge m) {
      w.u8(8).bytes(m.key());
    } else if (op instanceof AdminOp.Decommission d) {
      w.u8(7).i64(d.nodeId());
    } else {
      AdminOp.InjectFault f = (AdminOp.InjectFault) op;
      w.u8(6).i64(f.nodeId());
      Fault fault = f.fault();
      if (fault instanceof Fault.Partition p) {
        w.u8(1).i32(p.sides().size());
        p.sides().forEach(w::longs);
      } else if (fault instanceof Fault.BlockOneWay b) {
        w.u8(2).i64(b.from()).i64(b.to());
      } else if (fault instanceof Fault.DropRate d) {
        w.u8(3).i64(d.from()).i64(d.to()).i64(Double.doubleToLongBits(d.probability()));
      } else if (fault instanceof Fault.Delay d) {
        w.u8(4).i64(d.from()).i64(d.to()).i64(d.delay().toNanos());
      } else {
        w.u8(5); // Heal
      }
    }
  }

  private static AdminOp readAdmin(Reader r) {
    int tag = r.u8();
    return switch (tag) {
      case 1 -> new AdminOp.TransferLeader(r.i64(), r.i64());
      case 2 -> new AdminOp.AddNode(r.i64(), r.str(), r.bool());
      case 3 -> new AdminOp.Promote(r.i64());
      case 4 -> new AdminOp.RemoveNode(r.i64());
      case 5 -> new AdminOp.Split(r.bytes());
      case 7 -> new AdminOp.Decommission(r.i64());
      case 8 -> new AdminOp.Merge(r.bytes());
      case 6 -> {
        long node = r.i64();
        int t = r.u8();
        Fault f = switch (t) {
          case 1 -> {
            int n = r.count(4);
            List<Set<Long>> sides = new ArrayList<>(n);
            for (int i = 0; i < n; i++) {
              sides.add(r.longs());
            }
            yield new Fault.Partition(sides);
          }
          case 2 -> new Fault.BlockOneWay(r.i64(), r.i64());
          case 3 -> new Fault.DropRate(r.i64(), r.i64(), Double.longBitsToDouble(r.i64()));
          case 4 -> new Fault.Delay(r.i64(), r.i64(), Duration.ofNanos(r.i64()));
          case 5 -> new Fault.Heal();
          default -> throw r.bad("unknown fault tag " + t);
        };
        yield new AdminOp.InjectFault(node, f);
      }
      default -> throw r.bad("unknown admin tag " + tag);
    };
  }

  // ---- responses ----

  static byte[] encodeResponse(KvResponse response) {
    Writer w = new Writer(1 + responseSize(response));
    w.u8(FORMAT);
    writeResponse(w, response);
    return w.toArray();
  }

  /**
   * The encoded size of the answers a node sends most (reads, writes, and multis of them), so that
   * a multi's answer of many values is written into one buffer of the right size rather than one
   * grown by doubling; a guess for the rest (the writer grows if it is short).
   */
  static int responseSize(KvResponse response) {
    if (response instanceof KvResponse.Multi m) {
      int n = 1 + 4;
      for (KvResponse a : m.answers()) {
        n += responseSize(a);
      }
      return n;
    }
    if (response instanceof KvResponse.Read rd) {
      return 1 + 1 + rd.result().value().map(v -> 4 + v.length).orElse(0) + 1 + 4 * 8;
    }
    if (response instanceof KvResponse.Written) {
      return 2;
    }
    if (response instanceof KvResponse.Failure f) {
      // Characters as bytes: exact for ASCII messages and addresses; the writer grows otherwise.
      return 1 + 1 + 4 + f.message().length() + 8 + 8 + 4 + f.hintAddress().length() + 1;
    }
    return 64;
  }

  private static void writeResponse(Writer w, KvResponse response) {
    if (response instanceof KvResponse.Multi m) {
      w.u8(9).i32(m.answers().size());
      for (KvResponse a : m.answers()) {
        writeResponse(w, a);
      }
    } else if (response instanceof KvResponse.Read rd) {
      ReadResult x = rd.result();
      w.u8(1).optBytes(x.value()).u8(x.consistency().ordinal()).i64(x.partitionId())
          .i64(x.servedBy()).i64(x.appliedIndex()).i64(x.sinceLeaderContact().toNanos());
    } else if (response instanceof KvResponse.Scanned s) {
      w.u8(2).i32(s.entries().size());
      for (KeyValue kv : s.entries()) {
        w.bytes(kv.key()).bytes(kv.value());
      }
    } else if (response instanceof KvResponse.Written wr) {
      w.u8(3).bool(wr.result());
    } else if (response instanceof KvResponse.StatusReport s) {
      ClusterStatus c = s.status();
      w.u8(4).i64(c.nodeId()).i32(c.members().size());
      c.members().entrySet().stream().sorted(Map.Entry.comparingByKey())
          .forEach(e -> w.i64(e.getKey()).str(e.getValue()));
      w.i32(c.partitions().size());
      for (PartitionStatus p : c.partitions()) {
        w.i64(p.partitionId()).str(p.keys()).i64(p.leader()).i64(p.term()).i64(p.commitIndex())
            .i64(p.appliedIndex()).longs(p.voters()).longs(p.learners());
      }
      // Last, and optional on reading: an older node's answer still decodes.
      w.longs(c.preferredLeaders()).i32(c.preferredLeadersMismatch().size());
      c.preferredLeadersMismatch().entrySet().stream().sorted(Map.Entry.comparingByKey())
          .forEach(e -> w.i64(e.getKey()).longs(e.getValue()));
    } else if (response instanceof KvResponse.AdminDone a) {
      w.u8(5).i64(a.value());
    } else if (response instanceof KvResponse.DirectoryUnchanged) {
      w.u8(11);
    } else if (response instanceof KvResponse.DirectoryReport d) {
      w.u8(7).i64(d.nodeId()).i32(d.replicas().size());
      for (KvResponse.ReplicaReport x : d.replicas()) {
        w.i64(x.partitionId()).bytes(x.span()).i64(x.leader()).i64(x.term()).i64(x.appliedIndex())
            .i64(x.keyCount()).bool(x.frozen()).longs(x.voters()).longs(x.learners()).longs(x.absorbed());
      }
      w.i32(d.addresses().size());
      d.addresses().entrySet().stream().sorted(Map.Entry.comparingByKey()).forEach(e -> w.i64(e.getKey()).str(e.getValue()));
      // Last, and optional on reading: a report without them (an older node's) still decodes. The
      // fenced partitions only after the preferred leaders, and only when there are any.
      d.preferredLeaders().ifPresent(w::longs);
      if (d.preferredLeaders().isPresent() && !d.fenced().isEmpty()) {
        w.longs(d.fenced());
      }
    } else if (response instanceof KvResponse.RouteTable t) {
      w.u8(8).i32(t.routes().size());
      for (KvResponse.Route route : t.routes()) {
        w.i64(route.partitionId());
        if (route.span() instanceof KeySpan.HashSlot h) {
          w.u8(1).i64(h.partitionId()).i32(h.partitions());
        } else {
          KeySpan.Range range = (KeySpan.Range) route.span();
          w.u8(2).bytes(range.start()).bytes(range.end());
        }
        w.str(route.leaderAddress());
      }
      // Last, and optional on reading: an older node's table (routes only) still decodes.
      w.i32(t.members().size());
      t.members().entrySet().stream().sorted(Map.Entry.comparingByKey()).forEach(e -> w.i64(e.getKey()).str(e.getValue()));
    } else if (response instanceof KvResponse.ReplicaCheck c) {
      writeReplicaHashes(w.u8(10), c.hashes());
    } else {
      KvResponse.Failure f = (KvResponse.Failure) response;
      w.u8(6).u8(f.code().ordinal()).str(f.message()).i64(f.partitionId()).i64(f.hint())
          .str(f.hintAddress()).bool(f.outcomeUnknown());
    }
  }

  static KvResponse decodeResponse(byte[] data) {
    Reader r = new Reader(data, "response");
    r.format();
    KvResponse resp = readResponse(r);
    r.end();
    return resp;
  }

  private static KvResponse readResponse(Reader r) {
    int tag = r.u8();
    return switch (tag) {
      case 9 -> {
        int n = r.count(2);
        List<KvResponse> answers = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
          int itemTag = r.peekU8();
          if (itemTag == 9) {
            throw r.bad("answer " + i + " of a multi is a nested multi");
          }
          if (itemTag == 4 || itemTag == 7) {
            // Their last fields are optional, read only when the message ends there.
            throw r.bad("answer " + i + " of a multi is a status or directory report");
          }
          if (itemTag == 8) {
            throw r.bad("answer " + i + " of a multi is a route table"); // its members are optional too
          }
          answers.add(readResponse(r));
        }
        yield new KvResponse.Multi(answers);
      }
      case 1 -> new KvResponse.Read(new ReadResult(r.optBytes(), r.consistency(), r.i64(), r.i64(),
          r.i64(), Duration.ofNanos(r.i64())));
      case 2 -> {
        int n = r.count(8);
        List<KeyValue> kvs = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
          kvs.add(new KeyValue(r.bytes(), r.bytes()));
        }
        yield new KvResponse.Scanned(kvs);
      }
      case 3 -> new KvResponse.Written(r.bool());
      case 4 -> {
        long node = r.i64();
        int n = r.count(12);
        Map<Long, String> members = new LinkedHashMap<>();
        for (int i = 0; i < n; i++) {
          members.put(r.i64(), r.str());
        }
        int np = r.count(48);
        List<PartitionStatus> parts = new ArrayList<>(np);
        for (int i = 0; i < np; i++) {
          parts.add(new PartitionStatus(r.i64(), r.str(), r.i64(), r.i64(), r.i64(), r.i64(),
              r.longs(), r.longs()));
        }
        Set<Long> preferred = Set.of();
        Map<Long, Set<Long>> mismatch = new LinkedHashMap<>();
        if (!r.atEnd()) {
          preferred = r.longs();
          int nm = r.count(12);
          for (int i = 0; i < nm; i++) {
            mismatch.put(r.i64(), r.longs());
          }
        }
        yield new KvResponse.StatusReport(new ClusterStatus(node, members, parts, preferred, mismatch));
      }
      case 5 -> new KvResponse.AdminDone(r.i64());
      case 7 -> {
        long node = r.i64();
        int n = r.count(40);
        List<KvResponse.ReplicaReport> reps = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
          reps.add(new KvResponse.ReplicaReport(r.i64(), r.bytes(), r.i64(), r.i64(), r.i64(), r.i64(), r.bool(),
              r.longs(), r.longs(), r.longs()));
        }
        int na = r.count(12);
        Map<Long, String> addresses = new LinkedHashMap<>();
        for (int i = 0; i < na; i++) {
          addresses.put(r.i64(), r.str());
        }
        Optional<Set<Long>> preferred = r.atEnd() ? Optional.empty() : Optional.of(r.longs());
        yield new KvResponse.DirectoryReport(node, reps, addresses, preferred, r.atEnd() ? Set.of() : r.longs());
      }
      case 8 -> {
        int n = r.count(14);
        List<KvResponse.Route> routes = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
          long id = r.i64();
          int kind = r.u8();
          KeySpan span = switch (kind) {
            case 1 -> new KeySpan.HashSlot(r.i64(), r.i32());
            case 2 -> new KeySpan.Range(r.bytes(), r.bytes());
            default -> throw r.bad("unknown key span tag " + kind);
          };
          routes.add(new KvResponse.Route(id, span, r.str()));
        }
        Map<Long, String> members = new LinkedHashMap<>();
        if (!r.atEnd()) {
          int nm = r.count(12);
          for (int i = 0; i < nm; i++) {
            members.put(r.i64(), r.str());
          }
        }
        yield new KvResponse.RouteTable(routes, members);
      }
      case 6 -> {
        int code = r.u8();
        if (code >= FAILURE_CODES.length) {
          throw r.bad("unknown failure code " + code);
        }
        yield new KvResponse.Failure(FAILURE_CODES[code], r.str(), r.i64(), r.i64(), r.str(),
            r.bool());
      }
      case 10 -> new KvResponse.ReplicaCheck(readReplicaHashes(r));
      case 11 -> new KvResponse.DirectoryUnchanged();
      default -> throw r.bad("unknown response tag " + tag);
    };
  }

  private static void writeReplicaHashes(Writer w, ReplicaHashes h) {
    w.i64(h.nodeId()).i32(h.checked().size());
    for (PartitionHashes p : h.checked()) {
      w.i64(p.partitionId()).i64(p.index()).i64(p.leader()).longs(p.replicas()).i32(p.hashes().size());
      p.hashes().entrySet().stream().sorted(Map.Entry.comparingByKey()).forEach(e -> w.i64(e.getKey()).i64(e.getValue()));
      w.longs(p.fenced());
    }
    w.i32(h.unchecked().size());
    h.unchecked().entrySet().stream().sorted(Map.Entry.comparingByKey()).forEach(e -> w.i64(e.getKey()).str(e.getValue()));
    w.i32(h.fenced().size());
    h.fenced().entrySet().stream().sorted(Map.Entry.comparingByKey()).forEach(e -> w.i64(e.getKey()).i64(e.getValue()));
    // Last, and optional on reading: an older node's answer (no account of the missing hashes) still decodes.
    for (PartitionHashes p : h.checked()) {
      w.i32(p.unreported().size());
      p.unreported().entrySet().stream().sorted(Map.Entry.comparingByKey()).forEach(e -> w.i64(e.getKey()).str(e.getValue()));
    }
  }

  private static ReplicaHashes readReplicaHashes(Reader r) {
    long node = r.i64();
    int n = r.count(40);
    List<PartitionHashes> checked = new ArrayList<>(n);
    for (int i = 0; i < n; i++) {
      long partition = r.i64();
      long index = r.i64();
      long leader = r.i64();
      Set<Long> replicas = r.longs();
      int nh = r.count(16);
      Map<Long, Long> hashes = new LinkedHashMap<>();
      for (int j = 0; j < nh; j++) {
        hashes.put(r.i64(), r.i64());
      }
      checked.add(new PartitionHashes(partition, index, leader, replicas, hashes, r.longs()));
    }
    int nu = r.count(12);
    Map<Long, String> unchecked = new LinkedHashMap<>();
    for (int i = 0; i < nu; i++) {
      unchecked.put(r.i64(), r.str());
    }
    int nf = r.count(16);
    Map<Long, Long> fenced = new LinkedHashMap<>();
    for (int i = 0; i < nf; i++) {
      fenced.put(r.i64(), r.i64());
    }
    if (!r.atEnd()) {
      for (int i = 0; i < checked.size(); i++) {
        int nr = r.count(12);
        Map<Long, String> unreported = new LinkedHashMap<>();
        for (int j = 0; j < nr; j++) {
          unreported.put(r.i64(), r.str());
        }
        PartitionHashes p = checked.get(i);
        checked.set(i, new PartitionHashes(p.partitionId(), p.index(), p.leader(), p.replicas(), p.hashes(), p.fenced(),
            unreported));
      }
    }
    return new ReplicaHashes(node, checked, unchecked, fenced);
  }

  // ---- primitives ----

  /** A growable big-endian buffer. */
  static final class Writer {
    private byte[] buf;
    private int len;

    Writer() {
      this(64);
    }

    /** A writer sized for about {@code expectedBytes}: no regrowth when the guess holds. */
    Writer(int expectedBytes) {
      buf = new byte[Math.max(16, expectedBytes)];
    }

    private void ensure(int n) {
      if (len + n > buf.length) {
        buf = Arrays.copyOf(buf, Math.max(buf.length * 2, len + n));
      }
    }

    Writer u8(int v) {
      ensure(1);
      buf[len++] = (byte) v;
      return this;
    }

    Writer bool(boolean v) {
      return u8(v ? 1 : 0);
    }

    Writer i32(int v) {
      ensure(4);
      for (int s = 24; s >= 0; s -= 8) {
        buf[len++] = (byte) (v >>> s);
      }
      return this;
    }

    Writer i64(long v) {
      ensure(8);
      for (int s = 56; s >= 0; s -= 8) {
        buf[len++] = (byte) (v >>> s);
      }
      return this;
    }

    Writer bytes(byte[] b) {
      i32(b.length);
      ensure(b.length);
      System.arraycopy(b, 0, buf, len, b.length);
      len += b.length;
      return this;
    }

    /** {@code n} bytes of {@code b} from {@code off}, without a length. */
    Writer raw(byte[] b, int off, int n) {
      ensure(n);
      System.arraycopy(b, off, buf, len, n);
      len += n;
      return this;
    }

    /** How many bytes were written so far. */
    int length() {
      return len;
    }

    /** Overwrites the four bytes at {@code at} (written earlier) with {@code v}. */
    void patchI32(int at, int v) {
      for (int i = 0; i < 4; i++) {
        buf[at + i] = (byte) (v >>> (24 - 8 * i));
      }
    }

    Writer optBytes(Optional<byte[]> b) {
      bool(b.isPresent());
      b.ifPresent(this::bytes);
      return this;
    }

    Writer str(String s) {
      return bytes(s.getBytes(StandardCharsets.UTF_8));
    }

    Writer longs(Set<Long> s) {
      int n = s.size();
      i32(n);
      if (n == 1) {
        return i64(s.iterator().next());
      }
      // Sorted, so that equal sets encode alike (directory answers are compared byte for byte);
      // without a stream: a directory report writes three sets for each of its replicas.
      long[] sorted = new long[n];
      int i = 0;
      for (long v : s) {
        sorted[i++] = v;
      }
      Arrays.sort(sorted);
      for (long v : sorted) {
        i64(v);
      }
      return this;
    }

    /** The bytes written; the buffer itself when it is exactly full (the writer is done then). */
    byte[] toArray() {
      return len == buf.length ? buf : Arrays.copyOf(buf, len);
    }
  }

  /**
   * The exact encoded size of an operation; the commands and requests around an operation add a
   * fixed header (see their encoders). Exact for batches too: it bounds the bytes of a packed entry.
   */
  static int opSize(WriteOp op) {
    if (op instanceof WriteOp.Put p) {
      return 1 + 4 + p.key().length + 4 + p.value().length;
    }
    if (op instanceof WriteOp.Delete d) {
      return 1 + 4 + d.key().length;
    }
    if (op instanceof WriteOp.Cas c) {
      return 1 + 4 + c.key().length + 1 + c.expected().map(e -> 4 + e.length).orElse(0) + 4 + c.value().length;
    }
    int n = 1 + 4;
    for (BatchOp o : ((WriteOp.Batch) op).ops()) {
      n += 1 + 4 + o.key().length;
      if (o instanceof BatchOp.Put p) {
        n += 4 + p.value().length;
      } else if (o instanceof BatchOp.Expect e) {
        n += 1 + e.value().map(v -> 4 + v.length).orElse(0);
      }
    }
    return n;
  }

  /** A bounds-checked reader over one message. */
  static final class Reader {
    private final byte[] buf;
    private final String what;
    private int pos;

    Reader(byte[] buf, String what) {
      this.buf = buf;
      this.what = what;
    }

    IllegalArgumentException bad(String why) {
      return new IllegalArgumentException("malformed " + what + " at byte " + pos + ": " + why);
    }

    /** The whole message's length. */
    int size() {
      return buf.length;
    }

    /** How many bytes were read so far. */
    int position() {
      return pos;
    }

    void need(int n) {
      if (n < 0 || buf.length - pos < n) {
        throw bad("needs " + n + " bytes, " + (buf.length - pos) + " left");
      }
    }

    void format() {
      int f = u8();
      if (f != FORMAT) {
        throw bad("unknown format version " + f + " (this node reads format " + FORMAT + ": written by another version?)");
      }
    }

    int peekU8() {
      need(1);
      return buf[pos] & 0xFF;
    }

    int u8() {
      need(1);
      return buf[pos++] & 0xFF;
    }

    boolean bool() {
      int b = u8();
      if (b > 1) {
        throw bad("boolean byte " + b);
      }
      return b == 1;
    }

    int i32() {
      need(4);
      int v = 0;
      for (int i = 0; i < 4; i++) {
        v = (v << 8) | (buf[pos++] & 0xFF);
      }
      return v;
    }

    long i64() {
      need(8);
      long v = 0;
      for (int i = 0; i < 8; i++) {
        v = (v << 8) | (buf[pos++] & 0xFF);
      }
      return v;
    }

    /** A count of items each at least {@code minItemBytes} long, checked against what is left. */
    int count(int minItemBytes) {
      int n = i32();
      if (n < 0 || (long) n * minItemBytes > buf.length - pos) {
        throw bad("count " + n + " does not fit in " + (buf.length - pos) + " bytes");
      }
      return n;
    }

    byte[] bytes() {
      int n = i32();
      need(n);
      byte[] b = Arrays.copyOfRange(buf, pos, pos + n);
      pos += n;
      return b;
    }

    Optional<byte[]> optBytes() {
      return bool() ? Optional.of(bytes()) : Optional.empty();
    }

    String str() {
      return new String(bytes(), StandardCharsets.UTF_8);
    }

    Set<Long> longs() {
      int n = count(8);
      Set<Long> s = new HashSet<>();
      for (int i = 0; i < n; i++) {
        s.add(i64());
      }
      return s;
    }

    ReadConsistency consistency() {
      int c = u8();
      if (c >= CONSISTENCIES.length) {
        throw bad("unknown consistency " + c);
      }
      return CONSISTENCIES[c];
    }

    /** Whether every byte was read (an optional trailing field is absent). */
    boolean atEnd() {
      return pos == buf.length;
    }

    void end() {
      if (pos != buf.length) {
        throw bad((buf.length - pos) + " trailing bytes");
      }
    }
  }
}
