package io.quorumkv.jepsen;

import io.quorumkv.testkit.Json;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;

/**
 * Checks a bank history: every successful read of all accounts (at any consistency level, each
 * read a snapshot of one partition) sees exactly the accounts, none negative, summing to the
 * constant total. Transfers move money inside one atomic batch, so any other total means a lost,
 * duplicated or torn write, or a read that was not a snapshot.
 *
 * <p>History lines: {@code transfer} with value {@code {"from":a,"to":b,"amount":n}};
 * {@code read} with invoke value {@code {"consistency":c}} and ok value
 * {@code {"consistency":c,"balances":{"acct":n,...}}}.
 */
final class BankChecker {

  private final List<String> accounts;
  private final long total;

  BankChecker(List<String> accounts, long total) {
    this.accounts = List.copyOf(accounts);
    this.total = total;
  }

  CheckResult check(List<OpLog.Line> lines) {
    List<String> problems = new ArrayList<>();
    int reads = 0;
    int badReads = 0;
    int[] transfers = new int[OpLog.Type.values().length];
    for (OpLog.Pair pair : OpLog.pairs(lines)) {
      String f = pair.invoke().f();
      if (f.equals("transfer")) {
        transfers[pair.outcome().ordinal()]++;
        continue;
      }
      if (!f.equals("read") || pair.outcome() != OpLog.Type.OK) {
        continue;
      }
      reads++;
      String problem = readProblem(pair.completion().value());
      if (problem != null) {
        badReads++;
        CheckResult.note(problems, "read by p" + pair.invoke().process() + " at "
            + Millis.of(pair.completion().time()) + ": " + problem);
      }
    }
    if (reads == 0) {
      problems.add("no successful read: nothing was checked");
    }
    String summary = reads + " reads (" + badReads + " wrong), transfers ok/fail/unknown "
        + transfers[OpLog.Type.OK.ordinal()] + "/" + transfers[OpLog.Type.FAIL.ordinal()] + "/"
        + transfers[OpLog.Type.INFO.ordinal()] + ", total " + total + " over " + accounts.size() + " accounts";
    return CheckResult.of("bank", summary, problems);
  }

  private String readProblem(Object value) {
    if (!(value instanceof Map<?, ?> read) || !(read.get("balances") instanceof Map<?, ?> balances)) {
      return "malformed read value " + Json.write(value);
    }
    String consistency = String.valueOf(read.get("consistency"));
    if (!new TreeSet<>(accounts).equals(new TreeSet<>(stringKeys(balances)))) {
      return consistency + " read saw accounts " + new TreeSet<>(stringKeys(balances)) + ", expected " + accounts;
    }
    long sum = 0;
    for (Map.Entry<?, ?> e : balances.entrySet()) {
      if (!(e.getValue() instanceof Long balance)) {
        return consistency + " read: balance of " + e.getKey() + " is not a number: " + e.getValue();
      }
      if (balance < 0) {
        return consistency + " read: negative balance " + e.getKey() + "=" + balance + " in " + Json.write(balances);
      }
      sum += balance;
    }
    if (sum != total) {
      return consistency + " read: total " + sum + " != " + total + " in " + Json.write(balances);
    }
    return null;
  }

  private static List<String> stringKeys(Map<?, ?> map) {
    List<String> keys = new ArrayList<>();
    for (Object k : map.keySet()) {
      keys.add(String.valueOf(k));
    }
    return keys;
  }
}
