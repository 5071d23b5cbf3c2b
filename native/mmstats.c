/*
 * mmstats native mapping layer.
 *
 * Only the few things JavaScript cannot do itself: mmap/munmap/msync, block
 * preallocation, open-file-description locks, the OS thread id, a SIGBUS
 * guard that keeps a process alive when a mapped file is truncated under it,
 * and the removal of writers' files when a thread or the process ends (from an
 * environment cleanup hook, atexit() or a signal handler). Everything else (file layout, growth policy, reading) lives in TypeScript.
 */
#if defined(MMSTATS_UNSUPPORTED_OS) || (!defined(__linux__) && !defined(__APPLE__))
#error "mmstats supports only Linux and macOS"
#endif

#ifdef __linux__
#define _GNU_SOURCE /* F_OFD_SETLK / F_OFD_GETLK */
#include <sys/syscall.h>
#endif

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <node_api.h>

/* ---------------------------------------------------------------- errors */

static const char *errno_name(int e) {
#define E(x) if (e == x) return #x;
  E(EACCES) E(EAGAIN) E(EBADF) E(EBUSY) E(EDEADLK) E(EDQUOT) E(EEXIST)
  E(EFBIG) E(EINTR) E(EINVAL) E(EIO) E(EISDIR) E(EMFILE) E(ENFILE) E(ENODEV)
  E(ENOENT) E(ENOLCK) E(ENOMEM) E(ENOSPC) E(ENOSYS) E(ENOTSUP) E(ENXIO)
  E(EOVERFLOW) E(EPERM) E(EROFS) E(ESPIPE) E(ETXTBSY) E(EOPNOTSUPP) E(ENAMETOOLONG)
#undef E
  return "EUNKNOWN";
}

/* Throws Error{code, message: "<op>: <strerror> (<CODE>)"}; returns NULL. */
static napi_value throw_code(napi_env env, const char *code, const char *msg) {
  napi_value c, m, err;
  napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &c);
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &m);
  napi_create_error(env, c, m, &err);
  napi_throw(env, err);
  return NULL;
}

static napi_value throw_errno(napi_env env, const char *op, int e) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s: %s (%s)", op, strerror(e), errno_name(e));
  return throw_code(env, errno_name(e), msg);
}

/* ------------------------------------------------------------ fault guard */
/*
 * Why: touching a MAP_SHARED page that lies beyond the end of its file raises
 * SIGBUS, and the default action kills the process. Another process may
 * truncate a stats file at any time (cleanup tools, a restarted writer), and
 * plain typed-array reads cannot be guarded from JavaScript. So every mapping
 * is registered in a lock-free table; the handler swaps the faulting page for
 * an anonymous zero page and lets the instruction retry. Faults outside our
 * mappings are passed on to the previous handler (on macOS V8's WebAssembly
 * trap handler uses SIGBUS, so chaining matters). SIGSEGV is left alone.
 *
 * The table is process-wide (the shared library is loaded once even with
 * several worker threads). Writers hold g_lock; the handler only does atomic
 * loads, which are async-signal-safe. A full table leaves mappings unguarded.
 */
#define MAX_GUARDED 65536

typedef struct {
  _Atomic uintptr_t start; /* 0 = free slot */
  _Atomic uintptr_t end;
  _Atomic unsigned long faults;
} guard_slot;

static guard_slot g_slots[MAX_GUARDED];
static _Atomic int g_used;     /* slots at or above this index were never used */
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static struct sigaction g_prev; /* SIGBUS action before ours */
static uintptr_t g_pagesize;

