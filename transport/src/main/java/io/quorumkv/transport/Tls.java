package io.quorumkv.transport;

import io.netty.channel.Channel;
import io.netty.handler.ssl.ClientAuth;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslHandler;
import java.security.cert.Certificate;
import java.security.cert.CertificateParsingException;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.List;
import javax.net.ssl.SSLException;
import javax.net.ssl.SSLPeerUnverifiedException;

/** Builds Netty TLS contexts from PEM files. */
final class Tls {

  private static final String[] PROTOCOLS = {"TLSv1.3", "TLSv1.2"};

  /** Subject alternative name type "uniform resource identifier" (RFC 5280). */
  private static final int SAN_URI = 6;

  private Tls() {}

  /**
   * Checks that the certificate the peer presented on {@code ch} names node {@code nodeId}
   * ({@link TlsSettings#nodeUri}).
   */
  static void checkIdentity(Channel ch, long nodeId) throws ProtocolViolation {
    SslHandler ssl = ch.pipeline().get(SslHandler.class);
    if (ssl == null) {
      throw new ProtocolViolation("node identity required but the connection has no TLS");
    }
    List<String> named = new ArrayList<>();
    try {
      Certificate[] chain = ssl.engine().getSession().getPeerCertificates();
      if (chain.length > 0 && chain[0] instanceof X509Certificate leaf
          && leaf.getSubjectAlternativeNames() != null) {
        for (List<?> san : leaf.getSubjectAlternativeNames()) {
          if (san.size() >= 2 && Integer.valueOf(SAN_URI).equals(san.get(0))) {
            named.add(String.valueOf(san.get(1)));
          }
        }
      }
    } catch (SSLPeerUnverifiedException | CertificateParsingException e) {
      throw new ProtocolViolation("node identity required but the peer's certificate is "
          + "unusable: " + e.getMessage());
    }
    if (!named.contains(TlsSettings.nodeUri(nodeId))) {
      throw new ProtocolViolation("the peer claims node " + nodeId
          + " but its certificate names " + (named.isEmpty() ? "no node" : named));
    }
  }

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
