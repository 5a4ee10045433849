package io.quorumkv;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import org.junit.jupiter.api.Test;

/** A session's results against a sorted map (the model), and its stored encoding. */
class SessionTest {

  /** One step: record a result for a sequence number (if it has none), or acknowledge below one. */
  record Step(boolean acknowledge, long seq) {}

  @Property(tries = 300)
  void behavesAsASortedMapOfResults(@ForAll("steps") List<Step> steps) {
    Session s = new Session(7, 0);
    TreeMap<Long, Byte> model = new TreeMap<>();
    long ackedBelow = 0;
    for (Step step : steps) {
      if (step.acknowledge()) {
        s.acknowledge(step.seq());
        if (step.seq() > ackedBelow) {
          ackedBelow = step.seq();
          model.headMap(ackedBelow).clear();
        }
      } else if (step.seq() >= ackedBelow && !model.containsKey(step.seq())) {
        byte r = (byte) (step.seq() % 2);
        s.record(step.seq(), r);
        model.put(step.seq(), r);
      }
      assertEquals(model.size(), s.size());
      assertEquals(ackedBelow, s.ackedBelow);
    }
    for (long seq = 0; seq < 70; seq++) {
      Byte want = model.get(seq);
      assertEquals(want == null ? Session.NONE : want, s.result(seq), "seq " + seq);
    }
    // The stored form: results in ascending order (the format sessions always had).
    Codec.Writer w = new Codec.Writer().i64(0).i64(ackedBelow).i32(model.size());
    for (Map.Entry<Long, Byte> e : model.entrySet()) {
      w.i64(e.getKey()).u8(e.getValue());
    }
    assertArrayEquals(w.toArray(), s.encode());
    assertArrayEquals(s.encode(), Session.decode(7, s.encode()).encode());
  }

  @Provide
  Arbitrary<List<Step>> steps() {
    Arbitrary<Step> record = Arbitraries.longs().between(0, 64).map(seq -> new Step(false, seq));
    Arbitrary<Step> ack = Arbitraries.longs().between(0, 64).map(seq -> new Step(true, seq));
    return Arbitraries.frequencyOf(net.jqwik.api.Tuple.of(6, record), net.jqwik.api.Tuple.of(1, ack)).list().ofMaxSize(200);
  }

  @Test
  void aSecondResultForOneSequenceNumberIsRefusedAndTheCapRaisesTheAcknowledgement() {
    Session s = new Session(7, 0);
    s.record(5, (byte) 1);
    assertThrows(IllegalStateException.class, () -> s.record(5, (byte) 0));
    for (long seq = 6; seq < 6 + Session.MAX_RESULTS; seq++) {
      s.record(seq, (byte) 0);
    }
    s.acknowledge(0);
    assertEquals(Session.MAX_RESULTS, s.size());
    assertEquals(6, s.ackedBelow);
    assertEquals(Session.NONE, s.result(5));
  }

  @Test
  void addResultsOfKeepsItsOwnAndAddsTheOthers() {
    Session mine = new Session(7, 0);
    mine.record(3, (byte) 1);
    Session theirs = new Session(7, 0);
    theirs.record(3, (byte) 0);
    theirs.record(1, (byte) 0);
    theirs.record(9, (byte) 1);
    mine.addResultsOf(theirs);
    assertEquals(List.of(0, 1, 1), List.of(mine.result(1), mine.result(3), mine.result(9)));
  }
}
