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
 * Modelled: file contents and sizes (write, pwrite, writev, pwritev, ftruncate, fallocate, and
 * open with O_TRUNC), and directory entries: a regular file created (open with O_CREAT), renamed
 * (possibly over another) or unlinked under the root is undone at the cut unless its directory
 * was fsynced after the change (POSIX's rule; ext4 happens to commit them with any later fsync,
 * other file systems do not). A file replaced or unlinked is kept meanwhile as a hard link in a
 * side directory beside the root (<root>.powerloss-<pid>, removed at the cut).
 * What survives of the unsynced changes (QKV_POWERLOSS_MODE): "all" lost (the default); "prefix":
 * per file, a random number of its first unsynced changes survives, and of the next one a random
 * number of whole 4 KiB pages (a torn write), the rest lost; "random": one of the two per cut.
 * QKV_POWERLOSS_SEED seeds the draws (default: the process id); the message names it.
 *
 * Not modelled: directories created or removed (mkdir, rmdir), hard links, and unsynced changes
 * reaching the disk out of order (a later page without an earlier one). sync_file_range does not make data durable and is
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
  char on;  /* a regular file under the root */
  char dir; /* a directory under the root: its fsync makes its entries durable */
  dev_t dev;
  ino_t ino;
};

/*
 * A change to a directory entry under the root since that directory's last fsync: a file created,
 * renamed (possibly over another) or unlinked. A file replaced or unlinked stays reachable through
 * a hard link in the side directory (the root's sibling) until the change is durable.
 */
enum dirop_kind { CREATED, RENAMED, UNLINKED };
struct dirop {
  unsigned long long seq;
  enum dirop_kind kind;
  char *path;   /* the entry created or unlinked, or a rename's source */
  char *to;     /* a rename's target */
  char *saved;  /* the side link of the file unlinked or renamed over, or NULL */
  char *dirs[2]; /* the directories whose fsync it waits for (set to NULL once synced) */
  struct dirop *next;
};
static struct dirop *dirops;      /* newest first */
static char side[PATH_MAX + 32];  /* the side directory, made when first needed */

static pthread_mutex_t lock = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP; /* the open wrappers nest */
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
static int (*real_rename)(const char *, const char *);
static int (*real_renameat)(int, const char *, int, const char *);
static int (*real_renameat2)(int, const char *, int, const char *, unsigned int);
static int (*real_unlink)(const char *);
static int (*real_unlinkat)(int, const char *, int);

static void die(const char *what) {
  fprintf(stderr, "powerloss: %s: %s\n", what, strerror(errno));
  syscall(SYS_exit_group, 99);
}

