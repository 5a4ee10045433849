package io.quorumkv;

import io.quorumkv.raft.Snapshot;
import io.quorumkv.storage.SnapshotSink;
import io.quorumkv.storage.SnapshotSource;
import io.quorumkv.transport.SnapshotChunk;
import io.quorumkv.transport.SnapshotChunkSink;
import io.quorumkv.transport.SnapshotChunkSource;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Map;
import java.util.function.LongConsumer;

/**
 * Adapters between the storage's snapshot payloads and the transport's snapshot streams. The
 * stream is the payload prefixed with its 8-byte length, which the storage's sink needs with
 * every chunk and the transport does not carry.
 */
final class SnapshotStreams {
  private SnapshotStreams() {}

  private static final int HEADER = 8;

  /** A received payload waiting for the Raft core to hand out its snapshot for installation. */
  record Staged(long index, SnapshotSink sink) {
    void close() {
      sink.close();
    }
  }

  /** Streams a storage snapshot payload. */
  static final class Sending implements SnapshotChunkSource {
    private final SnapshotSource source;
    private final byte[] header;

    Sending(SnapshotSource source) {
      this.source = source;
      this.header = ByteBuffer.allocate(HEADER).putLong(source.totalBytes()).array();
    }

    @Override
    public SnapshotChunk read(long offset, int maxBytes) {
      long total = source.totalBytes();
      if (offset < HEADER) {
        int n = (int) Math.min(maxBytes, HEADER - offset);
        byte[] out = new byte[n];
        System.arraycopy(header, (int) offset, out, 0, n);
        return new SnapshotChunk(offset, out, total == 0 && offset + n == HEADER);
      }
      long at = offset - HEADER;
      if (at >= total) {
        return new SnapshotChunk(offset, new byte[0], true);
      }
      io.quorumkv.storage.SnapshotChunk c = source.chunk(at);
      int n = Math.min(maxBytes, c.data().length);
      byte[] out = n == c.data().length ? c.data() : java.util.Arrays.copyOf(c.data(), n);
      return new SnapshotChunk(offset, out, at + n == total);
    }

    @Override
    public void close() {
      source.close();
    }
  }

  /** Receives a stream into a storage sink; on completion, stages it for installation. */
  static final class Receiving implements SnapshotChunkSink {
    private final long groupId;
    private final Snapshot snapshot;
    private final SnapshotSink sink;
    private final Map<Long, Staged> staged;
    private final LongConsumer received;
    private final byte[] header = new byte[HEADER];
    private long total = -1;

    /** {@code received} is told the size of every chunk written (a metric). */
    Receiving(long groupId, Snapshot snapshot, SnapshotSink sink, Map<Long, Staged> staged, LongConsumer received) {
      this.groupId = groupId;
      this.snapshot = snapshot;
      this.sink = sink;
      this.staged = staged;
      this.received = received;
    }

    @Override
    public void write(long offset, ByteBuffer data) {
      received.accept(data.remaining());
      long at = offset;
      while (data.hasRemaining() && at < HEADER) {
        header[(int) at++] = data.get();
      }
      if (at == HEADER && total < 0) {
        total = ByteBuffer.wrap(header).getLong();
      }
      if (!data.hasRemaining()) {
        return;
      }
      byte[] bytes = new byte[data.remaining()];
      data.get(bytes);
      sink.write(io.quorumkv.storage.SnapshotChunk.of(groupId, snapshot.metadata().index(), at - HEADER, bytes, total));
    }

    @Override
    public void complete() throws IOException {
      if (!sink.isComplete()) {
        throw new IOException("snapshot of group " + groupId + " ended before its " + total + " bytes");
      }
      Staged previous = staged.put(groupId, new Staged(snapshot.metadata().index(), sink));
      if (previous != null) {
        previous.close();
      }
    }

    @Override
    public void abort(Throwable cause) {
      sink.close();
    }
  }
}
