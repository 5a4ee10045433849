/*
 * powerloss.so: a power cut for one process's files, for crash tests (LD_PRELOAD).
 *
 * kill -9 keeps the page cache, so a crash test that only kills processes cannot tell a write
 * that was made durable from one that was merely written: a missing fsync goes unseen. This
 * library interposes the libc calls that write files under one directory (QKV_POWERLOSS_ROOT)
 * and, per file (inode), keeps an undo record of every change since the file's last completed
 * fsync or fdatasync. When the process gets SIGPWR (blocked in every thread from the start and
 * taken by a thread of this library with sigwait, so no handler of the JVM's is involved), it
 * stops every further write, rolls each file back to its content at its last completed sync (unsynced
 * overwrites get their old bytes back, unsynced growth is cut off) and ends the process at once,
 * as a power cut that loses everything not synced would leave the disk.
 *
 * Modelled: file contents and sizes (write, pwrite, writev, pwritev, ftruncate, fallocate).
 * What survives of the unsynced changes (QKV_POWERLOSS_MODE): "all" lost (the default); "prefix":
 * per file, a random number of its first unsynced changes survives, and of the next one a random
 * number of whole 4 KiB pages (a torn write), the rest lost; "random": one of the two per cut.
 * QKV_POWERLOSS_SEED seeds the draws (default: the process id); the message names it.
 *
 * Not modelled: directory entries (a created, renamed or deleted file stays so; RocksDB and
 * QuorumKV sync directories where it matters), and unsynced changes reaching the disk out of
 * order (a later page without an earlier one). sync_file_range does not make data durable and is
 * not treated as a sync. Memory-mapped writes are not seen (neither RocksDB nor QuorumKV makes
 * any by default).
 *
 * Built by the tests (PowerLoss.java) with: cc -shared -fPIC -O1 -o powerloss.so powerloss.c -ldl -lpthread
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#define MAX_FDS 65536

/* One change to a file since its last sync: its size before, and the bytes it overwrote. */
struct undo {
  unsigned long long seq; /* order of the change among all files' changes */
  off_t old_size;
  off_t offset;
  size_t len; /* bytes of old content saved (the part of the change inside old_size) */
  char *old;
  size_t written; /* bytes the change wrote (0: a size change only) */
};

/* A file with changes not yet synced. */
struct file {
  dev_t dev;
  ino_t ino;
  int fd; /* our own duplicate: the file stays reachable after the caller closes or renames it */
  struct undo *undos;
  size_t start, count, cap; /* undos[start, count) are pending */
  struct file *next;
};

