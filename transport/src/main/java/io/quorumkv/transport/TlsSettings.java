package io.quorumkv.transport;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Objects;

/**
 * TLS material from PEM files, used both to accept connections and to open them.
 *
 * @param certificateChain    this node's certificate chain (PEM)
 * @param privateKey          this node's private key (PKCS#8 PEM, unencrypted)
 * @param trustedCertificates the CA certificates that peer certificates must chain to (PEM)
 * @param requireClientAuth   mutual TLS: refuse connections whose client presents no
 *                            certificate signed by a trusted CA
 * @param requireNodeIdentity also require a member's certificate to name the node id it claims,
 *                            with the subject alternative name URI {@code quorumkv:node:<id>}
 *                            (see {@link #nodeUri(long)}), checked by both ends of member
 *                            connections; without it any certificate of the CA may claim any id
 */
public record TlsSettings(
    Path certificateChain, Path privateKey, Path trustedCertificates, boolean requireClientAuth,
    boolean requireNodeIdentity) {

  /** Checks that the three PEM files exist and are readable. */
  public TlsSettings {
    readable("certificateChain", certificateChain);
    readable("privateKey", privateKey);
    readable("trustedCertificates", trustedCertificates);
    if (requireNodeIdentity && !requireClientAuth) {
      throw new IllegalArgumentException(
          "tls.requireNodeIdentity needs tls.requireClientAuth: an acceptor can only check the "
              + "identity of a peer that presents a certificate");
    }
  }

  /** Settings that check certificates against the CA only, not the node ids they name. */
  public TlsSettings(Path certificateChain, Path privateKey, Path trustedCertificates,
      boolean requireClientAuth) {
    this(certificateChain, privateKey, trustedCertificates, requireClientAuth, false);
  }

  /** The subject alternative name URI that names node {@code nodeId} in its certificate. */
  public static String nodeUri(long nodeId) {
    return "quorumkv:node:" + nodeId;
  }

  private static void readable(String field, Path p) {
    Objects.requireNonNull(p, "tls." + field);
    if (!Files.isReadable(p)) {
      throw new IllegalArgumentException("tls." + field + ": cannot read PEM file " + p);
    }
  }
}
