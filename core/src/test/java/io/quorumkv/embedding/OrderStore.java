package io.quorumkv.embedding;

import io.quorumkv.BatchOp;
import io.quorumkv.ClusterUnavailableException;
import io.quorumkv.KeyValue;
import io.quorumkv.KvNode;
import io.quorumkv.KvTimeoutException;
import io.quorumkv.RangePartitioner;
import io.quorumkv.ReadConsistency;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The example of docs/api.md, compiled so it cannot rot: a service that keeps its orders in an
 * embedded QuorumKV node. Every member of the service's cluster runs one of these.
 */
public final class OrderStore implements AutoCloseable {

  private final KvNode node;

  /**
   * @param nodeId  this member's id (1, 2, 3, ...)
   * @param members every member's id and host:port, this one included
   * @param dataDir where this member keeps its data
   */
  public OrderStore(long nodeId, Map<Long, String> members, Path dataDir) {
    KvNode.Builder builder = KvNode.builder()
        .nodeId(nodeId)
        .advertisedAddress(members.get(nodeId))
        .dataDir(dataDir)
        .clusterId("orders")
        // Orders of one customer stay together: "customer/<id>/order/<id>" keys, ranges split later.
        .partitioner(RangePartitioner.of("customer/5"))
        .requestTimeout(Duration.ofSeconds(5)); // the first call after a start waits for an election
    members.forEach((id, address) -> {
      if (id != nodeId) {
        builder.peer(id, address);
      }
    });
    this.node = builder.build().start();
  }

  /**
   * Records an order once: a retry of the same order id (after a timeout, say) does not
   * overwrite it.
   *
   * @return false if the order already existed
   */
  public boolean place(String customer, String orderId, String order) {
    try {
      return node.putIfAbsent(key(customer, orderId), order);
    } catch (KvTimeoutException e) {
      // Outcome unknown: the order may or may not be stored. Retrying is safe here, because
      // putIfAbsent of the same order is idempotent; a plain put would be too.
      return node.putIfAbsent(key(customer, orderId), order);
    } catch (ClusterUnavailableException e) {
      throw new IllegalStateException("the order store has no quorum right now", e);
    }
  }

  /** Moves an order from "open" to "shipped" only if nobody changed it meanwhile. */
  public boolean ship(String customer, String orderId, String openOrder, String shippedOrder) {
    return node.compareAndSet(key(customer, orderId), openOrder, shippedOrder);
  }

  /** Cancels two orders of one customer together, or neither (both keys are in one partition). */
  public boolean cancelBoth(String customer, String first, String second) {
    return node.batch(List.of(
        BatchOp.delete(key(customer, first)),
        BatchOp.delete(key(customer, second))));
  }

  /** The order, linearizable: reflects every order placed before this call. */
  public Optional<String> order(String customer, String orderId) {
    return node.get(key(customer, orderId));
  }

  /** A dashboard read from this member's replica: fast, possibly a little behind. */
  public Optional<String> orderForDashboard(String customer, String orderId) {
    return node.get(key(customer, orderId), ReadConsistency.STALE);
  }

  /** Up to 100 orders of a customer, in key order. */
  public List<String> orders(String customer) {
    String prefix = "customer/" + customer + "/order/";
    return node.scan(prefix, prefix + "\uffff", 100).stream().map(KeyValue::valueString).toList();
  }

  /** Leaves the cluster gracefully: hands leaderships over, then frees every resource. */
  @Override
  public void close() {
    node.close();
  }

  private static String key(String customer, String orderId) {
    return "customer/" + customer + "/order/" + orderId;
  }
}