struct tracked {
  char on;
  dev_t dev;
  ino_t ino;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct tracked fds[MAX_FDS];
static struct file *files;
static char root[PATH_MAX];
static size_t root_len;
static int active;
static unsigned long long next_seq;

static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
static ssize_t (*real_pwrite64)(int, const void *, size_t, off_t);
static ssize_t (*real_writev)(int, const struct iovec *, int);
static ssize_t (*real_pwritev)(int, const struct iovec *, int, off_t);
static ssize_t (*real_pwritev64)(int, const struct iovec *, int, off_t);
static int (*real_ftruncate)(int, off_t);
static int (*real_ftruncate64)(int, off_t);
static int (*real_fallocate)(int, int, off_t, off_t);
static int (*real_fallocate64)(int, int, off_t, off_t);
static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static int (*real_close)(int);
static int (*real_open)(const char *, int, ...);
static int (*real_open64)(const char *, int, ...);
static int (*real_openat)(int, const char *, int, ...);
static int (*real_openat64)(int, const char *, int, ...);
static int (*real_creat)(const char *, mode_t);
static int (*real_creat64)(const char *, mode_t);

static void die(const char *what) {
  fprintf(stderr, "powerloss: %s: %s\n", what, strerror(errno));
  syscall(SYS_exit_group, 99);
}

static void *crash_thread(void *arg);

__attribute__((constructor)) static void init(void) {
  real_write = dlsym(RTLD_NEXT, "write");
  real_pwrite = dlsym(RTLD_NEXT, "pwrite");
  real_pwrite64 = dlsym(RTLD_NEXT, "pwrite64");
  real_writev = dlsym(RTLD_NEXT, "writev");
  real_pwritev = dlsym(RTLD_NEXT, "pwritev");
  real_pwritev64 = dlsym(RTLD_NEXT, "pwritev64");
  real_ftruncate = dlsym(RTLD_NEXT, "ftruncate");
  real_ftruncate64 = dlsym(RTLD_NEXT, "ftruncate64");
  real_fallocate = dlsym(RTLD_NEXT, "fallocate");
  real_fallocate64 = dlsym(RTLD_NEXT, "fallocate64");
  real_fsync = dlsym(RTLD_NEXT, "fsync");
  real_fdatasync = dlsym(RTLD_NEXT, "fdatasync");
  real_close = dlsym(RTLD_NEXT, "close");
  real_open = dlsym(RTLD_NEXT, "open");
  real_open64 = dlsym(RTLD_NEXT, "open64");
  real_openat = dlsym(RTLD_NEXT, "openat");
  real_openat64 = dlsym(RTLD_NEXT, "openat64");
  real_creat = dlsym(RTLD_NEXT, "creat");
  real_creat64 = dlsym(RTLD_NEXT, "creat64");
  const char *r = getenv("QKV_POWERLOSS_ROOT");
  if (r == NULL) {
    return; /* not asked for: every call passes through untouched */
  }
  if (realpath(r, root) == NULL) {
    die("QKV_POWERLOSS_ROOT");
  }
  root_len = strlen(root);
  /* Blocked here, in the first thread, so every thread started later has it blocked too. */
  sigset_t power;
  sigemptyset(&power);
  sigaddset(&power, SIGPWR);
  if (pthread_sigmask(SIG_BLOCK, &power, NULL) != 0) {
    die("blocking SIGPWR");
  }
  pthread_t t;
  if (pthread_create(&t, NULL, crash_thread, NULL) != 0) {
    die("crash thread");
  }
  active = 1;
}

/* lock held: the pending changes of (dev, ino), created if absent with a duplicate of fd. */
static struct file *find(dev_t dev, ino_t ino, struct file ***link);

static struct file *file_of(int fd, dev_t dev, ino_t ino) {
  struct file *f = find(dev, ino, NULL);
  if (f != NULL) {
    return f;
  }
  f = calloc(1, sizeof *f);
  if (f == NULL) {
    die("out of memory");
  }
  f->dev = dev;
  f->ino = ino;
  f->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (f->fd < 0) {
    die("dup");
  }
  f->next = files;
  files = f;
  return f;
}

static off_t size_of(int fd) {
  struct stat st;
  if (fstat(fd, &st) != 0) {
    die("fstat");
  }
  return st.st_size;
}

/*
 * lock held: records how to undo a change of [offset, offset + len) of fd, before it is made;
 * valid until the lock is released (the caller sets its written bytes).
 */
static struct undo *save(int fd, off_t offset, size_t len) {
  struct tracked *t = &fds[fd];
  struct file *f = file_of(fd, t->dev, t->ino);
  if (f->count == f->cap && f->start > 0) { /* the durable prefix is dropped: move down */
    memmove(f->undos, f->undos + f->start, (f->count - f->start) * sizeof *f->undos);
    f->count -= f->start;
    f->start = 0;
  }
  if (f->count == f->cap) {
    size_t cap = f->cap == 0 ? 16 : f->cap * 2;
    struct undo *u = realloc(f->undos, cap * sizeof *u);
    if (u == NULL) {
      die("out of memory");
    }
    f->undos = u;
    f->cap = cap;
  }
  struct undo *u = &f->undos[f->count++];
  u->seq = ++next_seq;
  u->old_size = size_of(fd);
  u->offset = offset;
  u->len = 0;
  u->old = NULL;
  u->written = 0;
  if (offset < u->old_size && len > 0) {
    size_t keep = (size_t) (u->old_size - offset) < len ? (size_t) (u->old_size - offset) : len;
    u->old = malloc(keep);
    if (u->old == NULL) {
      die("out of memory");
    }
    ssize_t n = pread(fd, u->old, keep, offset);
    if (n < 0) {
      die("pread");
    }
    u->len = (size_t) n;
  }
  return u;
}

static int tracked(int fd) {
  return active && fd >= 0 && fd < MAX_FDS && fds[fd].on;
}

/* After an open: tracks fd if its file lies under the root. */
static void opened(int fd) {
  if (!active || fd < 0 || fd >= MAX_FDS) {
    return;
  }
  char link[64], path[PATH_MAX];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, path, sizeof path - 1);
  struct stat st;
  if (n <= 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    return;
  }
  path[n] = 0;
  if (strncmp(path, root, root_len) == 0 && (path[root_len] == '/' || path[root_len] == 0)) {
    pthread_mutex_lock(&lock);
    fds[fd].on = 1;
    fds[fd].dev = st.st_dev;
    fds[fd].ino = st.st_ino;
    pthread_mutex_unlock(&lock);
  }
}

