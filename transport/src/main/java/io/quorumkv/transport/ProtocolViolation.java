package io.quorumkv.transport;

/** Input that breaks the protocol; the connection that sent it is closed with this reason. */
final class ProtocolViolation extends Exception {
  ProtocolViolation(String reason) {
    super(reason);
  }
}
