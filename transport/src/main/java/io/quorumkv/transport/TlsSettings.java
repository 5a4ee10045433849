package io.quorumkv.transport;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Objects;

/**
 * TLS material from PEM files, used both to accept connections and to open them.
 *
 * @param certificateChain  this node's certificate chain (PEM)
 * @param privateKey        this node's private key (PKCS#8 PEM, unencrypted)
 * @param trustedCertificates the CA certificates that peer certificates must chain to (PEM)
 * @param requireClientAuth mutual TLS: refuse connections whose client presents no certificate
 *                          signed by a trusted CA
 */
public record TlsSettings(
    Path certificateChain, Path privateKey, Path trustedCertificates, boolean requireClientAuth) {

  /** Checks that the three PEM files exist and are readable. */
  public TlsSettings {
    readable("certificateChain", certificateChain);
    readable("privateKey", privateKey);
    readable("trustedCertificates", trustedCertificates);
  }

  private static void readable(String field, Path p) {
    Objects.requireNonNull(p, "tls." + field);
    if (!Files.isReadable(p)) {
      throw new IllegalArgumentException("tls." + field + ": cannot read PEM file " + p);
    }
  }
}