/* lock held: the pending changes of (dev, ino), or NULL. */
static struct file *find(dev_t dev, ino_t ino, struct file ***link) {
  for (struct file **l = &files; *l != NULL; l = &(*l)->next) {
    if ((*l)->dev == dev && (*l)->ino == ino) {
      if (link != NULL) {
        *link = l;
      }
      return *l;
    }
  }
  return NULL;
}

/* A sync of fd that returned: every change made to its file before the sync began is durable. */
static int synced(int fd, int (*sync)(int)) {
  if (!tracked(fd)) {
    return sync(fd);
  }
  pthread_mutex_lock(&lock);
  dev_t dev = fds[fd].dev;
  ino_t ino = fds[fd].ino;
  unsigned long long mark = next_seq;
  pthread_mutex_unlock(&lock);
  int rc = sync(fd);
  if (rc != 0) {
    return rc;
  }
  pthread_mutex_lock(&lock);
  struct file **link;
  struct file *f = find(dev, ino, &link);
  if (f != NULL) {
    while (f->start < f->count && f->undos[f->start].seq <= mark) {
      free(f->undos[f->start++].old);
    }
    if (f->start == f->count) { /* all durable: forget the file until its next change */
      *link = f->next;
      real_close(f->fd);
      free(f->undos);
      free(f);
    }
  }
  pthread_mutex_unlock(&lock);
  return rc;
}

/* A step of a 64-bit linear congruential generator: its high bits. */
static unsigned long long next(unsigned long long *state) {
  *state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
  return *state >> 33;
}

/*
 * How many leading bytes of change u reached the disk in a torn write: 0 (none), or up to a page
 * boundary inside it (the page cache writes whole 4 KiB pages back).
 */
static size_t torn_bytes(const struct undo *u, unsigned long long *rnd) {
  if (u->written == 0) {
    return 0;
  }
  off_t first = (u->offset / 4096 + 1) * 4096; /* the first page boundary past the start */
  off_t end = u->offset + (off_t) u->written;
  if (first >= end) {
    return 0; /* inside one page: all or nothing */
  }
  size_t boundaries = (size_t) ((end - 1 - first) / 4096 + 1);
  size_t pick = (size_t) (next(rnd) % (boundaries + 1));
  return pick == 0 ? 0 : (size_t) (first + (off_t) (pick - 1) * 4096 - u->offset);
}

