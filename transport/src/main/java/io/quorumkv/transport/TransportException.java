package io.quorumkv.transport;

import java.util.Objects;

/** Why a request or a snapshot transfer failed, other than by its deadline. */
public final class TransportException extends RuntimeException {

  /** The kinds of failure, so that callers can decide whether to retry. */
  public enum Reason {
    /**
     * The peer is not known, not connected, or refused the connection: the request was not sent.
     * Retry later.
     */
    UNREACHABLE,
    /**
     * The request may have been written to the peer, but its connection was dropped (the peer was
     * removed) before an answer came: the peer may have handled it. Unlike {@link #UNREACHABLE},
     * the request's effect is unknown.
     */
    LOST,
    /** The outbound queue for the peer is full: it is slow; the request was not sent. Retry later. */
    QUEUE_FULL,
    /** The peer's handler failed; the message says how. */
    REMOTE_ERROR,
    /** The transport (this side or the peer's) was closed. */
    CLOSED,
    /** The payload does not fit in a frame; it was not sent. Retrying will not help. */
    TOO_LARGE
  }

  /** Why it failed. */
  private final Reason reason;

  /** A failure of kind {@code reason}, described by {@code message}. */
  public TransportException(Reason reason, String message) {
    super(message);
    this.reason = Objects.requireNonNull(reason, "reason");
  }

  /** Why it failed. */
  public Reason reason() {
    return reason;
  }

  /**
   * Whether the peer may have received (and handled) the request: false only for the reasons
   * that fail a request before it is written ({@link Reason#UNREACHABLE},
   * {@link Reason#QUEUE_FULL}, {@link Reason#TOO_LARGE}). A caller that forwarded a write reports
   * it as certainly not applied only when this is false.
   */
  public boolean mayHaveBeenDelivered() {
    return switch (reason) {
      case UNREACHABLE, QUEUE_FULL, TOO_LARGE -> false;
      case LOST, REMOTE_ERROR, CLOSED -> true;
    };
  }
}
