#!/usr/bin/env python3
"""CPU per operation of a QuorumKV build, for A/B comparisons on a busy machine.

Usage: examples/bench/cpu-per-op.py ROOT [--label L] [--clients 64] [--phases put,get]
           [--warmup 5] [--duration 10] [--port 27890] [--jfr PREFIX] [--driver-jfr FILE]
           [--perf FILE] [--out FILE]

Starts ROOT/examples/bench/run-cluster.sh (ROOT: a checkout with a built examples module, e.g. a
copy of main in /tmp), runs ROOT's Bench against it, and reads the per-thread CPU of the three
node JVMs and of the driver from /proc/<pid>/task/*/stat when each recorded phase starts and ends
(Bench's "start" and "done" progress lines). Prints one JSON line per phase: throughput and
latencies from Bench, node CPU per operation in microseconds (all threads, and without the JIT's
compiler threads), the driver's CPU per operation without the JIT, the node threads that took
the most, grouped by name (top; top_kernel: the part of it spent in the kernel), the nodes' context
switches per operation (ctx_switches_per_op, and top_ctx_switches by thread name), the nodes' read-
and write-family syscalls per operation, and (from
the nodes' /metrics at the same moments) the Raft messages sent per operation by type, the
entries per AppendEntries, proposals and fsyncs per operation, the applier's state machine writes
and the partitions' batches they wrote per operation, multi requests per operation and
items per multi (a KvClient's coalesced gets and writes). Stops the cluster by PID
(stop-cluster.sh) in every case. --jfr PREFIX records JFR on the nodes (PREFIX-node-N.jfr),
--driver-jfr FILE on the driver; examples/bench/jfr-stacks.py summarises either. --perf FILE
samples the node JVMs with `perf record -F 999` during the first measured phase (native and kernel
time too, which JFR's execution samples miss) and writes the JIT's symbol maps
(/tmp/perf-<pid>.map, `jcmd <pid> Compiler.perfmap`) before the cluster stops; read it with
`perf report -i FILE --sort comm,dso,sym`. The cluster gets
this process's environment: QKV_PARTITIONS, QKV_PREFERRED_LEADERS (e.g. 1: every leader on node 1)
and the other run-cluster.sh settings pass through."""
import os, re, urllib.request, subprocess, sys, json, time, collections, argparse
ap = argparse.ArgumentParser()
ap.add_argument('root'); ap.add_argument('--label', default='')
ap.add_argument('--clients', default='64'); ap.add_argument('--phases', default='put,get')
ap.add_argument('--duration', default='10'); ap.add_argument('--warmup', default='5')
ap.add_argument('--port', default='27890'); ap.add_argument('--jfr', default='')
ap.add_argument('--driver-jfr', default='', help='JFR recording file of the driver JVM (profile settings)')
ap.add_argument('--perf', default='', help='perf record file: the nodes, sampled in the first measured phase')
ap.add_argument('--out', default='/tmp/qkv-cpu-per-op.jsonl')
a = ap.parse_args()
TCK = os.sysconf('SC_CLK_TCK')
env = dict(os.environ)
state = '/tmp/qkv-cpu-per-op-cluster-%s.env' % a.port
env['QKV_STATE'] = state; env['QKV_BASE_PORT'] = a.port
if a.jfr:
    env['QKV_NODE_JAVA_OPTS'] = '-Xms1g -Xmx1g -XX:+UseG1GC -XX:StartFlightRecording=filename=%s-node-{id}.jfr,settings=profile' % a.jfr