static void *crash_thread(void *arg) {
  (void) arg;
  sigset_t power;
  sigemptyset(&power);
  sigaddset(&power, SIGPWR);
  int sig;
  while (sigwait(&power, &sig) != 0) {
  }
  pthread_mutex_lock(&lock); /* held for good: no write after the cut */
  const char *m = getenv("QKV_POWERLOSS_MODE");
  const char *seed_text = getenv("QKV_POWERLOSS_SEED");
  unsigned long long seed = seed_text != NULL ? strtoull(seed_text, NULL, 10) : (unsigned long long) getpid();
  unsigned long long rnd = seed * 6364136223846793005ULL + 1442695040888963407ULL;
  int prefix = m != NULL && (strcmp(m, "prefix") == 0 || (strcmp(m, "random") == 0 && (next(&rnd) & 1)));
  size_t files_rolled = 0, changes = 0, torn = 0;
  for (struct file *f = files; f != NULL; f = f->next) {
    size_t pending = f->count - f->start;
    /* prefix: the file's first `keep` changes reached the disk, and part of the next one */
    size_t keep = prefix ? (size_t) (next(&rnd) % (pending + 1)) : 0;
    for (size_t i = f->count; i > f->start + keep; i--) {
      struct undo *u = &f->undos[i - 1];
      size_t kept = i - 1 == f->start + keep && prefix ? torn_bytes(u, &rnd) : 0;
      if (u->len > kept && real_pwrite64(f->fd, u->old + kept, u->len - kept, u->offset + (off_t) kept)
          != (ssize_t) (u->len - kept)) {
        die("rolling back a write");
      }
      off_t size = u->old_size;
      if (kept > 0 && u->offset + (off_t) kept > size) {
        size = u->offset + (off_t) kept;
      }
      if (real_ftruncate64(f->fd, size) != 0) {
        die("rolling back a size");
      }
      changes++;
      torn += kept > 0;
    }
    if (f->count > f->start + keep) {
      files_rolled++;
    }
  }
  fprintf(stderr, "powerloss: power cut (%s, seed %llu), %zu unsynced changes of %zu files lost, %zu of them torn\n",
          prefix ? "a prefix of each file's unsynced changes kept" : "every unsynced change lost", seed,
          changes, files_rolled, torn);
  syscall(SYS_exit_group, 137);
  return NULL;
}

/* ---- the interposed calls ---- */

static ssize_t write_at(int fd, const void *buf, size_t len, off_t offset, int positioned,
                        ssize_t (*w)(int, const void *, size_t, off_t)) {
  pthread_mutex_lock(&lock);
  off_t at = positioned ? offset
                        : ((fcntl(fd, F_GETFL) & O_APPEND) ? size_of(fd) : lseek(fd, 0, SEEK_CUR));
  struct undo *u = save(fd, at, len);
  ssize_t n = positioned ? w(fd, buf, len, offset) : real_write(fd, buf, len);
  u->written = n > 0 ? (size_t) n : 0;
  pthread_mutex_unlock(&lock);
  return n;
}

ssize_t write(int fd, const void *buf, size_t len) {
  if (!tracked(fd)) {
    return real_write(fd, buf, len);
  }
  return write_at(fd, buf, len, 0, 0, NULL);
}

ssize_t pwrite(int fd, const void *buf, size_t len, off_t offset) {
  if (!tracked(fd)) {
    return real_pwrite(fd, buf, len, offset);
  }
  return write_at(fd, buf, len, offset, 1, real_pwrite);
}

ssize_t pwrite64(int fd, const void *buf, size_t len, off_t offset) {
  if (!tracked(fd)) {
    return real_pwrite64(fd, buf, len, offset);
  }
  return write_at(fd, buf, len, offset, 1, real_pwrite64);
}

static size_t total(const struct iovec *iov, int n) {
  size_t sum = 0;
  for (int i = 0; i < n; i++) {
    sum += iov[i].iov_len;
  }
  return sum;
}

ssize_t writev(int fd, const struct iovec *iov, int n) {
  if (!tracked(fd)) {
    return real_writev(fd, iov, n);
  }
  pthread_mutex_lock(&lock);
  off_t at = (fcntl(fd, F_GETFL) & O_APPEND) ? size_of(fd) : lseek(fd, 0, SEEK_CUR);
  struct undo *u = save(fd, at, total(iov, n));
  ssize_t r = real_writev(fd, iov, n);
  u->written = r > 0 ? (size_t) r : 0;
  pthread_mutex_unlock(&lock);
  return r;
}