static void *crash_thread(void *arg);
static size_t roll_back_entries(void);

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
  real_rename = dlsym(RTLD_NEXT, "rename");
  real_renameat = dlsym(RTLD_NEXT, "renameat");
  real_renameat2 = dlsym(RTLD_NEXT, "renameat2");
  real_unlink = dlsym(RTLD_NEXT, "unlink");
  real_unlinkat = dlsym(RTLD_NEXT, "unlinkat");
  const char *r = getenv("QKV_POWERLOSS_ROOT");
  if (r == NULL) {
    return; /* not asked for: every call passes through untouched */
  }
  if (realpath(r, root) == NULL) {
    die("QKV_POWERLOSS_ROOT");
  }
  root_len = strlen(root);
  snprintf(side, sizeof side, "%s.powerloss-%d", root, (int) getpid());
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
  /* A new open of the same file, readable and writable whatever the caller's mode. */
  char link[64];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  f->fd = real_open(link, O_RDWR | O_CLOEXEC);
  if (f->fd < 0) {
    die("reopening a file");
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
  fd = f->fd; /* read the old content through our own, readable descriptor */
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
static int under_root(const char *path) {
  return strncmp(path, root, root_len) == 0 && (path[root_len] == '/' || path[root_len] == 0);
}

static void opened(int fd) {
  if (!active || fd < 0 || fd >= MAX_FDS) {
    return;
  }
  char link[64], path[PATH_MAX];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, path, sizeof path - 1);
  struct stat st;
  if (n <= 0 || fstat(fd, &st) != 0 || !(S_ISREG(st.st_mode) || S_ISDIR(st.st_mode))) {
    return;
  }
  path[n] = 0;
  if (under_root(path)) {
    pthread_mutex_lock(&lock);
    fds[fd].on = S_ISREG(st.st_mode);
    fds[fd].dir = S_ISDIR(st.st_mode);
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
static int dir_synced(int fd, int (*sync)(int));

static int synced(int fd, int (*sync)(int)) {
  if (active && fd >= 0 && fd < MAX_FDS && fds[fd].dir) {
    return dir_synced(fd, sync);
  }
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
  size_t entries = roll_back_entries();
  rmdir(side);
  fprintf(stderr, "powerloss: power cut (%s, seed %llu), %zu unsynced changes of %zu files lost, %zu of them torn, %zu directory entries rolled back\n",
          prefix ? "a prefix of each file's unsynced changes kept" : "every unsynced change lost", seed,
          changes, files_rolled, torn, entries);
  syscall(SYS_exit_group, 137);
  return NULL;
}


/* ---- directory entries ---- */

/*
 * The absolute path of the entry `path` names relative to `dirfd` (its parent resolved, the last
 * component kept), in out; 0 if it lies under the root, -1 otherwise.
 */
static int entry_path(int dirfd, const char *path, char *out) {
  char full[PATH_MAX * 2];
  if (path[0] == '/') {
    snprintf(full, sizeof full, "%s", path);
  } else {
    char base[PATH_MAX];
    if (dirfd == AT_FDCWD) {
      if (getcwd(base, sizeof base) == NULL) {
        return -1;
      }
    } else {
      char link[64];
      snprintf(link, sizeof link, "/proc/self/fd/%d", dirfd);
      ssize_t n = readlink(link, base, sizeof base - 1);
      if (n <= 0) {
        return -1;
      }
      base[n] = 0;
    }
    snprintf(full, sizeof full, "%s/%s", base, path);
  }
  char *slash = strrchr(full, '/');
  if (slash == NULL || slash[1] == 0) {
    return -1;
  }
  *slash = 0;
  char parent[PATH_MAX];
  if (realpath(full[0] == 0 ? "/" : full, parent) == NULL) {
    return -1;
  }
  if ((size_t) snprintf(out, PATH_MAX, "%s/%s", parent, slash + 1) >= PATH_MAX) {
    return -1;
  }
  return under_root(out) ? 0 : -1;
}

static char *parent_of(const char *path) {
  char *p = strdup(path);
  if (p == NULL) {
    die("out of memory");
  }
  char *slash = strrchr(p, '/');
  if (slash != NULL) {
    *slash = 0;
  }
  return p;
}

static char *copy(const char *s) {
  char *c = s == NULL ? NULL : strdup(s);
  if (s != NULL && c == NULL) {
    die("out of memory");
  }
  return c;
}

/* lock held: a hard link in the side directory to the regular file at path, or NULL if none. */
static char *keep(const char *path) {
  struct stat st;
  if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
    return NULL;
  }
  if (mkdir(side, 0700) != 0 && errno != EEXIST) {
    die("side directory");
  }
  char name[PATH_MAX + 64];
  snprintf(name, sizeof name, "%s/%llu", side, next_seq + 1);
  if (link(path, name) != 0) {
    die("keeping a replaced or unlinked file");
  }
  return copy(name);
}

/* lock held: records a directory change (the strings are copied). */
static void record(enum dirop_kind kind, const char *path, const char *to, char *saved) {
  struct dirop *d = calloc(1, sizeof *d);
  if (d == NULL) {
    die("out of memory");
  }
  d->seq = ++next_seq;
  d->kind = kind;
  d->path = copy(path);
  d->to = copy(to);
  d->saved = saved;
  d->dirs[0] = parent_of(path);
  if (to != NULL) {
    d->dirs[1] = parent_of(to);
    if (strcmp(d->dirs[0], d->dirs[1]) == 0) {
      free(d->dirs[1]);
      d->dirs[1] = NULL;
    }
  }
  d->next = dirops;
  dirops = d;
}

static void forget(struct dirop *d) {
  if (d->saved != NULL) {
    real_unlink(d->saved);
  }
  free(d->path);
  free(d->to);
  free(d->saved);
  free(d->dirs[0]);
  free(d->dirs[1]);
  free(d);
}

/* A directory's fsync that returned: every change of its entries made before it began is durable. */
static int dir_synced(int fd, int (*sync)(int)) {
  char link[64], path[PATH_MAX];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, path, sizeof path - 1);
  pthread_mutex_lock(&lock);
  unsigned long long mark = next_seq;
  pthread_mutex_unlock(&lock);
  int rc = sync(fd);
  if (rc != 0 || n <= 0) {
    return rc;
  }
  path[n] = 0;
  pthread_mutex_lock(&lock);
  for (struct dirop **l = &dirops; *l != NULL;) {
    struct dirop *d = *l;
    if (d->seq <= mark) {
      for (int i = 0; i < 2; i++) {
        if (d->dirs[i] != NULL && strcmp(d->dirs[i], path) == 0) {
          free(d->dirs[i]);
          d->dirs[i] = NULL;
        }
      }
    }
    if (d->dirs[0] == NULL && d->dirs[1] == NULL) {
      *l = d->next;
      forget(d);
    } else {
      l = &d->next;
    }
  }
  pthread_mutex_unlock(&lock);
  return rc;
}

