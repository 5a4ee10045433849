package io.quorumkv;

/** A parsed {@code host:port}. */
record HostPort(String host, int port) {

  /** Parses {@code value}, reporting a problem as an {@link InvalidConfigException} on {@code field}. */
  static HostPort parse(String field, String value) {
    if (value == null || value.isBlank()) {
      throw new InvalidConfigException(field, "is required (host:port)");
    }
    int colon = value.lastIndexOf(':');
    if (colon <= 0 || colon == value.length() - 1) {
      throw new InvalidConfigException(field, "must be host:port, was '" + value + "'");
    }
    int port;
    try {
      port = Integer.parseInt(value.substring(colon + 1));
    } catch (NumberFormatException e) {
      throw new InvalidConfigException(field, "port is not a number in '" + value + "'");
    }
    if (port < 1 || port > 65535) {
      throw new InvalidConfigException(field, "port must be in [1, 65535], was " + port);
    }
    String host = value.substring(0, colon);
    if (host.startsWith("[") && host.endsWith("]")) {
      host = host.substring(1, host.length() - 1);
    }
    return new HostPort(host, port);
  }

  @Override
  public String toString() {
    return (host.contains(":") ? "[" + host + "]" : host) + ":" + port;
  }
}