static void on_sigbus(int sig, siginfo_t *info, void *uctx) {
  int saved_errno = errno;
  uintptr_t a = (uintptr_t)info->si_addr;
  /* Only a real fault has an address; a SIGBUS sent by kill() does not. */
#ifdef __linux__
  int n = info->si_code > 0 ? atomic_load(&g_used) : 0;
#else
  int n = info->si_code != SI_USER && info->si_code != SI_QUEUE ? atomic_load(&g_used) : 0;
#endif
  for (int i = 0; i < n; i++) {
    uintptr_t s = atomic_load(&g_slots[i].start);
    if (s == 0 || a < s || a >= atomic_load(&g_slots[i].end)) continue;
    void *page = (void *)(a & ~(g_pagesize - 1));
    if (mmap(page, g_pagesize, PROT_READ | PROT_WRITE,
             MAP_FIXED | MAP_PRIVATE | MAP_ANON, -1, 0) != MAP_FAILED) {
      atomic_fetch_add(&g_slots[i].faults, 1);
      errno = saved_errno;
      return; /* the faulting instruction retries and sees zeros */
    }
    break; /* could not repair: behave as if we were not here */
  }
  errno = saved_errno;
  if (g_prev.sa_flags & SA_SIGINFO) {
    if (g_prev.sa_sigaction) g_prev.sa_sigaction(sig, info, uctx);
  } else if (g_prev.sa_handler != SIG_DFL && g_prev.sa_handler != SIG_IGN) {
    g_prev.sa_handler(sig);
  } else {
    /* Default action: reset and re-raise; the signal is delivered (and the
     * process dies as it would have) as soon as this handler returns. */
    signal(sig, SIG_DFL);
    raise(sig);
  }
}

static void install_once(void) {
  g_pagesize = (uintptr_t)sysconf(_SC_PAGESIZE);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_sigbus;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGBUS, &sa, &g_prev);
}

/* Returns the slot index, or -1 if the table is full (mapping unguarded). */
static int guard_register(void *addr, size_t len) {
  int slot = -1;
  pthread_mutex_lock(&g_lock);
  int n = atomic_load(&g_used);
  for (int i = 0; i < n && slot < 0; i++)
    if (atomic_load(&g_slots[i].start) == 0) slot = i;
  if (slot < 0 && n < MAX_GUARDED) slot = n;
  if (slot >= 0) {
    atomic_store(&g_slots[slot].faults, 0);
    atomic_store(&g_slots[slot].end, (uintptr_t)addr + len);
    atomic_store(&g_slots[slot].start, (uintptr_t)addr); /* publish last */
    if (slot == n) atomic_store(&g_used, n + 1);
  }
  pthread_mutex_unlock(&g_lock);
  return slot;
}

static void guard_unregister(int slot) {
  if (slot < 0) return;
  pthread_mutex_lock(&g_lock);
  atomic_store(&g_slots[slot].start, 0);
  atomic_store(&g_slots[slot].end, 0);
  pthread_mutex_unlock(&g_lock);
}

/* --------------------------------------------------------------- mappings */

/* One per map() call, with two owners: the ArrayBuffer's backing store
 * (whose finalizer runs on garbage collection, but also soon after unmap()
 * detaches the buffer) and the napi_wrap on the ArrayBuffer object (which may
 * outlive the backing store, e.g. for a second unmap()). Both finalizers run
 * on the JS thread; the last one frees. `mapped` makes munmap happen once. */
typedef struct {
  void *addr;
  size_t len;
  int slot;
  int mapped;
  int refs;
  unsigned long faults; /* final count, kept after unmap */
} mapping;

static void release(mapping *m) {
  if (!m->mapped) return;
  m->mapped = 0;
  if (m->slot >= 0) m->faults = atomic_load(&g_slots[m->slot].faults);
  guard_unregister(m->slot);
  munmap(m->addr, m->len);
}

static void unref(mapping *m) { if (--m->refs == 0) free(m); }

static void finalize_store(napi_env env, void *data, void *hint) {
  (void)env, (void)data;
  release((mapping *)hint);
  unref((mapping *)hint);
}

static void finalize_wrap(napi_env env, void *data, void *hint) {
  (void)env, (void)hint;
  unref((mapping *)data);
}

/* ------------------------------------------------------- argument helpers */

#define ARGS(n)                                                        \
  size_t argc = n;                                                     \
  napi_value argv[n];                                                  \
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;

static int get_fd(napi_env env, napi_value v, int *out) {
  if (napi_get_value_int32(env, v, out) == napi_ok && *out >= 0) return 1;
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "fd must be a non-negative integer");
  return 0;
}

