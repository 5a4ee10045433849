package io.quorumkv;

import java.util.Map;
import java.util.TreeMap;

/**
 * One client's session in one partition's state machine (Raft thesis §6.3): the results of the
 * writes the client may still retry, so a retry gets the first result instead of applying again.
 */
final class Session {

  /** A client with more unacknowledged writes than this loses the oldest results (logged). */
  static final int MAX_RESULTS = 100_000;

  long lastActiveMillis;
  long ackedBelow;
  final TreeMap<Long, Byte> results = new TreeMap<>();

  Session(long lastActiveMillis) {
    this.lastActiveMillis = lastActiveMillis;
  }

  boolean expired(long logTimeMillis, long timeoutMillis) {
    return lastActiveMillis + timeoutMillis < logTimeMillis;
  }

  /** Forgets results the client has acknowledged (and the oldest beyond the cap). */
  void acknowledge(long below) {
    if (below > ackedBelow) {
      ackedBelow = below;
      results.headMap(below).clear();
    }
    while (results.size() > MAX_RESULTS) {
      Map.Entry<Long, Byte> first = results.pollFirstEntry();
      ackedBelow = Math.max(ackedBelow, first.getKey() + 1);
    }
  }

  byte[] encode() {
    Codec.Writer w = new Codec.Writer();
    w.i64(lastActiveMillis).i64(ackedBelow).i32(results.size());
    results.forEach((seq, r) -> w.i64(seq).u8(r));
    return w.toArray();
  }

  static Session decode(byte[] data) {
    Codec.Reader r = new Codec.Reader(data, "session");
    Session s = new Session(r.i64());
    s.ackedBelow = r.i64();
    int n = r.count(9);
    for (int i = 0; i < n; i++) {
      s.results.put(r.i64(), (byte) r.u8());
    }
    r.end();
    return s;
  }

  Session copy() {
    Session s = new Session(lastActiveMillis);
    s.ackedBelow = ackedBelow;
    s.results.putAll(results);
    return s;
  }
}
