#!/usr/bin/env python3
"""Lines a benchmark's slow requests up with what each node was doing at the time.

Reads JDK Flight Recorder files: the driver's (`io.quorumkv.bench.Request` events, every request
slower than 2 ms) and each node's (`io.quorumkv.LogSync`: every fsync of the log writer;
`io.quorumkv.LogWrite`, `io.quorumkv.LoopTurn`, `io.quorumkv.Apply`: those over 1 ms; and the JVM's
own `jdk.GCPhasePause`). For every slow request (at least --slow-ms) of the chosen operation it
notes which of these overlapped it, and prints one JSON line: how many slow requests each cause
overlapped, in a fixed order of precedence (a pause of the driver's JVM, a pause of a node's,
fsyncs of at least --sync-ms on two nodes or more, so that no majority was durable quickly, one
slow fsync (on the leader or on a follower when --leader names the leader's node), a long loop
turn, an unsynced log write or an apply of at least --turn-ms, a slow fsync that ended less than
--after-ms before the request began, none of these), the nodes' fsync latency distribution, and
the 100 ms windows with the most slow requests with what the nodes did then.

Record with, on each node and the driver, -XX:StartFlightRecording=filename=F,settings=default
(run-cluster.sh substitutes {id} in QKV_NODE_JAVA_OPTS; cpu-per-op.py passes QKV_DRIVER_OPTS to
the driver). Only the last --last seconds of the driver's recording are analysed: the measured
phase, not the warm-up. docs/benchmarks.md, finding 64.

usage: tail.py --driver driver.jfr --node 1=n1.jfr --node 2=n2.jfr --node 3=n3.jfr [--op put]
               [--slow-ms 5] [--sync-ms 2] [--turn-ms 2] [--after-ms 10] [--leader ID] [--last 10]
"""
import argparse
import bisect
import json
import re
import subprocess
import sys
from datetime import datetime, timezone


def parse_time(s):
    """ISO-8601 instant with up to 9 fractional digits -> nanoseconds since the epoch."""
    m = re.match(r'(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)?$', s)
    if not m:
        raise ValueError('unparsed time: ' + s)
    base = datetime.fromisoformat(m.group(1) + (m.group(3) or 'Z').replace('Z', '+00:00'))
    frac = (m.group(2) or '').ljust(9, '0')[:9]
    return int(base.astimezone(timezone.utc).timestamp()) * 1_000_000_000 + int(frac)


def parse_duration(s):
    """ISO-8601 duration as JFR prints it (PT0.001234S, PT1M2.5S) -> nanoseconds."""
    m = re.match(r'PT(?:(\d+)H)?(?:(\d+)M)?(?:([\d.]+)S)?$', s)
    if not m:
        raise ValueError('unparsed duration: ' + s)
    h, mi, sec = m.groups()
    return int(((int(h or 0) * 60 + int(mi or 0)) * 60 + float(sec or 0)) * 1e9)


def events(path, types):
    out = subprocess.run(['jfr', 'print', '--json', '--events', ','.join(types), path],
                         check=True, capture_output=True, text=True).stdout
    result = []
    for e in json.loads(out)['recording']['events']:
        v = e['values']
        start = parse_time(v['startTime'])
        result.append((start, start + parse_duration(v.get('duration', 'PT0S')), e['type'], v))
    result.sort(key=lambda x: x[0])
    return result


class Intervals:
    """Events of one kind on one JVM, searchable by overlap."""

    def __init__(self, evs):
        self.evs = evs
        self.starts = [e[0] for e in evs]
        self.longest = max((e[1] - e[0] for e in evs), default=0)

    def overlapping(self, s, e):
        i = bisect.bisect_left(self.starts, s - self.longest)
        found = []
        while i < len(self.evs) and self.evs[i][0] <= e:
            if self.evs[i][1] >= s:
                found.append(self.evs[i])
            i += 1
        return found