/* Non-negative integer up to 2^53 (exact in a double). */
static int get_size(napi_env env, napi_value v, const char *name, uint64_t *out) {
  double d;
  if (napi_get_value_double(env, v, &d) == napi_ok && d >= 0 &&
      d <= 9007199254740992.0 && floor(d) == d) {
    *out = (uint64_t)d;
    return 1;
  }
  char msg[96];
  snprintf(msg, sizeof msg, "%s must be a non-negative safe integer", name);
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
  return 0;
}

static int get_bool(napi_env env, napi_value v, bool *out) {
  if (napi_get_value_bool(env, v, out) == napi_ok) return 1;
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "expected a boolean");
  return 0;
}

/* Marks our ArrayBuffers, so a foreign wrapped object is never taken for one. */
static const napi_type_tag k_tag = {0x6d6d737461747321ULL, 0x4d415050494e4721ULL};

/* The mapping behind an ArrayBuffer returned by map(), or NULL + TypeError. */
static mapping *get_mapping(napi_env env, napi_value v, const char *op) {
  bool ours = false;
  void *p = NULL;
  if (napi_check_object_type_tag(env, v, &k_tag, &ours) == napi_ok && ours &&
      napi_unwrap(env, v, &p) == napi_ok && p)
    return (mapping *)p;
  char msg[96];
  snprintf(msg, sizeof msg, "%s: expected an ArrayBuffer returned by map()", op);
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
  return NULL;
}

static napi_value make_bool(napi_env env, bool b) {
  napi_value r;
  return napi_get_boolean(env, b, &r) == napi_ok ? r : NULL;
}
static napi_value make_num(napi_env env, double d) {
  napi_value r;
  return napi_create_double(env, d, &r) == napi_ok ? r : NULL;
}

/* ------------------------------------------------------------- functions */

static napi_value js_map(napi_env env, napi_callback_info info) {
  ARGS(3)
  int fd;
  uint64_t len;
  bool writable;
  if (!get_fd(env, argv[0], &fd) || !get_size(env, argv[1], "length", &len) ||
      !get_bool(env, argv[2], &writable))
    return NULL;
  if (len == 0 || len > SIZE_MAX) return throw_errno(env, "map: mmap", EINVAL);
  int prot = PROT_READ | (writable ? PROT_WRITE : 0);
  void *addr = mmap(NULL, (size_t)len, prot, MAP_SHARED, fd, 0);
  if (addr == MAP_FAILED) return throw_errno(env, "map: mmap", errno);

  mapping *m = malloc(sizeof *m);
  if (!m) {
    munmap(addr, (size_t)len);
    return throw_errno(env, "map: malloc", ENOMEM);
  }
  *m = (mapping){addr, (size_t)len, guard_register(addr, (size_t)len), 1, 2, 0};

  napi_value ab;
  napi_status st = napi_create_external_arraybuffer(env, addr, (size_t)len,
                                                    finalize_store, m, &ab);
  if (st != napi_ok) {
    release(m);
    free(m);
    if (st == napi_no_external_buffers_allowed)
      return throw_code(env, "ERR_MMSTATS_NO_EXTERNAL_BUFFERS",
                        "map: this runtime refuses external ArrayBuffers (V8 "
                        "memory cage), so memory-mapped stats cannot be used");
    if (st == napi_pending_exception) return NULL;
    return throw_code(env, "ERR_MMSTATS_NAPI",
                      "map: napi_create_external_arraybuffer failed");
  }
  /* The wrap lets unmap()/sync()/faultCount() find m from the buffer. */
  if (napi_wrap(env, ab, m, finalize_wrap, NULL, NULL) != napi_ok) {
    m->refs = 1; /* only the backing store owns it now */
    return throw_code(env, "ERR_MMSTATS_NAPI", "map: napi_wrap failed");
  }
  if (napi_type_tag_object(env, ab, &k_tag) != napi_ok)
    return throw_code(env, "ERR_MMSTATS_NAPI", "map: napi_type_tag_object failed");
  return ab;
}