/* lock held, at the cut: undoes every directory change not yet durable, newest first. */
static size_t roll_back_entries(void) {
  size_t n = 0;
  for (struct dirop *d = dirops; d != NULL; d = d->next, n++) {
    switch (d->kind) {
      case CREATED:
        real_unlink(d->path);
        break;
      case RENAMED:
        if (real_rename(d->to, d->path) != 0) {
          die("rolling back a rename");
        }
        if (d->saved != NULL && real_rename(d->saved, d->to) != 0) {
          die("bringing back a file renamed over");
        }
        break;
      case UNLINKED:
        if (d->saved != NULL && real_rename(d->saved, d->path) != 0) {
          die("bringing back an unlinked file");
        }
        break;
    }
  }
  return n;
}

static int rename_entry(int from_dir, const char *from, int to_dir, const char *to, unsigned int flags,
                        int (*op)(void)) {
  char src[PATH_MAX], dst[PATH_MAX];
  struct stat st;
  if (!active || entry_path(from_dir, from, src) != 0 || entry_path(to_dir, to, dst) != 0
      || lstat(src, &st) != 0 || !S_ISREG(st.st_mode) || flags != 0) {
    return op(); /* not a regular file moved within the root: not modelled */
  }
  pthread_mutex_lock(&lock);
  char *saved = keep(dst);
  int rc = op();
  if (rc == 0) {
    record(RENAMED, src, dst, saved);
  } else if (saved != NULL) {
    real_unlink(saved);
    free(saved);
  }
  pthread_mutex_unlock(&lock);
  return rc;
}

static const char *op_from, *op_to;
static int op_dir1, op_dir2;
static unsigned int op_flags;
static int do_rename(void) { return real_rename(op_from, op_to); }
static int do_renameat(void) { return real_renameat(op_dir1, op_from, op_dir2, op_to); }
static int do_renameat2(void) { return real_renameat2(op_dir1, op_from, op_dir2, op_to, op_flags); }

int rename(const char *from, const char *to) {
  pthread_mutex_lock(&lock); /* the op_ arguments are shared: one rename at a time */
  op_from = from;
  op_to = to;
  int rc = rename_entry(AT_FDCWD, from, AT_FDCWD, to, 0, do_rename);
  pthread_mutex_unlock(&lock);
  return rc;
}

int renameat(int from_dir, const char *from, int to_dir, const char *to) {
  pthread_mutex_lock(&lock);
  op_from = from;
  op_to = to;
  op_dir1 = from_dir;
  op_dir2 = to_dir;
  int rc = rename_entry(from_dir, from, to_dir, to, 0, do_renameat);
  pthread_mutex_unlock(&lock);
  return rc;
}

int renameat2(int from_dir, const char *from, int to_dir, const char *to, unsigned int flags) {
  pthread_mutex_lock(&lock);
  op_from = from;
  op_to = to;
  op_dir1 = from_dir;
  op_dir2 = to_dir;
  op_flags = flags;
  int rc = rename_entry(from_dir, from, to_dir, to, flags, do_renameat2);
  pthread_mutex_unlock(&lock);
  return rc;
}

