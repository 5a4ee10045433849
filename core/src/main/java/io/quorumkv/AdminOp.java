package io.quorumkv;

import java.util.Objects;

/** An administrative request, executed by the node that receives it (or the leaders it asks). */
sealed interface AdminOp {

  /** Hand leadership of a partition to a node. */
  record TransferLeader(long partitionId, long toNode) implements AdminOp {}

  /** Add a node to every partition, as learner only or learner-then-voter. */
  record AddNode(long nodeId, String address, boolean learnerOnly) implements AdminOp {
    public AddNode {
      Objects.requireNonNull(address, "address");
    }
  }

  /** Promote a learner to voter in every partition. */
  record Promote(long nodeId) implements AdminOp {}

  /** Remove a node from every partition. */
  record RemoveNode(long nodeId) implements AdminOp {}

  /** Move every replica off a node, then answer (placement with a replication factor). */
  record Decommission(long nodeId) implements AdminOp {}

  /** Merge the range partition holding the key into its left neighbour. */
  record Merge(byte[] key) implements AdminOp {
    public Merge {
      Objects.requireNonNull(key, "key");
    }
  }

  /** Split the range partition holding the key. */
  record Split(byte[] splitKey) implements AdminOp {
    public Split {
      Objects.requireNonNull(splitKey, "splitKey");
    }
  }

  /** Inject a fault into a node's transport. */
  record InjectFault(long nodeId, Fault fault) implements AdminOp {
    public InjectFault {
      Objects.requireNonNull(fault, "fault");
    }
  }
}
