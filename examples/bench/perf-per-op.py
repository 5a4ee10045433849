#!/usr/bin/env python3
"""A `perf record` profile as CPU microseconds per operation.

Usage: examples/bench/perf-per-op.py FILE OPS [--sort comm,dso] [--top 30] [--hz 999]

FILE is a recording made by cpu-per-op.py --perf FILE (sampled at --hz on the node JVMs during the
measured phase, JIT symbols in /tmp/perf-<pid>.map); OPS the operations of that phase (its ops_s
times its duration). Each row is samples / hz / OPS: what a thread, a library or a symbol cost
per operation, so runs of different throughput compare (e.g. 1 against 4 partitions). Kernel time
is included, which JFR's execution samples miss; on a VM, time spent with interrupts off (the
scheduler's context switch, a wake-up) shows up where they are turned back on
(`finish_task_switch`, `_raw_spin_unlock_irqrestore`)."""
import argparse, re, subprocess

ap = argparse.ArgumentParser()
ap.add_argument('file'); ap.add_argument('ops', type=float)
ap.add_argument('--sort', default='comm,dso'); ap.add_argument('--top', type=int, default=30)
ap.add_argument('--hz', type=float, default=999)
a = ap.parse_args()
out = subprocess.run(['perf', 'report', '-i', a.file, '--sort', a.sort, '-n', '--stdio'],
                     capture_output=True, text=True, check=True).stdout
rows = []
for line in out.splitlines():
    m = re.match(r'\s*([\d.]+)%\s+(\d+)\s+(.*)', line)
    if m and not line.startswith('#'):
        rows.append((int(m.group(2)), re.sub(r'\s+', ' ', m.group(3)).strip()))
total = sum(n for n, _ in rows)
per_op = lambda n: n / a.hz * 1e6 / max(a.ops, 1)
print('samples %d, %.1f us/op in all' % (total, per_op(total)))
for n, key in rows[:a.top]:
    print('%7.2f us/op  %s' % (per_op(n), key[:150]))
