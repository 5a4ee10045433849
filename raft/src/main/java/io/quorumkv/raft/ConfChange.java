package io.quorumkv.raft;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * A membership change, proposed with {@link RawNode#proposeConfChange(ConfChange)} and applied
 * with {@link RawNode#applyConfChange(ConfChange)} once its entry commits.
 *
 * <p>A single change to voters uses the simple one-step protocol; several changes at once (e.g.
 * replacing a voter) use joint consensus (thesis §4.3). An empty list of changes is the request to
 * leave a joint configuration.
 *
 * @param changes    the member additions, promotions and removals
 * @param transition how to pass through a joint configuration, when one is needed
 * @param context    opaque application data carried with the change (e.g. the new member's
 *                   address); never null
 */
public record ConfChange(List<Single> changes, Transition transition, byte[] context) {

  /** Format version of {@link #encode()}; a different first byte is refused by {@link #decode}. */
  private static final byte FORMAT = 1;

  /** One member's change. */
  public record Single(ConfChangeType type, long nodeId) {
    public Single {
      Objects.requireNonNull(type, "type");
      if (nodeId <= 0) {
        throw new IllegalArgumentException("node id must be positive: " + nodeId);
      }
    }
  }

  /** How a change that needs joint consensus moves through it. */
  public enum Transition {
    /** Use joint consensus only when needed, and leave the joint configuration automatically. */
    AUTO,
    /** Always use joint consensus, and leave automatically. */
    JOINT_IMPLICIT,
    /** Always use joint consensus, and stay joint until an empty change is proposed. */
    JOINT_EXPLICIT
  }

  public ConfChange {
    changes = List.copyOf(changes);
    Objects.requireNonNull(transition, "transition");
    Objects.requireNonNull(context, "context");
  }

  /** A change of one member, with the automatic transition. */
  public static ConfChange of(ConfChangeType type, long nodeId) {
    return new ConfChange(List.of(new Single(type, nodeId)), Transition.AUTO, Entry.EMPTY);
  }

  /** The request to leave a joint configuration. */
  public static ConfChange leaveJoint() {
    return new ConfChange(List.of(), Transition.AUTO, Entry.EMPTY);
  }

  /** True for the request to leave a joint configuration. */
  public boolean isLeaveJoint() {
    return changes.isEmpty();
  }

  /** Serialises this change as the data of a {@link EntryType#CONF_CHANGE} entry. */
  public byte[] encode() {
    ByteBuffer b = ByteBuffer.allocate(1 + 1 + 4 + changes.size() * 9 + 4 + context.length);
    b.put(FORMAT).put((byte) transition.ordinal()).putInt(changes.size());
    for (Single s : changes) {
      b.put((byte) s.type().ordinal()).putLong(s.nodeId());
    }
    b.putInt(context.length).put(context);
    return b.array();
  }

  /**
   * Parses the data of a {@link EntryType#CONF_CHANGE} entry.
   *
   * @throws IllegalArgumentException if the bytes are not a change written by {@link #encode()}
   */
  public static ConfChange decode(byte[] data) {
    try {
      ByteBuffer b = ByteBuffer.wrap(data);
      byte format = b.get();
      if (format != FORMAT) {
        throw new IllegalArgumentException("unknown conf change format " + format);
      }
      Transition t = Transition.values()[b.get()];
      int n = b.getInt();
      if (n < 0 || n > b.remaining() / 9) {
        throw new IllegalArgumentException("bad conf change count " + n);
      }
      List<Single> changes = new ArrayList<>(n);
      for (int i = 0; i < n; i++) {
        changes.add(new Single(ConfChangeType.values()[b.get()], b.getLong()));
      }
      byte[] ctx = new byte[b.getInt()];
      b.get(ctx);
      if (b.hasRemaining()) {
        throw new IllegalArgumentException(b.remaining() + " trailing bytes in conf change");
      }
      return new ConfChange(changes, t, ctx);
    } catch (RuntimeException e) {
      if (e instanceof IllegalArgumentException iae) {
        throw iae;
      }
      throw new IllegalArgumentException("malformed conf change entry: " + e, e);
    }
  }
}
