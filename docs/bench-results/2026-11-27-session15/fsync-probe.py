# fdatasync latency of a 16 KiB append, alone and beside a writer of RATE MB/s (O_DIRECT into a
# preallocated file, or buffered + sync_file_range every MiB), to tell the device/host flush cost
# from ext4's ordered-data entanglement.
import os, sys, time, threading, mmap, ctypes
mode, rate, n = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
d = '/work/probe'; os.makedirs(d, exist_ok=True)
stop = False
libc = ctypes.CDLL('libc.so.6', use_errno=True)
def writer():
    chunk = mmap.mmap(-1, 1 << 20); chunk.write(os.urandom(1 << 20))
    size = 256 << 20
    path = d + '/bg'
    if mode == 'directnew':
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_DIRECT)
    elif mode == 'bufover':
        fd = os.open(path, os.O_WRONLY | os.O_CREAT)
        for off in range(0, size, 1 << 20): os.pwrite(fd, chunk, off)
        os.fsync(fd)
    elif mode == 'direct':
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_DIRECT)
        os.posix_fallocate(fd, 0, size); os.fsync(fd)
        # write once over everything so the extents are written (no unwritten conversion later)
        for off in range(0, size, 1 << 20): os.pwrite(fd, chunk, off)
        os.fsync(fd)
    else:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    off = 0; t0 = time.time(); written = 0
    while not stop:
        if mode in ('buffered', 'directnew') and off >= size:
            os.ftruncate(fd, 0); off = 0
        os.pwrite(fd, chunk, off % size)
        if mode in ('buffered', 'bufover'):
            libc.sync_file_range(fd, ctypes.c_longlong(off), ctypes.c_longlong(1 << 20), 2)
        off += 1 << 20; written += 1 << 20
        ahead = written / (rate * 1e6) - (time.time() - t0)
        if ahead > 0: time.sleep(ahead)
    os.close(fd)
if rate > 0:
    th = threading.Thread(target=writer); th.start(); time.sleep(2)
over = os.environ.get('WALMODE') == 'over'
buf = os.urandom(16384); lat = []
if over:
    fd = os.open(d + '/wal', os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    for off in range(0, 2000 * 16384, 1 << 20): os.pwrite(fd, os.urandom(1 << 20), off)
    os.fsync(fd)
else:
    fd = os.open(d + '/wal', os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND)
for i in range(n):
    if over: os.pwrite(fd, buf, (i % 2000) * 16384)
    else: os.write(fd, buf)
    t = time.perf_counter(); os.fdatasync(fd); lat.append(time.perf_counter() - t)
    if not over and i % 2000 == 1999: os.ftruncate(fd, 0)
stop = True
if rate > 0: th.join()
lat.sort(); p = lambda q: round(lat[min(len(lat)-1, int(q*len(lat)))]*1e3, 3)
print(os.environ.get('WALMODE','append'), mode, rate, 'MB/s', 'n', n, 'p50', p(.5), 'p99', p(.99), 'p999', p(.999), 'max', p(1.0))
