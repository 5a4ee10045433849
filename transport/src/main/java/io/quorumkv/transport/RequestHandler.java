package io.quorumkv.transport;

import java.util.concurrent.CompletableFuture;

/** Answers opaque requests from peers (forwarded client commands, admin commands) and clients. */
@FunctionalInterface
public interface RequestHandler {

  /** The {@code fromNode} of a request that comes from a {@link TransportClient}. */
  long EXTERNAL_CLIENT = 0;

  /**
   * Called on a transport I/O thread: must not block; complete the future later from any thread.
   * A future completed exceptionally (or an exception thrown here) is reported to the caller as a
   * {@link TransportException} with reason {@link TransportException.Reason#REMOTE_ERROR} and the
   * exception's message.
   *
   * @param fromNode the calling node, or {@link #EXTERNAL_CLIENT}
   * @param payload  the request bytes, owned by the handler
   */
  CompletableFuture<byte[]> onRequest(long fromNode, byte[] payload);
}
