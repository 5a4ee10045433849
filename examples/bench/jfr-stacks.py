#!/usr/bin/env python3
"""Where a JFR recording's samples went: the top frames (self), the methods on the stack
(inclusive), and for allocation samples the classes allocated, as shares of the samples.

Usage: examples/bench/jfr-stacks.py FILE [--event exec|alloc] [--thread SUBSTR] [--last SECONDS]
           [--depth 1] [--top 40]

FILE is a recording, e.g. cpu-per-op.py's --driver-jfr FILE (the driver) or --jfr PREFIX (the
nodes). --event exec reads jdk.ExecutionSample (each sample counts 1), alloc
jdk.ObjectAllocationSample (each sample counts its weight in bytes). --thread keeps the samples of
threads whose name contains SUBSTR; --last keeps those of the recording's last SECONDS (e.g. the
measured phase after the warm-up); --depth N names a sample by its top N frames. Needs the JDK's
`jfr` tool on the PATH."""
import argparse, collections, re, subprocess

ap = argparse.ArgumentParser()
ap.add_argument('file'); ap.add_argument('--thread', default='')
ap.add_argument('--event', default='exec', choices=['exec', 'alloc'])
ap.add_argument('--top', type=int, default=40); ap.add_argument('--depth', type=int, default=1)
ap.add_argument('--last', type=float, default=0)
a = ap.parse_args()
ev = 'jdk.ExecutionSample' if a.event == 'exec' else 'jdk.ObjectAllocationSample'
text = subprocess.run(['jfr', 'print', '--events', ev, '--stack-depth', '64', a.file],
                      capture_output=True, text=True, check=True).stdout
records = text.split('\n' + ev + ' {')
UNITS = {'byte': 1, 'bytes': 1, 'kB': 1e3, 'MB': 1e6, 'GB': 1e9}

def seconds(rec):
    m = re.search(r'startTime = (\d+):(\d+):(\d+)\.(\d+)', rec)
    return int(m.group(1)) * 3600 + int(m.group(2)) * 60 + int(m.group(3)) + float('0.' + m.group(4)) if m else 0

end = max((seconds(r) for r in records), default=0)
own, onstack, threads, classes = (collections.Counter() for _ in range(4))
total = 0
for rec in records:
    m = re.search(r'(?:sampledThread|eventThread) = "([^"]*)"', rec)
    if not m or a.thread not in m.group(1) or (a.last and seconds(rec) < end - a.last):
        continue
    w = 1
    if a.event == 'alloc':
        mw = re.search(r'weight = ([\d.]+) (\w+)', rec)
        w = float(mw.group(1)) * UNITS.get(mw.group(2), 1) if mw else 0
        mc = re.search(r'objectClass = (\S+)', rec)
        if mc:
            classes[mc.group(1)] += w
    threads[re.sub(r'\d+', '', m.group(1))] += w
    total += w
    frames = re.findall(r'^\s+([\w.$<>/]+)\(.*?\)\s+line:', rec, re.M)
    if frames:
        own[' <- '.join(frames[:a.depth])] += w
        for f in set(frames):
            onstack[f] += w

def show(title, counter):
    print('--- ' + title)
    for k, v in counter.most_common(a.top):
        print('%6.1f%% %s' % (100 * v / max(total, 1), k))

print('total', round(total), 'threads', threads.most_common(8))
show('self', own)
show('inclusive', onstack)
if classes:
    show('allocated classes', classes)