def threads(pid):
    out = collections.Counter()
    try:
        tids = os.listdir('/proc/%d/task' % pid)
    except FileNotFoundError:
        return out
    for t in tids:
        try:
            s = open('/proc/%d/task/%s/stat' % (pid, t)).read()
        except OSError:
            continue
        name = s[s.index('(') + 1:s.rindex(')')]
        f = s[s.rindex(')') + 2:].split()
        name = re.sub(r'[-#]?\d+', '', name).strip()
        out[name] += int(f[11]) + int(f[12])
        out['kernel:' + name] += int(f[12])  # stime: the thread's time in the kernel (syscalls)
        try:  # context switches: each hand-off between threads that sleeps costs one or two
            for l in open('/proc/%d/task/%s/status' % (pid, t)):
                if l.startswith(('voluntary_ctxt_switches', 'nonvoluntary_ctxt_switches')):
                    out['cs:' + name] += int(l.split()[1])
        except OSError:
            pass
    return out

def io(pid):
    # read- and write-family syscalls of the whole process (sockets, pipes and files alike)
    try:
        f = dict(l.split(': ') for l in open('/proc/%d/io' % pid).read().splitlines())
        return collections.Counter({'sys:read': int(f['syscr']), 'sys:write': int(f['syscw'])})
    except (OSError, KeyError, ValueError):
        return collections.Counter()

def snap(pids):
    return {p: threads(p) + io(p) for p in pids}

def scrape(urls):
    # Sums the nodes' Raft traffic counters (quorumkv_raft_sent_total by type, entries, proposals), fsyncs, and
    # the read path's counters (read index batches, reads in them, LEASE/STALE gets read from disk).
    out = collections.Counter()
    for u in urls:
        try:
            body = urllib.request.urlopen(u, timeout=5).read().decode()
        except OSError:
            continue
        for l in body.splitlines():
            m = re.match(r'(quorumkv_raft_sent_total|quorumkv_raft_sent_entries_total|quorumkv_proposals_total|quorumkv_fsync_latency_seconds_count|quorumkv_requests_multi_total|quorumkv_requests_multi_items_total|quorumkv_reads_batches_total|quorumkv_reads_batched_total|quorumkv_reads_disk_total|quorumkv_apply_writes_total|quorumkv_apply_batches_total|quorumkv_transport_raft_frames_total|quorumkv_storage_sst_bytes_total)(\{[^}]*\})? ([0-9.eE+]+)', l)
            if m:
                t = re.search(r'type="([^"]+)"', m.group(2) or '')
                cf = re.search(r'cf="([^"]+)",.*reason="([^"]+)"', m.group(2) or '')
                # SST bytes per column family and reason: sst_log-flush/op etc., bytes per operation
                tag = t.group(1) if t else ('sst_%s-%s' % cf.groups() if cf else None)
                out[m.group(1) + (':' + tag if tag else '')] += float(m.group(3))
    return out

def jit(n):
    return 'Compiler' in n
