package io.quorumkv.transport;

import io.netty.handler.ssl.ClientAuth;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import javax.net.ssl.SSLException;

/** Builds Netty TLS contexts from PEM files. */
final class Tls {

  private static final String[] PROTOCOLS = {"TLSv1.3", "TLSv1.2"};

  private Tls() {}

  static SslContext server(TlsSettings s) {
    try {
      return SslContextBuilder.forServer(s.certificateChain().toFile(), s.privateKey().toFile())
          .trustManager(s.trustedCertificates().toFile())
          .clientAuth(s.requireClientAuth() ? ClientAuth.REQUIRE : ClientAuth.NONE)
          .protocols(PROTOCOLS)
          .build();
    } catch (SSLException | IllegalArgumentException e) {
      throw new IllegalArgumentException("tls: cannot build the server context from "
          + s.certificateChain() + " and " + s.privateKey() + ": " + e.getMessage(), e);
    }
  }

  /** A client context that presents this node's certificate (needed for mutual TLS). */
  static SslContext client(TlsSettings s) {
    try {
      return SslContextBuilder.forClient()
          .keyManager(s.certificateChain().toFile(), s.privateKey().toFile())
          .trustManager(s.trustedCertificates().toFile())
          .protocols(PROTOCOLS)
          .build();
    } catch (SSLException | IllegalArgumentException e) {
      throw new IllegalArgumentException("tls: cannot build the client context from "
          + s.certificateChain() + " and " + s.privateKey() + ": " + e.getMessage(), e);
    }
  }
}