static napi_value js_unmap(napi_env env, napi_callback_info info) {
  ARGS(1)
  mapping *m = get_mapping(env, argv[0], "unmap");
  if (!m) return NULL;
  /* Detach first: should it fail, JS views must not point at unmapped memory.
   * A detached buffer reports length 0 to every view, and Atomics throw. */
  bool detached = false;
  napi_is_detached_arraybuffer(env, argv[0], &detached);
  if (!detached && napi_detach_arraybuffer(env, argv[0]) != napi_ok)
    return throw_code(env, "ERR_MMSTATS_NAPI", "unmap: napi_detach_arraybuffer failed");
  release(m); /* no-op the second time */
  return NULL;
}

static napi_value js_sync(napi_env env, napi_callback_info info) {
  ARGS(2)
  bool async;
  mapping *m = get_mapping(env, argv[0], "sync");
  if (!m || !get_bool(env, argv[1], &async)) return NULL;
  if (!m->mapped) return throw_code(env, "ERR_MMSTATS_UNMAPPED", "sync: the mapping was unmapped");
  if (msync(m->addr, m->len, async ? MS_ASYNC : MS_SYNC) != 0)
    return throw_errno(env, "sync: msync", errno);
  return NULL;
}

static napi_value js_fault_count(napi_env env, napi_callback_info info) {
  ARGS(1)
  mapping *m = get_mapping(env, argv[0], "faultCount");
  if (!m) return NULL;
  unsigned long n = m->faults;
  if (m->mapped && m->slot >= 0) n = atomic_load(&g_slots[m->slot].faults);
  return make_num(env, (double)n);
}

/* Reserve blocks now so a full disk is ENOSPC here, not SIGBUS later. */
static napi_value js_allocate(napi_env env, napi_callback_info info) {
  ARGS(3)
  int fd;
  uint64_t off, len;
  if (!get_fd(env, argv[0], &fd) || !get_size(env, argv[1], "offset", &off) ||
      !get_size(env, argv[2], "length", &len))
    return NULL;
  if (len == 0) return NULL;
#ifdef __linux__
  int r; /* posix_fallocate returns the error number; errno is untouched */
  do r = posix_fallocate(fd, (off_t)off, (off_t)len); while (r == EINTR);
  if (r != 0) return throw_errno(env, "allocate: posix_fallocate", r);
#else
  struct stat sb;
  if (fstat(fd, &sb) != 0) return throw_errno(env, "allocate: fstat", errno);
  off_t end = (off_t)(off + len);
  if (end > sb.st_size) {
    /* Allocate from the physical end of file; try contiguous, then any. */
    fstore_t fs = {F_ALLOCATECONTIG | F_ALLOCATEALL, F_PEOFPOSMODE, 0,
                   end - sb.st_size, 0};
    if (fcntl(fd, F_PREALLOCATE, &fs) == -1) {
      fs.fst_flags = F_ALLOCATEALL;
      if (fcntl(fd, F_PREALLOCATE, &fs) == -1 && errno != ENOTSUP)
        return throw_errno(env, "allocate: fcntl(F_PREALLOCATE)", errno);
    }
    if (ftruncate(fd, end) != 0) return throw_errno(env, "allocate: ftruncate", errno);
  }
#endif
  return NULL;
}

static int busy(int e) { return e == EAGAIN || e == EACCES || e == EWOULDBLOCK; }

#ifdef __linux__
/* A write lock over the whole file; l_pid must be 0 for OFD locks. */
static struct flock whole_file(void) {
  struct flock fl;
  memset(&fl, 0, sizeof fl);
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  return fl;
}
#endif

static napi_value js_lock_exclusive(napi_env env, napi_callback_info info) {
  ARGS(1)
  int fd;
  if (!get_fd(env, argv[0], &fd)) return NULL;
#ifdef __linux__
  /* OFD locks belong to the open file description: closing another fd of the
   * same file does not drop them (unlike classic POSIX locks), and two
   * descriptions conflict even within one process. */
  struct flock fl = whole_file();
  if (fcntl(fd, F_OFD_SETLK, &fl) == 0) return make_bool(env, true);
  if (busy(errno)) return make_bool(env, false);
  return throw_errno(env, "lockExclusive: fcntl(F_OFD_SETLK)", errno);
#else
  /* BSD flock locks are also per open file description. */
  if (flock(fd, LOCK_EX | LOCK_NB) == 0) return make_bool(env, true);
  if (busy(errno)) return make_bool(env, false);
  return throw_errno(env, "lockExclusive: flock", errno);
#endif
}