static int unlink_entry(int dir, const char *path, int flags) {
  char abs[PATH_MAX];
  struct stat st;
  if (!active || (flags & AT_REMOVEDIR) || entry_path(dir, path, abs) != 0 || lstat(abs, &st) != 0
      || !S_ISREG(st.st_mode)) {
    return dir == AT_FDCWD && flags == 0 ? real_unlink(path) : real_unlinkat(dir, path, flags);
  }
  pthread_mutex_lock(&lock);
  char *saved = keep(abs);
  int rc = real_unlink(abs);
  if (rc == 0) {
    record(UNLINKED, abs, NULL, saved);
  } else if (saved != NULL) {
    real_unlink(saved);
    free(saved);
  }
  pthread_mutex_unlock(&lock);
  return rc;
}

int unlink(const char *path) {
  return unlink_entry(AT_FDCWD, path, 0);
}

int unlinkat(int dir, const char *path, int flags) {
  return unlink_entry(dir, path, flags);
}

/*
 * lock held, around an open: whether the call may create the file, and if it would truncate an
 * existing file under the root, takes O_TRUNC off (the caller truncates through ftruncate, which
 * keeps an undo record).
 */
static int before_open(int dir, const char *path, int *flags, int *truncate) {
  struct stat st;
  int exists = fstatat(dir, path, &st, 0) == 0;
  *truncate = 0;
  if (exists && (*flags & O_TRUNC) && S_ISREG(st.st_mode) && st.st_size > 0) {
    char abs[PATH_MAX];
    if (entry_path(dir, path, abs) == 0) {
      *flags &= ~O_TRUNC;
      *truncate = 1;
    }
  }
  return !exists && (*flags & O_CREAT);
}

/* lock held, after an open that returned fd. */
static void after_open(int fd, int created, int truncate) {
  opened(fd);
  if (fd < 0 || !tracked(fd)) {
    return;
  }
  if (created) {
    char link[64], path[PATH_MAX];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    if (n > 0) {
      path[n] = 0;
      record(CREATED, path, NULL, NULL);
    }
  }
  if (truncate) {
    ftruncate(fd, 0);
  }
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
  if (active && fd >= 0 && fd < MAX_FDS && (fds[fd].on || fds[fd].dir)) {
    pthread_mutex_lock(&lock);
    fds[fd].on = 0;
    fds[fd].dir = 0;
    pthread_mutex_unlock(&lock);
  }
  return real_close(fd);
}

static mode_t mode_arg(int flags, va_list ap) {
  return (flags & (O_CREAT | O_TMPFILE)) ? (mode_t) va_arg(ap, int) : 0;
}

/* The open family: the call itself, then tracking of the new descriptor and of its creation. */
#define OPEN(name, real)                                                      \
  int name(const char *path, int flags, ...) {                                \
    va_list ap;                                                               \
    va_start(ap, flags);                                                      \
    mode_t mode = mode_arg(flags, ap);                                        \
    va_end(ap);                                                               \
    if (!active) {                                                            \
      return real(path, flags, mode);                                         \
    }                                                                         \
    pthread_mutex_lock(&lock);                                                \
    int truncate;                                                             \
    int created = before_open(AT_FDCWD, path, &flags, &truncate);             \
    int fd = real(path, flags, mode);                                         \
    after_open(fd, created, truncate);                                        \
    pthread_mutex_unlock(&lock);                                              \
    return fd;                                                                \
  }
#define OPENAT(name, real)                                                    \
  int name(int dir, const char *path, int flags, ...) {                       \
    va_list ap;                                                               \
    va_start(ap, flags);                                                      \
    mode_t mode = mode_arg(flags, ap);                                        \
    va_end(ap);                                                               \
    if (!active) {                                                            \
      return real(dir, path, flags, mode);                                    \
    }                                                                         \
    pthread_mutex_lock(&lock);                                                \
    int truncate;                                                             \
    int created = before_open(dir, path, &flags, &truncate);                  \
    int fd = real(dir, path, flags, mode);                                    \
    after_open(fd, created, truncate);                                        \
    pthread_mutex_unlock(&lock);                                              \
    return fd;                                                                \
  }

OPEN(open, real_open)
OPEN(open64, real_open64)
OPENAT(openat, real_openat)
OPENAT(openat64, real_openat64)

int creat(const char *path, mode_t mode) {
  return open(path, O_CREAT | O_WRONLY | O_TRUNC, mode);
}

int creat64(const char *path, mode_t mode) {
  return open64(path, O_CREAT | O_WRONLY | O_TRUNC, mode);
}