static ssize_t pwritev_at(int fd, const struct iovec *iov, int n, off_t offset,
                          ssize_t (*w)(int, const struct iovec *, int, off_t)) {
  if (!tracked(fd)) {
    return w(fd, iov, n, offset);
  }
  pthread_mutex_lock(&lock);
  struct undo *u = save(fd, offset, total(iov, n));
  ssize_t r = w(fd, iov, n, offset);
  u->written = r > 0 ? (size_t) r : 0;
  pthread_mutex_unlock(&lock);
  return r;
}

ssize_t pwritev(int fd, const struct iovec *iov, int n, off_t offset) {
  return pwritev_at(fd, iov, n, offset, real_pwritev);
}

ssize_t pwritev64(int fd, const struct iovec *iov, int n, off_t offset) {
  return pwritev_at(fd, iov, n, offset, real_pwritev64);
}

static int truncate_to(int fd, off_t length, int (*t)(int, off_t)) {
  if (!tracked(fd)) {
    return t(fd, length);
  }
  pthread_mutex_lock(&lock);
  off_t size = size_of(fd);
  save(fd, length, size > length ? (size_t) (size - length) : 0);
  int r = t(fd, length);
  pthread_mutex_unlock(&lock);
  return r;
}

int ftruncate(int fd, off_t length) {
  return truncate_to(fd, length, real_ftruncate);
}

int ftruncate64(int fd, off_t length) {
  return truncate_to(fd, length, real_ftruncate64);
}

static int allocate(int fd, int mode, off_t offset, off_t len,
                    int (*a)(int, int, off_t, off_t)) {
  if (!tracked(fd)) {
    return a(fd, mode, offset, len);
  }
  pthread_mutex_lock(&lock);
  save(fd, offset, 0); /* the size only: allocated blocks read as zeros, as before */
  int r = a(fd, mode, offset, len);
  pthread_mutex_unlock(&lock);
  return r;
}

int fallocate(int fd, int mode, off_t offset, off_t len) {
  return allocate(fd, mode, offset, len, real_fallocate);
}

int fallocate64(int fd, int mode, off_t offset, off_t len) {
  return allocate(fd, mode, offset, len, real_fallocate64);
}

int fsync(int fd) {
  return synced(fd, real_fsync);
}

int fdatasync(int fd) {
  return synced(fd, real_fdatasync);
}

int close(int fd) {
  if (tracked(fd)) {
    pthread_mutex_lock(&lock);
    fds[fd].on = 0;
    pthread_mutex_unlock(&lock);
  }
  return real_close(fd);
}

static mode_t mode_arg(int flags, va_list ap) {
  return (flags & (O_CREAT | O_TMPFILE)) ? (mode_t) va_arg(ap, int) : 0;
}

/* The open family: the call itself, then tracking of the new descriptor. */
#define OPEN(name, real)                                       \
  int name(const char *path, int flags, ...) {                 \
    va_list ap;                                                \
    va_start(ap, flags);                                       \
    mode_t mode = mode_arg(flags, ap);                         \
    va_end(ap);                                                \
    int fd = real(path, flags, mode);                          \
    opened(fd);                                                \
    return fd;                                                 \
  }
#define OPENAT(name, real)                                     \
  int name(int dir, const char *path, int flags, ...) {        \
    va_list ap;                                                \
    va_start(ap, flags);                                       \
    mode_t mode = mode_arg(flags, ap);                         \
    va_end(ap);                                                \
    int fd = real(dir, path, flags, mode);                     \
    opened(fd);                                                \
    return fd;                                                 \
  }

OPEN(open, real_open)
OPEN(open64, real_open64)
OPENAT(openat, real_openat)
OPENAT(openat64, real_openat64)

int creat(const char *path, mode_t mode) {
  int fd = real_creat(path, mode);
  opened(fd);
  return fd;
}

int creat64(const char *path, mode_t mode) {
  int fd = real_creat64(path, mode);
  opened(fd);
  return fd;
}
