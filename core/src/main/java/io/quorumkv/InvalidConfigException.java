package io.quorumkv;

/** A configuration value is wrong. Thrown at build time, naming the field and why. */
public final class InvalidConfigException extends IllegalArgumentException {
  private static final long serialVersionUID = 1L;

  private final String field;

  /**
   * @param field  the builder field, as named in {@link KvNode.Builder} or {@link KvClient.Builder}
   * @param reason what is wrong with it, including the rejected value
   */
  public InvalidConfigException(String field, String reason) {
    super(field + ": " + reason);
    this.field = field;
  }

  /** The name of the wrong field. */
  public String field() {
    return field;
  }
}
