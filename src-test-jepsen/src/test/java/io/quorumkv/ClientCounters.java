package io.quorumkv;

/**
 * What a {@link KvClient} sent as multis (several gets, or several writes, for one node in one
 * frame), read from outside core's package: the Jepsen report shows it, so that a run says whether
 * its faults met coalesced requests at all.
 */
public final class ClientCounters {
  private ClientCounters() {}

  /** Multis {@code client} has sent so far. */
  public static long multis(KvClient client) {
    return client.coalescer().multis();
  }

  /** Requests {@code client} has sent inside multis so far. */
  public static long multiItems(KvClient client) {
    return client.coalescer().multiItems();
  }
}
