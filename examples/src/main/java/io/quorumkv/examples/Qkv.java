package io.quorumkv.examples;

import io.quorumkv.ClusterStatus;
import io.quorumkv.KeyValue;
import io.quorumkv.KvClient;
import io.quorumkv.KvException;
import io.quorumkv.PartitionStatus;
import io.quorumkv.ReadConsistency;
import io.quorumkv.ReadResult;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

/**
 * {@code qkv}: the command-line client of a running QuorumKV cluster. Every command has
 * {@code --help}. Exit codes: 0 done, 1 the cluster reported an error (one line on stderr), 2 bad
 * usage, 3 "no" (get: key absent; cas: current value differed).
 */
@Command(name = "qkv", mixinStandardHelpOptions = true, sortOptions = false,
    description = "Talks to a running QuorumKV cluster.",
    footer = {"", "Exit codes: 0 done, 1 error, 2 bad usage, 3 no (key absent / compare-and-set not applied).",
        "Addresses default to $QKV_ADDRESSES, else 127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003."},
    subcommands = {Qkv.Put.class, Qkv.Get.class, Qkv.Delete.class, Qkv.Cas.class, Qkv.Scan.class,
        Qkv.Status.class, Qkv.AddNode.class, Qkv.RemoveNode.class, Qkv.TransferLeader.class, Qkv.Split.class,
        CommandLine.HelpCommand.class})
public final class Qkv implements Runnable {

  /** Exit code of a command whose answer is "no". */
  static final int NO = 3;

  static final String DEFAULT_ADDRESSES = "127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003";

  @Option(names = {"-a", "--addresses"}, split = ",", paramLabel = "HOST:PORT", scope = CommandLine.ScopeType.INHERIT,
      description = "Nodes to contact (comma-separated).")
  List<String> addresses;

  @Option(names = "--cluster-id", defaultValue = "quorumkv", scope = CommandLine.ScopeType.INHERIT,
      description = "The cluster's name. Default: ${DEFAULT-VALUE}.")
  String clusterId;

  @Option(names = "--timeout-ms", defaultValue = "5000", scope = CommandLine.ScopeType.INHERIT,
      description = "Deadline of the call. Default: ${DEFAULT-VALUE}.")
  long timeoutMs;

  @Spec
  CommandSpec spec;

  /** Runs one command; exits with its code. */
  public static void main(String[] args) {
    // The client's own INFO lines (connections) would drown the answer; warnings still show.
    System.setProperty("org.slf4j.simpleLogger.defaultLogLevel",
        System.getProperty("org.slf4j.simpleLogger.defaultLogLevel", "warn"));
    System.exit(commandLine().execute(args));
  }

  static CommandLine commandLine() {
    return ExampleNode.commandLine(new Qkv());
  }

  @Override
  public void run() {
    throw new CommandLine.ParameterException(spec.commandLine(), "missing command (see qkv --help)");
  }

  List<String> addresses() {
    if (addresses != null && !addresses.isEmpty()) {
      return addresses;
    }
    String env = System.getenv("QKV_ADDRESSES");
    return List.of((env == null || env.isBlank() ? DEFAULT_ADDRESSES : env).split(","));
  }

  KvClient client() {
    return KvClient.builder().addresses(addresses()).clusterId(clusterId)
        .requestTimeout(Duration.ofMillis(timeoutMs)).build();
  }