def pct(sorted_values, p):
    if not sorted_values:
        return None
    return sorted_values[min(len(sorted_values) - 1, int(p * len(sorted_values)))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--driver', required=True)
    ap.add_argument('--node', action='append', required=True, help='ID=FILE')
    ap.add_argument('--op', default='put')
    ap.add_argument('--slow-ms', type=float, default=5.0)
    ap.add_argument('--sync-ms', type=float, default=2.0)
    ap.add_argument('--turn-ms', type=float, default=2.0)
    ap.add_argument('--after-ms', type=float, default=10.0)
    ap.add_argument('--leader', default='', help='node id of the (one partition\'s) leader')
    ap.add_argument('--last', type=float, default=10.0)
    ap.add_argument('--windows', type=int, default=5)
    a = ap.parse_args()

    requests = [r for r in events(a.driver, ['io.quorumkv.bench.Request']) if r[3].get('op') == a.op]
    if not requests:
        sys.exit('no io.quorumkv.bench.Request events for %s in %s' % (a.op, a.driver))
    end = max(r[1] for r in requests)
    begin = end - int(a.last * 1e9)
    requests = [r for r in requests if r[0] >= begin]
    slow = [r for r in requests if r[1] - r[0] >= a.slow_ms * 1e6]
    driver_gc = Intervals(events(a.driver, ['jdk.GCPhasePause']))

    nodes = {}
    for spec in a.node:
        nid, path = spec.split('=', 1)
        evs = events(path, ['io.quorumkv.LogSync', 'io.quorumkv.LogWrite', 'io.quorumkv.LoopTurn',
                            'io.quorumkv.Apply', 'jdk.GCPhasePause'])
        by = {t: Intervals([e for e in evs if e[2] == t]) for t in
              ('io.quorumkv.LogSync', 'io.quorumkv.LogWrite', 'io.quorumkv.LoopTurn', 'io.quorumkv.Apply',
               'jdk.GCPhasePause')}
        nodes[nid] = by

    one = ['slow_sync_on_the_leader', 'slow_sync_on_1_follower'] if a.leader else ['slow_sync_on_1_node']
    causes = ['driver_gc', 'node_gc', 'slow_sync_on_2_or_more_nodes'] + one + [
        'long_loop_turn', 'slow_log_write', 'slow_apply', 'just_after_a_slow_sync', 'none_of_these']
    counts = {c: 0 for c in causes}

    def slow_on(kind, s, e, min_ms):
        return [nid for nid, n in nodes.items() if any(x[1] - x[0] >= min_ms * 1e6 for x in n[kind].overlapping(s, e))]

    for s, e, _, _ in slow:
        if driver_gc.overlapping(s, e):
            counts['driver_gc'] += 1
            continue
        if any(n['jdk.GCPhasePause'].overlapping(s, e) for n in nodes.values()):
            counts['node_gc'] += 1
            continue
        slow_syncs = slow_on('io.quorumkv.LogSync', s, e, a.sync_ms)
        if len(slow_syncs) >= 2:
            counts['slow_sync_on_2_or_more_nodes'] += 1
        elif len(slow_syncs) == 1:
            counts[one[0] if not a.leader or slow_syncs[0] == a.leader else one[1]] += 1
        elif slow_on('io.quorumkv.LoopTurn', s, e, a.turn_ms):
            counts['long_loop_turn'] += 1
        elif slow_on('io.quorumkv.LogWrite', s, e, a.turn_ms):
            counts['slow_log_write'] += 1
        elif slow_on('io.quorumkv.Apply', s, e, a.turn_ms):
            counts['slow_apply'] += 1
        elif slow_on('io.quorumkv.LogSync', s - int(a.after_ms * 1e6), s, a.sync_ms):
            counts['just_after_a_slow_sync'] += 1
        else:
            counts['none_of_these'] += 1

    def ms(ns):
        return None if ns is None else round(ns / 1e6, 3)

    per_node = {}
    for nid, n in nodes.items():
        syncs = sorted(x[1] - x[0] for x in n['io.quorumkv.LogSync'].evs if x[0] >= begin and x[0] <= end)
        gcs = [x[1] - x[0] for x in n['jdk.GCPhasePause'].evs if x[0] >= begin and x[0] <= end]
        turns = [x[1] - x[0] for x in n['io.quorumkv.LoopTurn'].evs if x[0] >= begin and x[0] <= end]
        writes = [x[1] - x[0] for x in n['io.quorumkv.LogWrite'].evs if x[0] >= begin and x[0] <= end]
        applies = [x[1] - x[0] for x in n['io.quorumkv.Apply'].evs if x[0] >= begin and x[0] <= end]
        per_node[nid] = {
            'fsyncs': len(syncs), 'fsync_p50_ms': ms(pct(syncs, 0.5)), 'fsync_p99_ms': ms(pct(syncs, 0.99)),
            'fsync_p999_ms': ms(pct(syncs, 0.999)), 'fsync_max_ms': ms(syncs[-1] if syncs else None),
            'fsyncs_over_sync_ms': sum(1 for x in syncs if x >= a.sync_ms * 1e6),
            'gc_pauses': len(gcs), 'gc_max_ms': ms(max(gcs, default=0)), 'gc_total_ms': ms(sum(gcs)),
            'loop_turns_over_1ms': len(turns), 'loop_turn_max_ms': ms(max(turns, default=0)),
            'log_writes_over_1ms': len(writes), 'log_write_max_ms': ms(max(writes, default=0)),
            'applies_over_1ms': len(applies), 'apply_max_ms': ms(max(applies, default=0)),
        }

    windows = {}
    for s, e, _, _ in slow:
        windows.setdefault((s - begin) // 100_000_000, []).append((s, e))
    top = []
    for w, reqs in sorted(windows.items(), key=lambda kv: -len(kv[1]))[:a.windows]:
        ws, we = begin + w * 100_000_000, begin + (w + 1) * 100_000_000
        top.append({
            'at_s': round(w / 10, 1), 'slow_requests': len(reqs),
            'slowest_ms': ms(max(e - s for s, e in reqs)),
            'max_fsync_ms': {nid: ms(max((x[1] - x[0] for x in n['io.quorumkv.LogSync'].overlapping(ws, we)), default=0))
                             for nid, n in nodes.items()},
            'gc_ms': {nid: ms(sum(x[1] - x[0] for x in n['jdk.GCPhasePause'].overlapping(ws, we)))
                      for nid, n in nodes.items()},
            'driver_gc_ms': ms(sum(x[1] - x[0] for x in driver_gc.overlapping(ws, we))),
            'max_loop_turn_ms': {nid: ms(max((x[1] - x[0] for x in n['io.quorumkv.LoopTurn'].overlapping(ws, we)), default=0))
                                 for nid, n in nodes.items()},
        })

    lat = sorted(e - s for s, e, _, _ in slow)
    print(json.dumps({
        'op': a.op, 'window_s': a.last, 'requests_over_2ms': len(requests), 'slow_ms': a.slow_ms,
        'slow_requests': len(slow), 'slow_p50_ms': ms(pct(lat, 0.5)), 'slow_max_ms': ms(lat[-1] if lat else None),
        'overlapped': counts, 'sync_ms': a.sync_ms, 'turn_ms': a.turn_ms, 'after_ms': a.after_ms,
        'driver_gc': {'pauses': sum(1 for x in driver_gc.evs if begin <= x[0] <= end),
                      'max_ms': ms(max((x[1] - x[0] for x in driver_gc.evs if begin <= x[0] <= end), default=0))},
        'nodes': per_node, 'worst_100ms_windows': top,
    }))


if __name__ == '__main__':
    main()
