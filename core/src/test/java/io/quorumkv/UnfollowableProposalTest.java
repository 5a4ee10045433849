package io.quorumkv;

import static io.quorumkv.FakePeers.NODE;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quorumkv.raft.Message;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.junit.jupiter.api.Test;

/**
 * A write its leader proposed and can no longer follow (the node closes, its replica is destroyed,
 * it loses the leadership) is in the log, and another leader may still commit it: the node must
 * answer it {@code TIMEOUT} with an unknown outcome, never as refused ({@code CLOSED},
 * {@code NO_LEADER}). Over the in-memory network the node's transport closes before such an answer
 * reaches a client ({@code ClosedLeaderOutcomeTest} checks the client's side end to end); here the
 * answer is taken from the node's request entry point itself, on one node whose peers the test
 * plays ({@link FakePeers}): they elect it and answer its heartbeats, but never acknowledge an
 * entry, so the write stays proposed and uncommitted.
 */
class UnfollowableProposalTest {

  private static final Duration WAIT = Duration.ofSeconds(20);
  private static final long PARTITION = 1;

  /** Starts the node and has the fake peers elect it leader of {@code PARTITION} and keep it so. */
  private static FakePeers leaderWithSilentDisks() {
    FakePeers p = new FakePeers(RangePartitioner.single());
    p.reply(s -> {
      if (s.m() instanceof Message.RequestVote rv) {
        return new Message.RequestVoteResponse(s.to(), NODE, rv.term(), rv.preVote(), false);
      }
      if (s.m() instanceof Message.Heartbeat h) {
        return new Message.HeartbeatResponse(s.to(), NODE, h.term(), h.readContext());
      }
      return null; // appends are never acknowledged: nothing commits
    });
    p.start();
    MemoryCluster.await(WAIT, "node " + NODE + " to lead partition " + PARTITION,
        () -> p.runtime().replicas().get(PARTITION).isLeader());
    return p;
  }

  /** Has the leader propose a put, and waits until it sends the entry to a peer. */
  private static CompletableFuture<KvResponse> proposePut(FakePeers p) {
    p.clearSent();
    KvRequest.Write put = new KvRequest.Write(42, 1, 1,
        new WriteOp.Put("k".getBytes(StandardCharsets.UTF_8), "v".getBytes(StandardCharsets.UTF_8)));
    CompletableFuture<KvResponse> answer = p.runtime().execute(put, System.nanoTime() + WAIT.toNanos());
    MemoryCluster.await(WAIT, "the put to be sent to a peer", () -> p.next(Message.AppendEntries.class, PARTITION,
        Duration.ofMillis(50)).filter(a -> a.entries().stream().anyMatch(e -> e.data().length > 0)).isPresent());
    assertFalse(answer.isDone(), "staging: the put was answered before anything happened to its leader: " + answer);
    return answer;
  }

  private static void assertOutcomeUnknown(CompletableFuture<KvResponse> answer, String what) {
    KvResponse r;
    try {
      r = answer.get(WAIT.toSeconds(), TimeUnit.SECONDS);
    } catch (InterruptedException | ExecutionException | TimeoutException e) {
      throw new AssertionError("no answer to a proposed put " + what, e);
    }
    KvResponse.Failure f = assertInstanceOf(KvResponse.Failure.class, r, what);
    assertEquals(KvResponse.Code.TIMEOUT, f.code(), "a proposed put answered as refused " + what + ": " + f);
    assertTrue(f.outcomeUnknown(), f.toString());
  }

  @Test
  void aProposedWriteIsAnsweredOutcomeUnknownWhenItsNodeCloses() {
    try (FakePeers p = leaderWithSilentDisks()) {
      CompletableFuture<KvResponse> answer = proposePut(p);
      p.closeNode();
      assertOutcomeUnknown(answer, "when its node closed");
    }
  }

  @Test
  void aProposedWriteIsAnsweredOutcomeUnknownWhenItsReplicaIsDestroyed() {
    try (FakePeers p = leaderWithSilentDisks()) {
      CompletableFuture<KvResponse> answer = proposePut(p);
      NodeRuntime rt = p.runtime();
      Replica r = rt.replicas().get(PARTITION);
      assertTrue(rt.post(() -> rt.destroyReplica(r, "removed (test)")), "staging: the node refused the task");
      assertOutcomeUnknown(answer, "when its replica was destroyed");
    }
  }

  @Test
  void aProposedWriteIsAnsweredOutcomeUnknownWhenItsLeaderIsDeposed() {
    try (FakePeers p = leaderWithSilentDisks()) {
      CompletableFuture<KvResponse> answer = proposePut(p);
      // Fake node 2 leads a later term: the node steps down with the put still in its log.
      p.send(2, PARTITION, new Message.Heartbeat(2, NODE, 50, 0, 1));
      assertOutcomeUnknown(answer, "when its leader was deposed");
    }
  }
}
