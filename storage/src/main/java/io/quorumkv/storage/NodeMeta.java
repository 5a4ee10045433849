package io.quorumkv.storage;

import java.util.Properties;

/**
 * The identity of a data directory, kept in its META file: which format wrote it, which cluster
 * and which node it belongs to. Checked at every start so a directory is never used by the wrong
 * node, cluster or code version.
 */
record NodeMeta(int formatVersion, String clusterId, long nodeId) {

  Properties toProperties() {
    Properties p = new Properties();
    p.setProperty("format.version", Integer.toString(formatVersion));
    p.setProperty("cluster.id", clusterId);
    p.setProperty("node.id", Long.toString(nodeId));
    return p;
  }

  static NodeMeta fromProperties(Properties p, String where) {
    String format = p.getProperty("format.version");
    String cluster = p.getProperty("cluster.id");
    String node = p.getProperty("node.id");
    if (format == null || cluster == null || node == null) {
      throw new StorageStartupException(StorageStartupException.Reason.BAD_META,
          where + " lacks format.version, cluster.id or node.id");
    }
    try {
      return new NodeMeta(Integer.parseInt(format.trim()), cluster, Long.parseLong(node.trim()));
    } catch (NumberFormatException e) {
      throw new StorageStartupException(StorageStartupException.Reason.BAD_META,
          where + " has a malformed number: " + e.getMessage());
    }
  }

  /** Refuses data of another format, cluster or node. */
  void check(String expectedCluster, long expectedNode, String where) {
    if (formatVersion != StorageEngine.FORMAT_VERSION) {
      throw new StorageStartupException(StorageStartupException.Reason.UNKNOWN_FORMAT_VERSION,
          where + " was written by storage format version " + formatVersion
              + "; this code reads version " + StorageEngine.FORMAT_VERSION);
    }
    if (!clusterId.equals(expectedCluster)) {
      throw new StorageStartupException(StorageStartupException.Reason.CLUSTER_ID_MISMATCH,
          where + " belongs to cluster '" + clusterId + "', not to cluster '" + expectedCluster
              + "'");
    }
    if (nodeId != expectedNode) {
      throw new StorageStartupException(StorageStartupException.Reason.NODE_ID_MISMATCH,
          where + " belongs to node " + nodeId + ", not to node " + expectedNode);
    }
  }
}
