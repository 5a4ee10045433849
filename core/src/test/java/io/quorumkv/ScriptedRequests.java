package io.quorumkv;

import io.quorumkv.transport.RaftTransport;
import io.quorumkv.transport.TransportException;
import java.time.Duration;
import java.util.Arrays;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Function;

/**
 * A transport whose requests to peers (forwarded requests, partition commands) meet the fate a
 * test chooses per request: passed on, failed before being written, lost after the peer handled
 * it, or answered with a frame that cannot be decoded. Raft messages pass untouched.
 */
final class ScriptedRequests extends ForwardingTransport {

  /** What becomes of one request. */
  enum Fate {
    /** Sent and answered as usual. */
    PASS,
    /** Failed before it is written ({@code UNREACHABLE}): the peer never sees it. */
    UNREACHABLE,
    /** Handled by the peer, then failed as lost ({@code LOST}): the answer never comes. */
    LOST,
    /** Handled by the peer, whose answer arrives with a trailing byte (undecodable). */
    CORRUPT
  }

  private final Function<KvRequest, Fate> script;
  /** Requests whose fate was not {@link Fate#PASS}. */
  final AtomicInteger interfered = new AtomicInteger();
  /** Requests {@link Fate#LOST} after the peer answered them (not with a refusal). */
  final AtomicInteger lostAfterSuccess = new AtomicInteger();

  ScriptedRequests(RaftTransport inner, Function<KvRequest, Fate> script) {
    super(inner);
    this.script = script;
  }

  /** Has node {@code nodeId} of the cluster {@code b} builds send its requests through {@code script}. */
  static void install(KvNode.Builder b, long nodeId, AtomicReference<ScriptedRequests> installed,
      Function<KvRequest, Fate> script) {
    b.overrides(o -> {
      Function<KvNodeConfig, RaftTransport> inner = o.transport;
      o.transport = cfg -> {
        if (cfg.nodeId() != nodeId) {
          return inner.apply(cfg);
        }
        ScriptedRequests s = new ScriptedRequests(inner.apply(cfg), script);
        installed.set(s);
        return s;
      };
    });
  }

  @Override
  public CompletableFuture<byte[]> request(long toNode, byte[] payload, Duration deadline) {
    Fate fate = script.apply(Codec.decodeRequest(payload));
    if (fate != Fate.PASS) {
      interfered.incrementAndGet();
    }
    return switch (fate) {
      case PASS -> inner.request(toNode, payload, deadline);
      case UNREACHABLE -> CompletableFuture.failedFuture(new TransportException(
          TransportException.Reason.UNREACHABLE, "node " + toNode + " is unreachable (scripted)"));
      case LOST -> inner.request(toNode, payload, deadline).handle((answer, e) -> {
        if (e == null && !(Codec.decodeResponse(answer) instanceof KvResponse.Failure)) {
          lostAfterSuccess.incrementAndGet();
        }
        throw new TransportException(TransportException.Reason.LOST,
            "the request reached node " + toNode + "; its answer was lost (scripted)");
      });
      case CORRUPT -> inner.request(toNode, payload, deadline)
          .thenApply(answer -> Arrays.copyOf(answer, answer.length + 1));
    };
  }
}
