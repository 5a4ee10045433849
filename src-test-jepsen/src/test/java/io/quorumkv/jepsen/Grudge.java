package io.quorumkv.jepsen;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.TreeSet;

/**
 * A network partition as the set of directed links it cuts (Jepsen's "grudge"), with the shapes
 * the partition nemesis draws from. Every shape is expressed as one-way blocks, which the nodes'
 * fault hooks accumulate, so the same mechanism serves symmetric and asymmetric cuts.
 *
 * @param kind  the shape, e.g. {@code majority-minority}
 * @param cuts  the directed links that drop every message
 * @param shape the components, for people, e.g. {@code [[1,2],[3]]}
 */
record Grudge(String kind, Set<Link> cuts, String shape) {

  /** A directed link {@code from -> to}. */
  record Link(long from, long to) implements Comparable<Link> {
    @Override
    public int compareTo(Link o) {
      return from != o.from ? Long.compare(from, o.from) : Long.compare(to, o.to);
    }
  }

  /** The shapes, each drawn with equal probability by {@link #random}. */
  enum Kind { MAJORITY_MINORITY, ISOLATED_LEADER, BRIDGE, ONE_WAY }

  Grudge {
    cuts = Set.copyOf(cuts);
  }

  /** The cuts touching {@code node} (as sender or receiver): the rules that node must apply. */
  List<Link> cutsOf(long node) {
    List<Link> out = new ArrayList<>();
    for (Link l : new TreeSet<>(cuts)) {
      if (l.from() == node || l.to() == node) {
        out.add(l);
      }
    }
    return out;
  }

  /** The partition as it goes into a history line, e.g. {@code isolated-leader [[1],[2,3]]}. */
  String describe() {
    return kind + " " + shape;
  }

  /**
   * A random grudge over {@code members} (at least two).
   *
   * @param leader the node believed to lead the most partitions, or 0 when unknown
   */
  static Grudge random(Kind kind, List<Long> members, long leader, Random rnd) {
    List<Long> nodes = new ArrayList<>(members);
    Collections.sort(nodes);
    Collections.shuffle(nodes, rnd);
    if (leader != 0 && nodes.remove(Long.valueOf(leader))) {
      nodes.add(0, leader);
    }
    return switch (kind) {
      case MAJORITY_MINORITY -> {
        int minority = Math.max(1, nodes.size() / 2);
        yield split("majority-minority", nodes.subList(0, minority), nodes.subList(minority, nodes.size()));
      }
      case ISOLATED_LEADER -> split("isolated-leader", nodes.subList(0, 1), nodes.subList(1, nodes.size()));
      case BRIDGE -> bridge(nodes);
      case ONE_WAY -> oneWay(nodes.get(0), nodes.subList(1, nodes.size()), rnd.nextBoolean());
    };
  }

  /** {@code a} and {@code b} cannot talk to each other in either direction. */
  static Grudge split(String kind, List<Long> a, List<Long> b) {
    Set<Link> cuts = new TreeSet<>();
    for (long x : a) {
      for (long y : b) {
        cuts.add(new Link(x, y));
        cuts.add(new Link(y, x));
      }
    }
    return new Grudge(kind, cuts, "[" + sorted(a) + "," + sorted(b) + "]");
  }

  /**
   * Two halves that cannot talk to each other, and one node (the first of {@code nodes}, so the
   * leader if known) that talks to both: each half can see a majority through the bridge.
   */
  static Grudge bridge(List<Long> nodes) {
    long bridge = nodes.get(0);
    List<Long> rest = nodes.subList(1, nodes.size());
    int half = rest.size() / 2;
    Grudge g = split("bridge", rest.subList(0, half), rest.subList(half, rest.size()));
    return new Grudge("bridge", g.cuts(), sorted(rest.subList(0, half)) + "<->" + bridge + "<->"
        + sorted(rest.subList(half, rest.size())));
  }

  /**
   * {@code node} can no longer send to the others ({@code outbound}) or hear from them, while
   * the other direction still works.
   */
  static Grudge oneWay(long node, List<Long> others, boolean outbound) {
    Set<Link> cuts = new TreeSet<>();
    for (long o : others) {
      cuts.add(outbound ? new Link(node, o) : new Link(o, node));
    }
    return new Grudge("one-way", cuts, outbound ? node + "-/->" + sorted(others) : sorted(others) + "-/->" + node);
  }

  private static String sorted(List<Long> nodes) {
    return new TreeSet<>(nodes).toString().replace(" ", "");
  }
}
