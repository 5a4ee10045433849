package io.quorumkv;

import java.util.Arrays;

/**
 * One client's session in one partition's state machine (Raft thesis §6.3): the results of the
 * writes the client may still retry, so a retry gets the first result instead of applying again.
 *
 * <p>The results are kept as sorted parallel arrays of sequence numbers and result bytes, not a
 * map: a write looks its sequence number up and appends its result (sequence numbers mostly grow),
 * and an acknowledgement drops a prefix, all without boxing. The encoding lists the results in
 * ascending sequence order, as it always has.
 */
final class Session {

  /** A client with more unacknowledged writes than this loses the oldest results (logged). */
  static final int MAX_RESULTS = 100_000;

  /** No result is recorded for the sequence number. */
  static final int NONE = -1;

  final long clientId;
  long lastActiveMillis;
  long ackedBelow;
  /** Written since the state machine last stored it (see PartitionStateMachine#flush). */
  boolean dirty;
  /** The results, ascending by sequence number, in {@code [head, head + size)}. */
  private long[] seqs = new long[8];
  private byte[] results = new byte[8];
  private int head;
  private int size;

  Session(long clientId, long lastActiveMillis) {
    this.clientId = clientId;
    this.lastActiveMillis = lastActiveMillis;
  }

  boolean expired(long logTimeMillis, long timeoutMillis) {
    return lastActiveMillis + timeoutMillis < logTimeMillis;
  }

  /** Results recorded and not yet acknowledged. */
  int size() {
    return size;
  }

  /** The result byte recorded for {@code seq}, or {@link #NONE}. */
  int result(long seq) {
    if (size == 0 || seq > seqs[head + size - 1]) {
      return NONE; // a new write: sequence numbers mostly grow, so most lookups end here, unsearched
    }
    int i = find(seq);
    return i >= 0 ? results[i] : NONE;
  }

  /** Records the result of {@code seq}, which has none yet. */
  void record(long seq, byte result) {
    int end = head + size;
    if (end == seqs.length) {
      makeRoom();
      end = size;
    }
    // Sequence numbers mostly grow: append without a search.
    int at = end;
    if (size > 0 && seqs[end - 1] >= seq) {
      int i = find(seq);
      if (i >= 0) {
        throw new IllegalStateException("sequence " + seq + " already has a result");
      }
      at = -(i + 1);
      System.arraycopy(seqs, at, seqs, at + 1, end - at);
      System.arraycopy(results, at, results, at + 1, end - at);
    }
    seqs[at] = seq;
    results[at] = result;
    size++;
  }

  /** Moves the results to the front, and doubles the arrays if that frees less than a quarter. */
  private void makeRoom() {
    int capacity = size + 1 > seqs.length * 3 / 4 ? seqs.length * 2 : seqs.length;
    long[] s = capacity == seqs.length ? seqs : new long[capacity];
    byte[] r = capacity == results.length ? results : new byte[capacity];
    System.arraycopy(seqs, head, s, 0, size);
    System.arraycopy(results, head, r, 0, size);
    seqs = s;
    results = r;
    head = 0;
  }

  /** The array index of {@code seq}, or {@code -(insertion point) - 1}. */
  private int find(long seq) {
    return Arrays.binarySearch(seqs, head, head + size, seq);
  }

  /** Forgets results the client has acknowledged (and the oldest beyond the cap). */
  void acknowledge(long below) {
    if (below > ackedBelow) {
      ackedBelow = below;
      // An acknowledgement usually drops a few results at the front: look there before searching.
      int end = head + size;
      int keepFrom = head;
      while (keepFrom < end && keepFrom - head < 8 && seqs[keepFrom] < below) {
        keepFrom++;
      }
      if (keepFrom < end && seqs[keepFrom] < below) {
        int i = Arrays.binarySearch(seqs, keepFrom, end, below);
        keepFrom = i >= 0 ? i : -(i + 1);
      }
      size -= keepFrom - head;
      head = keepFrom;
    }
    if (size > MAX_RESULTS) {
      int drop = size - MAX_RESULTS;
      ackedBelow = Math.max(ackedBelow, seqs[head + drop - 1] + 1);
      head += drop;
      size -= drop;
    }
  }

  /** Records every result of {@code other} that this session does not have. */
  void addResultsOf(Session other) {
    for (int i = other.head; i < other.head + other.size; i++) {
      if (result(other.seqs[i]) == NONE) {
        record(other.seqs[i], other.results[i]);
      }
    }
  }

  byte[] encode() {
    Codec.Writer w = new Codec.Writer(20 + 9 * size);
    w.i64(lastActiveMillis).i64(ackedBelow).i32(size);
    for (int i = head; i < head + size; i++) {
      w.i64(seqs[i]).u8(results[i]);
    }
    return w.toArray();
  }

  static Session decode(long clientId, byte[] data) {
    Codec.Reader r = new Codec.Reader(data, "session");
    Session s = new Session(clientId, r.i64());
    s.ackedBelow = r.i64();
    int n = r.count(9);
    for (int i = 0; i < n; i++) {
      long seq = r.i64();
      byte result = (byte) r.u8();
      if (s.result(seq) == NONE) {
        s.record(seq, result);
      }
    }
    r.end();
    return s;
  }
}