static napi_value js_is_locked_by_other(napi_env env, napi_callback_info info) {
  ARGS(1)
  int fd;
  if (!get_fd(env, argv[0], &fd)) return NULL;
#ifdef __linux__
  struct flock fl = whole_file();
  if (fcntl(fd, F_OFD_GETLK, &fl) != 0)
    return throw_errno(env, "isLockedByOther: fcntl(F_OFD_GETLK)", errno);
  return make_bool(env, fl.l_type != F_UNLCK);
#else
  /* No query call for flock: probe with a shared lock and drop it again. */
  if (flock(fd, LOCK_SH | LOCK_NB) != 0) {
    if (busy(errno)) return make_bool(env, true);
    return throw_errno(env, "isLockedByOther: flock", errno);
  }
  flock(fd, LOCK_UN);
  return make_bool(env, false);
#endif
}

static napi_value js_thread_id(napi_env env, napi_callback_info info) {
  (void)info;
#ifdef __linux__
  return make_num(env, (double)syscall(SYS_gettid));
#else
  uint64_t tid = 0;
  pthread_threadid_np(NULL, &tid);
  return make_num(env, (double)tid);
#endif
}

static napi_value js_page_size(napi_env env, napi_callback_info info) {
  (void)info;
  return make_num(env, (double)g_pagesize);
}

/* The monotonic clock, written into a per-environment Float64Array instead of
 * returned: a double returned through a call V8 cannot inline is boxed in a new
 * heap number, and Node 20's performance.now() allocates an array per call, so
 * neither can time a hot path without garbage. clock_gettime is served by the
 * vDSO: no system call. */
