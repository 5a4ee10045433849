package io.quorumkv.transport;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;

/** What both transports do around a {@link RequestHandler}. */
final class Requests {

  private Requests() {}

  /** Runs the handler, turning a throw or a null into a failed future. */
  static CompletableFuture<byte[]> invoke(RequestHandler handler, long fromNode, byte[] payload) {
    try {
      CompletableFuture<byte[]> f = handler.onRequest(fromNode, payload);
      return f != null ? f : CompletableFuture.failedFuture(
          new IllegalStateException("request handler returned null"));
    } catch (RuntimeException e) {
      return CompletableFuture.failedFuture(e);
    }
  }

  /** The text a caller gets for a handler's failure: the message of the real cause. */
  static String errorText(Throwable error) {
    Throwable cause = error instanceof CompletionException && error.getCause() != null
        ? error.getCause() : error;
    return String.valueOf(cause.getMessage());
  }
}