try:
    r = subprocess.run([a.root + '/examples/bench/run-cluster.sh'], env=env, capture_output=True, text=True, timeout=240)
    if r.returncode != 0:
        print('cluster failed', r.stderr[-2000:]); sys.exit(1)
    st = dict(l.split('=', 1) for l in open(state).read().splitlines())
    nodes = [int(x) for x in st['QKV_PIDS'].strip('"').split()]
    eps = st['ENDPOINTS']
    murls = st.get('METRICS', '').strip('"').split(',')
    cp = a.root + '/examples/target/quorumkv-examples-0.1.0-SNAPSHOT.jar:' + open(a.root + '/examples/target/classpath.txt').read().strip()
    cmd = ['java', '-Xmx1g'] + os.environ.get('QKV_DRIVER_OPTS', '').split() + (['-XX:StartFlightRecording=filename=%s,settings=profile' % a.driver_jfr] if a.driver_jfr else []) + ['-cp', cp, 'io.quorumkv.examples.Bench', '--system', 'quorumkv', '--label', a.label,
           '--phases', a.phases, '--progress', 'lines', '--endpoints', eps, '--clients', a.clients,
           '--duration', a.duration, '--warmup', a.warmup]
    b = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    pids = nodes + [b.pid]
    start = None; t0 = None; results = []; perf = None
    for line in b.stderr:
        if line.rstrip().endswith(' start'):
            start = snap(pids); t0 = time.time(); m0 = scrape(murls)
            if a.perf and perf is None and not results:
                perf = subprocess.Popen(['perf', 'record', '-F', '999', '-o', a.perf, '-p', ','.join(map(str, nodes))],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        elif ' done:' in line and 'warm-up' not in line:
            if start is not None:
                end = snap(pids); t1 = time.time(); m1 = scrape(murls)
                results.append((line.split()[0], start, end, t1 - t0, m0, m1)); start = None
            if perf is not None and perf.returncode is None:
                perf.send_signal(2); perf.wait(timeout=60)
                for n in nodes:  # symbols of JIT-compiled code, while the JVMs still run
                    subprocess.run(['jcmd', str(n), 'Compiler.perfmap'], capture_output=True, timeout=60)
    recs = [json.loads(l) for l in b.stdout.read().splitlines() if l.startswith('{')]
    b.wait(timeout=60)
finally:
    subprocess.run([a.root + '/examples/bench/stop-cluster.sh'], env=env, capture_output=True, timeout=60)
for (phase, s0, s1, wall, m0, m1), rec in zip(results, recs):
    ops = rec['ops']
    def delta(pid):
        d = collections.Counter()
        for n, v in s1[pid].items():
            d[n] += v - s0[pid].get(n, 0)
        return d
    node = collections.Counter()
    for p in nodes:
        node.update(delta(p))
    sysc = {k[4:] + '/op': round(node.pop(k, 0) / max(ops, 1), 2) for k in ('sys:read', 'sys:write')}
    kernel = collections.Counter({n[7:]: node.pop(n) for n in list(node) if n.startswith('kernel:')})
    switches = collections.Counter({n[3:]: node.pop(n) for n in list(node) if n.startswith('cs:')})
    drv = delta(b.pid)
    drv.pop('sys:read', None); drv.pop('sys:write', None)
    for n in [n for n in drv if n.startswith(('kernel:', 'cs:'))]:
        drv.pop(n)
    us = lambda c, f: sum(v for n, v in c.items() if f(n)) * 1e6 / TCK / max(ops, 1)
    top = sorted(((v, n) for n, v in node.items() if v > 0), reverse=True)[:8]
    out = dict(label=a.label, op=rec['op'], clients=rec['clients'], ops_s=rec['ops_per_s'], p50=rec['p50_us'], p99=rec['p99_us'],
               p999=rec['p999_us'], errors=rec['errors'], node_us_op=round(us(node, lambda n: True), 1),
               node_nojit_us_op=round(us(node, lambda n: not jit(n)), 1), driver_nojit_us_op=round(us(drv, lambda n: not jit(n)), 1),
               node_syscalls=sysc,
               raft={k.split(':')[-1].replace('quorumkv_', '').replace('_total', '') + '/op': round((m1[k] - m0.get(k, 0)) / max(ops, 1), 3) for k in m1},
               entries_per_append=round((m1.get('quorumkv_raft_sent_entries_total', 0) - m0.get('quorumkv_raft_sent_entries_total', 0))
                                        / max(m1.get('quorumkv_raft_sent_total:append', 0) - m0.get('quorumkv_raft_sent_total:append', 0), 1), 2),
               items_per_multi=round((m1.get('quorumkv_requests_multi_items_total', 0) - m0.get('quorumkv_requests_multi_items_total', 0))
                                     / max(m1.get('quorumkv_requests_multi_total', 0) - m0.get('quorumkv_requests_multi_total', 0), 1), 2),
               top={n: round(v * 1e6 / TCK / max(ops, 1), 1) for v, n in top},
               top_kernel={n: round(kernel[n] * 1e6 / TCK / max(ops, 1), 1) for v, n in top},
               ctx_switches_per_op=round(sum(switches.values()) / max(ops, 1), 2),
               top_ctx_switches={n: round(switches[n] / max(ops, 1), 3) for n in sorted(switches, key=switches.get, reverse=True)[:8]},
               ts=rec['ts'])
    print(json.dumps(out)); open(a.out, 'a').write(json.dumps(out) + '\n')