static napi_value js_read_clock(napi_env env, napi_callback_info info) {
  void *data = NULL;
  if (napi_get_cb_info(env, info, NULL, NULL, NULL, &data) != napi_ok || data == NULL) return NULL;
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  *(double *)data = (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
  return NULL;
}

/* ------------------------------------------------------- files at exit */
/*
 * Why: a worker thread stopped by worker.terminate(), or by process.exit() in
 * the main thread, runs no more JavaScript, so its 'exit' listeners never fire
 * and its stats files would stay behind. Every writer's file is listed here,
 * process-wide; the environment's cleanup hook (which runs however a worker is
 * stopped), the main thread's exit hooks, the signal handler below and, last,
 * atexit() remove the ones not kept. One removal routine serves them all and
 * remove().
 *
 * The signal handler reads the list without the lock (the thread it interrupts
 * may hold it), so the list is chunks of slots that are never freed, each with
 * its path inline and a sequence that is odd while the slot changes (a seqlock,
 * as in the file format). Changes are made with g_exit_lock held.
 */
#define EXIT_CHUNK_SLOTS 32

typedef struct {
  _Atomic uint32_t seq; /* odd while the slot changes */
  uint32_t id;          /* 0: a free slot */
  napi_env env;         /* the thread that opened it */
  dev_t dev;
  ino_t ino;
  bool keep;   /* left in place at exit; removed only by remove() */
  bool closed; /* the writer closed it: remove only if no one holds it now */
  char path[PATH_MAX];
} exit_slot;

typedef struct exit_chunk {
  exit_slot slots[EXIT_CHUNK_SLOTS];
  struct exit_chunk *next; /* set before the chunk is published, then never changed */
} exit_chunk;

static _Atomic(exit_chunk *) g_exit_chunks;
static uint32_t g_exit_next_id = 1;
static pthread_mutex_t g_exit_lock = PTHREAD_MUTEX_INITIALIZER;

#define FOR_EACH_EXIT_SLOT(s)                                                              \
  for (exit_chunk *c_ = atomic_load_explicit(&g_exit_chunks, memory_order_acquire); c_;    \
       c_ = c_->next)                                                                      \
    for (exit_slot *s = c_->slots; s < c_->slots + EXIT_CHUNK_SLOTS; s++)

/* A slot changes only between these two, with g_exit_lock held. */
static void slot_begin(exit_slot *s) {
  atomic_store_explicit(&s->seq, atomic_load_explicit(&s->seq, memory_order_relaxed) + 1,
                        memory_order_relaxed);
  atomic_thread_fence(memory_order_release);
}
static void slot_end(exit_slot *s) {
  atomic_store_explicit(&s->seq, atomic_load_explicit(&s->seq, memory_order_relaxed) + 1,
                        memory_order_release);
}

/* Delete `path` if it still names the file that was opened (dev, ino) and, once
 * closed, no writer (another process that took the name over) holds it. Only
 * async-signal-safe calls: the signal handler uses it too. */
static void unlink_if_same(const char *path, dev_t dev, ino_t ino, bool closed) {
  struct stat st;
  if (lstat(path, &st) != 0 || st.st_dev != dev || st.st_ino != ino) return;
  if (closed) {
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return;
#ifdef __linux__
    struct flock fl = whole_file();
    bool held = fcntl(fd, F_OFD_GETLK, &fl) != 0 || fl.l_type != F_UNLCK;
#else
    bool held = flock(fd, LOCK_SH | LOCK_NB) != 0;
#endif
    close(fd);
    if (held) return;
  }
  unlink(path);
}

/* Remove the slot's file (unless kept and not `forced`) and free the slot; lock held. */
static void slot_release(exit_slot *s, bool forced) {
  if (forced || !s->keep) unlink_if_same(s->path, s->dev, s->ino, s->closed);
  slot_begin(s);
  s->id = 0;
  s->path[0] = '\0';
  slot_end(s);
}

/* Remove (and forget) the files of `env` (every environment when NULL) not kept. */
static void remove_exit_files(napi_env env) {
  pthread_mutex_lock(&g_exit_lock);
  FOR_EACH_EXIT_SLOT(s) {
    if (s->id != 0 && !s->keep && (env == NULL || s->env == env)) slot_release(s, false);
  }
  pthread_mutex_unlock(&g_exit_lock);
}

/* The hook's argument is a fresh allocation per registration: Node refuses the
 * same (function, argument) pair twice in one environment. */
static void on_env_cleanup(void *arg) {
  remove_exit_files(*(napi_env *)arg);
  free(arg);
}

static void on_process_exit(void) {
  remove_exit_files(NULL);
}

/*
 * Signals. Where stats are opened in the main thread, its exit hook (signal-exit)
 * handles SIGTERM, SIGINT and SIGHUP. But a program whose stats are all in worker
 * threads has none: Node delivers signals to the main thread's listeners only.
 * So the addon handles these three signals itself, for as long as no one else
 * does: it takes over the default action, or a one-shot handler (SA_RESETHAND),
 * which is how Node's own SignalExit is installed for SIGINT and SIGTERM (it
 * resets the terminal and re-raises). It never takes over another handler: a
 * program's process.on(signal), installed by libuv before or after this, wins
 * (libuv replaces the action without looking at it), and the program decides.
 * On a signal, in whatever thread receives it, the handler removes the listed
 * files not kept with async-signal-safe calls only, without the lock, puts the
 * previous action back and re-raises: the process then ends as it would have,
 * of the same signal (through Node's handler when it was there). A handler that
 * libuv later drops leaves SIG_DFL; the next file opened arms this one again.
 */
static const int k_exit_signals[] = {SIGHUP, SIGINT, SIGTERM};
#define EXIT_SIGNALS (sizeof k_exit_signals / sizeof k_exit_signals[0])
static struct sigaction g_exit_signal_prev[EXIT_SIGNALS]; /* written before ours is installed */

static void on_exit_signal(int sig) {
  int saved_errno = errno;
  FOR_EACH_EXIT_SLOT(s) {
    uint32_t seq = atomic_load_explicit(&s->seq, memory_order_acquire);
    if (seq & 1 || s->id == 0 || s->keep) continue;
    char path[PATH_MAX];
    memcpy(path, s->path, sizeof path);
    dev_t dev = s->dev;
    ino_t ino = s->ino;
    bool closed = s->closed;
    atomic_thread_fence(memory_order_acquire);
    if (atomic_load_explicit(&s->seq, memory_order_relaxed) != seq) continue; /* changing: skip */
    path[sizeof path - 1] = '\0';
    unlink_if_same(path, dev, ino, closed);
  }
  for (size_t k = 0; k < EXIT_SIGNALS; k++)
    if (k_exit_signals[k] == sig) sigaction(sig, &g_exit_signal_prev[k], NULL);
  errno = saved_errno;
  /* Pending until this handler returns, then delivered to the action put back. */
  raise(sig);
}

static bool same_action(const struct sigaction *a, const struct sigaction *b) {
  return a->sa_handler == b->sa_handler && a->sa_flags == b->sa_flags;
}

/* Arm on_exit_signal where the action is the default or a one-shot; lock held. */
static void arm_exit_signals(void) {
  for (size_t k = 0; k < EXIT_SIGNALS; k++) {
    int sig = k_exit_signals[k];
    struct sigaction cur, ours, old;
    if (sigaction(sig, NULL, &cur) != 0 || cur.sa_handler == on_exit_signal) continue;
    bool one_shot = (cur.sa_flags & SA_RESETHAND) && cur.sa_handler != SIG_IGN;
    if (cur.sa_handler != SIG_DFL && !one_shot) continue; /* someone else's: theirs wins */
    g_exit_signal_prev[k] = cur;
    memset(&ours, 0, sizeof ours);
    ours.sa_handler = on_exit_signal;
    ours.sa_flags = SA_RESTART;
    sigemptyset(&ours.sa_mask);
    for (size_t j = 0; j < EXIT_SIGNALS; j++) sigaddset(&ours.sa_mask, k_exit_signals[j]);
    if (sigaction(sig, &ours, &old) != 0) continue;
    /* Someone installed a handler between the two calls: put theirs back. */
    if (!same_action(&old, &cur)) sigaction(sig, &old, NULL);
  }
}

static int get_exit_id(napi_env env, napi_value v, uint32_t *out) {
  if (napi_get_value_uint32(env, v, out) == napi_ok) return 1;
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "expected an exit file id");
  return 0;
}