  static byte[] utf8(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  static String text(byte[] b) {
    return new String(b, StandardCharsets.UTF_8);
  }

  /** A write failed: say whether it may still have been applied. */
  static RuntimeException writeFailed(KvException e) {
    return new IllegalStateException(e.getMessage()
        + (e.outcomeUnknown() ? " (the write may or may not have been applied)" : " (not applied)"), e);
  }

  /** A read failed: a read changes nothing, so "outcome unknown" would only confuse. */
  static RuntimeException readFailed(KvException e) {
    String m = e.getMessage();
    return new IllegalStateException(m.startsWith("outcome unknown: ") ? m.substring("outcome unknown: ".length()) : m, e);
  }

  /** Base of the commands: the parent's connection options, and the output stream. */
  abstract static class Sub implements Callable<Integer> {
    @ParentCommand
    Qkv qkv;

    @Spec
    CommandSpec spec;

    PrintWriter out() {
      return spec.commandLine().getOut();
    }

    PrintWriter err() {
      return spec.commandLine().getErr();
    }

    @Override
    public Integer call() {
      try (KvClient client = qkv.client()) {
        return run(client);
      }
    }

    abstract int run(KvClient client);
  }

  @Command(name = "put", mixinStandardHelpOptions = true, description = "Sets KEY to VALUE (acknowledged once a majority has it on disk).")
  static final class Put extends Sub {
    @Parameters(index = "0", paramLabel = "KEY") String key;
    @Parameters(index = "1", paramLabel = "VALUE") String value;

    @Override
    int run(KvClient client) {
      try {
        client.put(key, value);
      } catch (KvException e) {
        throw writeFailed(e);
      }
      out().println("OK");
      return 0;
    }
  }

  @Command(name = "get", mixinStandardHelpOptions = true, description = "Prints the value of KEY; exit code 3 if absent.")
  static final class Get extends Sub {
    @Parameters(index = "0", paramLabel = "KEY") String key;

    @Option(names = {"-c", "--consistency"}, defaultValue = "LINEARIZABLE",
        description = "LINEARIZABLE, LEASE, FOLLOWER or STALE (see docs/guarantees.md). Default: ${DEFAULT-VALUE}.")
    ReadConsistency consistency;

    @Option(names = {"-v", "--verbose"}, description = "Also print which node served the read and how fresh it was (stderr).")
    boolean verbose;

    @Override
    int run(KvClient client) {
      ReadResult r;
      try {
        r = client.read(utf8(key), consistency);
      } catch (KvException e) {
        throw readFailed(e);
      }
      if (verbose) {
        err().printf("partition %d, served by node %d at applied index %d, %s%s%n", r.partitionId(), r.servedBy(),
            r.appliedIndex(), r.consistency(), r.consistency() == ReadConsistency.STALE
                ? ", last heard from its leader " + r.sinceLeaderContact().toMillis() + " ms before" : "");
      }
      if (r.value().isEmpty()) {
        err().println("(not found)");
        return NO;
      }
      out().println(text(r.value().get()));
      return 0;
    }
  }

  @Command(name = "delete", mixinStandardHelpOptions = true, description = "Removes KEY (prints whether it was present).")
  static final class Delete extends Sub {
    @Parameters(index = "0", paramLabel = "KEY") String key;

    @Override
    int run(KvClient client) {
      boolean existed;
      try {
        existed = client.delete(key);
      } catch (KvException e) {
        throw writeFailed(e);
      }
      out().println(existed ? "deleted" : "(was not present)");
      return 0;
    }
  }

  @Command(name = "cas", mixinStandardHelpOptions = true,
      description = "Compare-and-set: sets KEY to NEW if it holds EXPECTED (or is absent, with --absent); exit code 3 if not.")
  static final class Cas extends Sub {
    @Parameters(index = "0", paramLabel = "KEY") String key;
    @Parameters(index = "1", paramLabel = "EXPECTED|NEW",
        description = "The expected value, or with --absent the new value.") String first;
    @Parameters(index = "2", arity = "0..1", paramLabel = "NEW") String second;

    @Option(names = "--absent", description = "Set only if KEY is absent (then give just KEY NEW).")
    boolean absent;

    @Override
    int run(KvClient client) {
      if (absent == (second != null)) {
        throw new CommandLine.ParameterException(spec.commandLine(),
            absent ? "with --absent give KEY NEW only" : "give KEY EXPECTED NEW (or --absent KEY NEW)");
      }
      boolean set;
      try {
        set = absent ? client.putIfAbsent(key, first) : client.compareAndSet(key, first, second);
      } catch (KvException e) {
        throw writeFailed(e);
      }
      if (set) {
        out().println("OK");
        return 0;
      }
      err().println(absent ? "not set: KEY is present" : "not set: the current value differs from EXPECTED");
      return NO;
    }
  }

  @Command(name = "scan", mixinStandardHelpOptions = true,
      description = "Prints KEY=VALUE lines for keys in [FROM, TO) in byte order.")
  static final class Scan extends Sub {
    @Parameters(index = "0", arity = "0..1", paramLabel = "FROM", defaultValue = "",
        description = "First key (inclusive); default the smallest.") String from;
    @Parameters(index = "1", arity = "0..1", paramLabel = "TO", defaultValue = "",
        description = "End key (exclusive); default to the last key.") String to;

    @Option(names = {"-n", "--limit"}, defaultValue = "100", description = "At most this many keys. Default: ${DEFAULT-VALUE}.")
    int limit;

    @Option(names = {"-c", "--consistency"}, defaultValue = "LINEARIZABLE",
        description = "LINEARIZABLE, LEASE, FOLLOWER or STALE. Default: ${DEFAULT-VALUE}.")
    ReadConsistency consistency;

    @Override
    int run(KvClient client) {
      if (limit < 1) {
        throw new CommandLine.ParameterException(spec.commandLine(), "--limit must be positive");
      }
      List<KeyValue> kvs;
      try {
        kvs = client.scan(utf8(from), utf8(to), limit, consistency);
      } catch (KvException e) {
        throw readFailed(e);
      }
      for (KeyValue kv : kvs) {
        out().println(kv.keyString() + "=" + kv.valueString());
      }
      err().println("(" + kvs.size() + (kvs.size() == limit ? " keys, limit reached)" : " keys)"));
      return 0;
    }
  }

  @Command(name = "status", mixinStandardHelpOptions = true,
      description = "Members, preferred leaders (and nodes given other ones), and per partition the leader, term, "
          + "commit and applied index and lag of every node.")
  static final class Status extends Sub {
    @Override
    int run(KvClient client) {
      Map<String, Object> views = new LinkedHashMap<>(); // address -> ClusterStatus or error text
      for (String a : qkv.addresses()) {
        views.put(a, ask(client, a));
      }
      // Members as any reachable node knows them; ask those not in the address list too.
      Map<Long, String> members = new TreeMap<>();
      views.values().stream().filter(ClusterStatus.class::isInstance).map(ClusterStatus.class::cast)
          .forEach(s -> members.putAll(s.members()));
      for (String a : members.values()) {
        views.computeIfAbsent(a, x -> ask(client, x));
      }
      List<ClusterStatus> up = views.values().stream().filter(ClusterStatus.class::isInstance)
          .map(ClusterStatus.class::cast).toList();
      if (up.isEmpty()) {
        throw new IllegalStateException("no node answered: " + views);
      }
      out().print(render(views, members));
      out().flush();
      return 0;
    }

    /** The node's own view, or why it could not be had. */
    private static Object ask(KvClient client, String address) {
      try {
        return client.status(address);
      } catch (RuntimeException e) {
        return Errors.describe(e);
      }
    }

    /** The status table; a pure function of the nodes' answers, for tests. */
    static String render(Map<String, Object> views, Map<Long, String> members) {
      StringBuilder sb = new StringBuilder();
      sb.append("members: ").append(members.entrySet().stream().map(e -> e.getKey() + "=" + e.getValue())
          .collect(Collectors.joining(" "))).append('\n');
      for (Map.Entry<String, Object> v : views.entrySet()) {
        if (!(v.getValue() instanceof ClusterStatus)) {
          sb.append("unreachable: ").append(v.getKey()).append(" (").append(v.getValue()).append(")\n");
        }
      }
      List<ClusterStatus> up = views.values().stream().filter(ClusterStatus.class::isInstance)
          .map(ClusterStatus.class::cast).sorted((a, b) -> Long.compare(a.nodeId(), b.nodeId())).toList();
      for (ClusterStatus s : up) {
        if (s.partitions().isEmpty()) {
          sb.append("node ").append(s.nodeId()).append(" answers but hosts no partition yet\n");
        }
      }
      renderPreferredLeaders(sb, up);
      // Per partition, the leader's commit index as the leader itself reports it (lag is measured against it).
      Map<Long, PartitionStatus> leaderView = new TreeMap<>();
      for (ClusterStatus s : up) {
        for (PartitionStatus p : s.partitions()) {
          // Right after a change two nodes may both claim a partition; the higher term is the leader.
          PartitionStatus known = leaderView.get(p.partitionId());
          if (p.leader() == s.nodeId() && (known == null || p.term() > known.term())) {
            leaderView.put(p.partitionId(), p);
          }
        }
      }
      List<String[]> table = new ArrayList<>();
      table.add(new String[] {"PARTITION", "KEYS", "LEADER", "VOTERS", "LEARNERS", "NODE", "TERM", "COMMIT", "APPLIED", "LAG"});
      TreeSet<Long> partitionIds = new TreeSet<>();
      up.forEach(s -> s.partitions().forEach(p -> partitionIds.add(p.partitionId())));
      for (long pid : partitionIds) {
        boolean first = true;
        for (ClusterStatus s : up) {
          for (PartitionStatus p : s.partitions()) {
            if (p.partitionId() != pid) {
              continue;
            }
            PartitionStatus lv = leaderView.get(pid);
            String lag = lv == null ? "?" : Long.toString(Math.max(0, lv.commitIndex() - p.appliedIndex()));
            table.add(new String[] {
                first ? Long.toString(pid) : "", first ? p.keys() : "",
                first ? (lv == null ? "none" : Long.toString(lv.leader())) : "",
                first ? ids(p.voters()) : "", first ? ids(p.learners()) : "",
                s.nodeId() + (p.leader() == s.nodeId() ? "*" : ""), Long.toString(p.term()),
                Long.toString(p.commitIndex()), Long.toString(p.appliedIndex()), lag});
            first = false;
          }
        }
      }
      int[] width = new int[table.get(0).length];
      for (String[] r : table) {
        for (int i = 0; i < r.length; i++) {
          width[i] = Math.max(width[i], r[i].length());
        }
      }
      for (String[] r : table) {
        StringBuilder line = new StringBuilder();
        for (int i = 0; i < r.length; i++) {
          line.append(String.format("%-" + (width[i] + 2) + "s", r[i]));
        }
        sb.append(line.toString().stripTrailing()).append('\n');
      }
      sb.append("(* = the node leads the partition; LAG = leader's commit index - node's applied index)\n");
      return sb.toString();
    }

    /**
     * The preferred leaders every node was given (one line when they agree), and each node that
     * found a peer with another set: such a node ignores its preference until the sets agree.
     */
    private static void renderPreferredLeaders(StringBuilder sb, List<ClusterStatus> up) {
      sb.append("preferred leaders: ");
      if (up.stream().map(ClusterStatus::preferredLeaders).distinct().count() == 1) {
        sb.append(preferred(up.get(0).preferredLeaders())).append('\n');
      } else {
        sb.append(up.stream().map(s -> "node " + s.nodeId() + ": " + preferred(s.preferredLeaders()))
            .collect(Collectors.joining(", "))).append(" (they differ)\n");
      }
      for (ClusterStatus s : up) {
        if (!s.preferredLeadersMismatch().isEmpty()) {
          sb.append("MISMATCH: node ").append(s.nodeId()).append(" ignores its preferred leaders (")
              .append(preferred(s.preferredLeaders())).append("): ")
              .append(new TreeMap<>(s.preferredLeadersMismatch()).entrySet().stream()
                  .map(e -> "node " + e.getKey() + " has " + preferred(e.getValue()))
                  .collect(Collectors.joining(", "))).append('\n');
        }
      }
    }

    private static String preferred(java.util.Set<Long> s) {
      return s.isEmpty() ? "none" : ids(s);
    }

    private static String ids(java.util.Set<Long> s) {
      return s.isEmpty() ? "-" : new TreeSet<>(s).stream().map(String::valueOf).collect(Collectors.joining(","));
    }
  }

  @Command(name = "add-node", mixinStandardHelpOptions = true,
      description = "Adds node ID at ADDRESS to every partition (as a learner, promoted to voter once caught up; "
          + "start it first with --join).")
  static final class AddNode extends Sub {
    @Parameters(index = "0", paramLabel = "ID") long id;
    @Parameters(index = "1", paramLabel = "ADDRESS", description = "Its HOST:PORT.") String address;

    @Option(names = "--learner", description = "Add as a non-voting learner only.")
    boolean learner;

    @Override
    int run(KvClient client) {
      if (learner) {
        client.addLearner(id, address);
      } else {
        client.addNode(id, address);
      }
      out().println("node " + id + " added" + (learner ? " as a learner" : " as a voter"));
      return 0;
    }
  }

  @Command(name = "remove-node", mixinStandardHelpOptions = true, description = "Removes node ID from every partition.")
  static final class RemoveNode extends Sub {
    @Parameters(index = "0", paramLabel = "ID") long id;

    @Override
    int run(KvClient client) {
      client.removeNode(id);
      out().println("node " + id + " removed");
      return 0;
    }
  }

  @Command(name = "transfer-leader", mixinStandardHelpOptions = true,
      description = "Hands leadership of PARTITION to node NODE and waits until it leads.")
  static final class TransferLeader extends Sub {
    @Parameters(index = "0", paramLabel = "PARTITION") long partition;
    @Parameters(index = "1", paramLabel = "NODE") long node;

    @Override
    int run(KvClient client) {
      client.transferLeader(partition, node);
      out().println("node " + node + " now leads partition " + partition);
      return 0;
    }
  }

  @Command(name = "split", mixinStandardHelpOptions = true,
      description = "Splits the range partition holding KEY at KEY (needs nodes started with --range-splits).")
  static final class Split extends Sub {
    @Parameters(index = "0", paramLabel = "KEY") String key;

    @Override
    int run(KvClient client) {
      long id = client.split(utf8(key));
      out().println("new partition " + id + " holds [" + key + ", ...)");
      return 0;
    }
  }
}
