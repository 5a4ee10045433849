package io.quorumkv;

import java.time.Duration;

/** A {@link KvStore} view whose calls carry a deadline other than the configured default. */
final class TimedKvStore extends FrontendStore {

  private final KvFrontend frontend;
  private final Duration timeout;

  TimedKvStore(KvFrontend frontend, Duration timeout) {
    if (timeout == null || timeout.isNegative() || timeout.isZero()) {
      throw new IllegalArgumentException("timeout must be positive, was " + timeout);
    }
    this.frontend = frontend;
    this.timeout = timeout;
  }

  @Override
  KvFrontend frontend() {
    return frontend;
  }

  @Override
  Duration timeout() {
    return timeout;
  }
}