/* A free slot, adding a chunk when every slot is taken, or NULL; lock held. */
static exit_slot *free_exit_slot(void) {
  FOR_EACH_EXIT_SLOT(s) {
    if (s->id == 0) return s;
  }
  exit_chunk *c = calloc(1, sizeof *c);
  if (c == NULL) return NULL;
  c->next = atomic_load_explicit(&g_exit_chunks, memory_order_relaxed);
  atomic_store_explicit(&g_exit_chunks, c, memory_order_release);
  return &c->slots[0];
}

/* exitFileAdd(path, fd, keep) -> id */
static napi_value js_exit_file_add(napi_env env, napi_callback_info info) {
  ARGS(3)
  int fd;
  bool keep;
  size_t len = 0;
  if (!get_fd(env, argv[1], &fd) || !get_bool(env, argv[2], &keep)) return NULL;
  if (napi_get_value_string_utf8(env, argv[0], NULL, 0, &len) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "path must be a string");
    return NULL;
  }
  if (len >= PATH_MAX) return throw_errno(env, "exitFileAdd", ENAMETOOLONG);
  struct stat st;
  if (fstat(fd, &st) != 0) return throw_errno(env, "exitFileAdd: fstat", errno);
  pthread_mutex_lock(&g_exit_lock);
  exit_slot *s = free_exit_slot();
  if (s == NULL) {
    pthread_mutex_unlock(&g_exit_lock);
    return throw_errno(env, "exitFileAdd: calloc", ENOMEM);
  }
  slot_begin(s);
  napi_get_value_string_utf8(env, argv[0], s->path, sizeof s->path, &len);
  s->env = env;
  s->dev = st.st_dev;
  s->ino = st.st_ino;
  s->keep = keep;
  s->closed = false;
  s->id = g_exit_next_id++;
  if (g_exit_next_id == 0) g_exit_next_id = 1; /* 0 means free */
  uint32_t id = s->id;
  slot_end(s);
  arm_exit_signals();
  pthread_mutex_unlock(&g_exit_lock);
  return make_num(env, id);
}

/* The slot of entry `id`, or NULL; lock held. */
static exit_slot *find_exit_slot(uint32_t id) {
  if (id == 0) return NULL;
  FOR_EACH_EXIT_SLOT(s) {
    if (s->id == id) return s;
  }
  return NULL;
}

/* exitFileClosed(id): the writer closed the file (its lock is gone). */
static napi_value js_exit_file_closed(napi_env env, napi_callback_info info) {
  ARGS(1)
  uint32_t id;
  if (!get_exit_id(env, argv[0], &id)) return NULL;
  pthread_mutex_lock(&g_exit_lock);
  exit_slot *s = find_exit_slot(id);
  if (s) {
    slot_begin(s);
    s->closed = true;
    slot_end(s);
  }
  pthread_mutex_unlock(&g_exit_lock);
  return NULL;
}

/* exitFileRemove(id): remove the file now (kept or not) and forget it. */
static napi_value js_exit_file_remove(napi_env env, napi_callback_info info) {
  ARGS(1)
  uint32_t id;
  if (!get_exit_id(env, argv[0], &id)) return NULL;
  pthread_mutex_lock(&g_exit_lock);
  exit_slot *s = find_exit_slot(id);
  if (s) slot_release(s, true);
  pthread_mutex_unlock(&g_exit_lock);
  return NULL;
}

/* exitFilesRemove(allThreads): remove this thread's files not kept, or every thread's. */
static napi_value js_exit_files_remove(napi_env env, napi_callback_info info) {
  ARGS(1)
  bool all;
  if (!get_bool(env, argv[0], &all)) return NULL;
  remove_exit_files(all ? NULL : env);
  return NULL;
}

static pthread_once_t g_exit_once = PTHREAD_ONCE_INIT;
static void install_exit_once(void) { atexit(on_process_exit); }

/* Runs once per environment (main thread and each worker). */
NAPI_MODULE_INIT() {
  pthread_once(&g_once, install_once);
  pthread_once(&g_exit_once, install_exit_once);
  napi_env *cleanup_slot = malloc(sizeof *cleanup_slot);
  if (cleanup_slot == NULL) return NULL;
  *cleanup_slot = env;
  if (napi_add_env_cleanup_hook(env, on_env_cleanup, cleanup_slot) != napi_ok) return NULL;
#define FN(name, fn) {name, NULL, fn, NULL, NULL, NULL, napi_enumerable, NULL}
  napi_property_descriptor props[] = {
      FN("map", js_map), FN("unmap", js_unmap), FN("sync", js_sync),
      FN("allocate", js_allocate), FN("lockExclusive", js_lock_exclusive),
      FN("isLockedByOther", js_is_locked_by_other), FN("threadId", js_thread_id),
      FN("pageSize", js_page_size), FN("faultCount", js_fault_count),
      FN("exitFileAdd", js_exit_file_add), FN("exitFileClosed", js_exit_file_closed),
      FN("exitFileRemove", js_exit_file_remove), FN("exitFilesRemove", js_exit_files_remove),
  };
#undef FN
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok)
    return NULL;
  /* clockBuffer: one float64, the milliseconds readClock() last wrote. */
  void *clock_slot = NULL;
  napi_value clock_buffer, read_clock;
  if (napi_create_arraybuffer(env, sizeof(double), &clock_slot, &clock_buffer) != napi_ok ||
      napi_set_named_property(env, exports, "clockBuffer", clock_buffer) != napi_ok ||
      napi_create_function(env, "readClock", NAPI_AUTO_LENGTH, js_read_clock, clock_slot, &read_clock) != napi_ok ||
      napi_set_named_property(env, exports, "readClock", read_clock) != napi_ok)
    return NULL;
  return exports;
}
