/// <reference types="node" preserve="true" />
/**
 * Typed loader for the native mapping layer (`native/mmstats.c`).
 *
 * The addon does only what JavaScript cannot: map files into memory, reserve
 * disk blocks, take open-file-description locks, report the OS thread id, and
 * survive truncation of a mapped file (a SIGBUS guard), remove writers' files
 * when a thread or the process ends (however it ends short of SIGKILL), and read the monotonic
 * clock without allocating (Node 20's `performance.now()` allocates on every
 * call). Every function is
 * synchronous. Failures are thrown as `Error` objects whose `code` is the errno
 * name (`'ENOSPC'`, `'EBADF'`, ...) and whose message names the operation.
 *
 * @module
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** An `Error` thrown by the native layer. */
export interface NativeError extends Error {
  /**
   * The errno name (`'ENOSPC'`, `'EBADF'`, `'EINVAL'`, ...), or one of
   * `'ERR_MMSTATS_NO_EXTERNAL_BUFFERS'`, `'ERR_MMSTATS_UNMAPPED'`,
   * `'ERR_MMSTATS_NAPI'`, or `'ERR_INVALID_ARG_TYPE'` (a `TypeError`).
   */
  code: string;
}

/** Thrown by {@link NativeMapping.map} in runtimes (Electron) that refuse external ArrayBuffers. */
export const ERR_NO_EXTERNAL_BUFFERS = 'ERR_MMSTATS_NO_EXTERNAL_BUFFERS';

/** The functions exported by the `mmstats_native` addon. */
export interface NativeMapping {
  /**
   * Maps `length` bytes of the file open as `fd`, from offset 0, shared with
   * every other process mapping it (`mmap(MAP_SHARED)`).
   *
   * `length` may exceed the current file size: the range is reserved, and
   * pages become usable once the file has grown over them (see
   * {@link NativeMapping.allocate}). Touching a page beyond the end of the file
   * does not kill the process: the fault guard replaces that page with a
   * private zero page (counted by {@link NativeMapping.faultCount}); writes to
   * it never reach the file.
   *
   * @param fd - An open file descriptor; `O_RDWR` when `writable`.
   * @param length - Bytes to map, a positive integer.
   * @param writable - Map with `PROT_WRITE` as well as `PROT_READ`.
   * @returns An ArrayBuffer over the mapping. It stays valid after `fd` is
   *   closed; release it with {@link NativeMapping.unmap} (otherwise it is
   *   unmapped when garbage collected).
   * @throws {@link NativeError} with the errno name (`EBADF`, `EACCES`,
   *   `ENOMEM`, `EINVAL`...), or `ERR_MMSTATS_NO_EXTERNAL_BUFFERS` when the
   *   runtime refuses external buffers.
   */
  map(fd: number, length: number, writable: boolean): ArrayBuffer;

  /**
   * Detaches `buffer` (every typed-array view over it gets length 0, and
   * `Atomics` on such a view throw `TypeError`) and unmaps the memory.
   * Calling it again on the same buffer does nothing.
   *
   * @param buffer - An ArrayBuffer returned by {@link NativeMapping.map}.
   * @throws `TypeError` if `buffer` was not returned by `map`.
   */
  unmap(buffer: ArrayBuffer): void;

  /**
   * Flushes the whole mapping to its file (`msync`).
   *
   * @param buffer - An ArrayBuffer returned by {@link NativeMapping.map}.
   * @param async - `true` schedules the write-back (`MS_ASYNC`); `false` waits
   *   for it (`MS_SYNC`).
   * @throws {@link NativeError}: the errno name, or `ERR_MMSTATS_UNMAPPED`
   *   after {@link NativeMapping.unmap}.
   */
  sync(buffer: ArrayBuffer, async: boolean): void;

  /**
   * Reserves disk (or tmpfs) blocks for `[offset, offset + length)`, growing
   * the file if it is shorter, so that a full disk is an `ENOSPC` error now
   * rather than a fault when the mapped page is first written. Linux:
   * `posix_fallocate`; macOS: `fcntl(F_PREALLOCATE)` then `ftruncate`.
   *
   * @param fd - A file descriptor open for writing.
   * @param offset - Start of the range in bytes.
   * @param length - Length of the range in bytes; 0 does nothing.
   * @throws {@link NativeError} with the errno name (`ENOSPC`, `EBADF`,
   *   `EFBIG`, ...).
   */
  allocate(fd: number, offset: number, length: number): void;

  /**
   * Tries, without blocking, to take an exclusive lock on the whole file,
   * held by the open file description until its last descriptor is closed
   * (Linux: `F_OFD_SETLK`; macOS: `flock`). Closing some other descriptor of
   * the same file does not release it, and two separate `open()`s of the file
   * conflict even within one process.
   *
   * @param fd - A file descriptor (`O_RDWR` on Linux).
   * @returns `true` if the lock is now held, `false` if another holder has it.
   * @throws {@link NativeError} on any other failure.
   */
  lockExclusive(fd: number): boolean;

  /**
   * Tells whether another open file description holds a lock on the file,
   * without taking one (works on an `O_RDONLY` descriptor).
   *
   * On macOS this probes with a shared `flock` and drops it again: do not
   * call it on a descriptor that itself holds the lock.
   *
   * @param fd - A file descriptor of the file.
   * @returns `true` if the file is locked through another open file description.
   * @throws {@link NativeError} on failure.
   */
  isLockedByOther(fd: number): boolean;

  /**
   * The OS id of the calling thread (Linux `gettid`, equal to `process.pid`
   * on the main thread; macOS `pthread_threadid_np`). Differs per worker thread.
   */
  threadId(): number;

  /** The size of a memory page in bytes (`sysconf(_SC_PAGESIZE)`). */
  pageSize(): number;

  /**
   * How many pages of this mapping the fault guard has replaced with zero
   * pages because the file had been truncated under them. 0 normally; after
   * {@link NativeMapping.unmap} the final count.
   *
   * @param buffer - An ArrayBuffer returned by {@link NativeMapping.map}.
   */
  faultCount(buffer: ArrayBuffer): number;

  /**
   * Reads the monotonic clock (`clock_gettime(CLOCK_MONOTONIC)`, served by the
   * vDSO: no system call) and writes it, in milliseconds, into
   * {@link NativeMapping.clockBuffer}. It returns nothing on purpose: a double
   * returned through a call V8 cannot inline is boxed in a new heap number.
   */
  readClock(): void;

  /** One float64 per thread: the milliseconds the last {@link NativeMapping.readClock} wrote. */
  readonly clockBuffer: ArrayBuffer;

  /**
   * Lists a writer's file, process-wide, for removal when its thread or the
   * process ends: the calling thread's environment cleanup (which runs however a
   * worker thread is stopped, `worker.terminate()` and `process.exit()` in the
   * main thread included), {@link NativeMapping.exitFilesRemove}, a handler of
   * SIGTERM, SIGINT and SIGHUP and, last, `atexit`. A file is removed only while
   * its name still points at the file `fd` had open.
   *
   * The signal handler is armed here for each of those signals whose action is
   * the default or a one-shot handler (Node's own, which resets the terminal
   * and re-raises); never over a program's handler (`process.on(signal)`), and a
   * later one replaces it. It removes every thread's files not kept, puts the
   * previous action back and re-raises the signal, so the process ends of it as
   * it would have. It serves programs whose main thread opens no stats (and so
   * installs no exit hook of its own).
   *
   * @param path - The file's path.
   * @param fd - The writer's open descriptor of it (identifies the file).
   * @param keep - Leave the file at exit (only {@link NativeMapping.exitFileRemove} removes it).
   * @returns The entry's id.
   * @throws {@link NativeError} with the errno name when `fd` cannot be examined
   *   (`ENAMETOOLONG` for a path of `PATH_MAX` bytes or more).
   */
  exitFileAdd(path: string, fd: number, keep: boolean): number;

  /**
   * The writer closed the file: from now on it is removed only if no one (a
   * writer that took the name over) holds its lock.
   */
  exitFileClosed(id: number): void;

  /** Removes the entry's file now (kept or not) and forgets the entry. Unknown ids do nothing. */
  exitFileRemove(id: number): void;

  /**
   * Removes the listed files not kept: the calling thread's, or with
   * `allThreads` every thread's (a process about to die of a signal).
   */
  exitFilesRemove(allThreads: boolean): void;
}

/** Error code of the error thrown when no addon fits this machine. */
export const ERR_NO_ADDON = 'ERR_MMSTATS_NO_ADDON';

/**
 * The package root: the nearest folder above this file that holds binding.gyp
 * (this file is dist/src/native/index.js once compiled, src/native/index.ts when
 * run from source).
 */
function packageRoot(here: string): string {
  for (let dir = here; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'binding.gyp'))) return dir;
    if (path.dirname(dir) === dir) return here;
  }
}

function load(): NativeMapping {
  if (process.platform !== 'linux' && process.platform !== 'darwin') {
    throw new Error(`mmstats supports only Linux and macOS; this platform is ${process.platform}`);
  }
  const root = packageRoot(path.dirname(fileURLToPath(import.meta.url)));
  const require = createRequire(import.meta.url);
  // node-gyp-build takes build/Release (a source build) first, else the
  // prebuilds/<platform>-<arch>/ binary that fits this machine (its libc too).
  const nodeGypBuild = require('node-gyp-build') as (dir: string) => unknown;
  try {
    return nodeGypBuild(root) as NativeMapping;
  } catch (cause) {
    const error = new Error(
      `mmstats: no native addon for ${process.platform}-${process.arch} in ${root}: no prebuilt ` +
        'binary fits this machine and none was built from source. Build it with "npm rebuild mmstats" ' +
        '(needs a C compiler, make and python3).',
      { cause },
    ) as NativeError;
    error.code = ERR_NO_ADDON;
    throw error;
  }
}

/** The loaded addon. */
export const native: NativeMapping = load();

/** See {@link NativeMapping.map}. */
export const map: NativeMapping['map'] = native.map;
/** See {@link NativeMapping.unmap}. */
export const unmap: NativeMapping['unmap'] = native.unmap;
/** See {@link NativeMapping.sync}. */
export const sync: NativeMapping['sync'] = native.sync;
/** See {@link NativeMapping.allocate}. */
export const allocate: NativeMapping['allocate'] = native.allocate;
/** See {@link NativeMapping.lockExclusive}. */
export const lockExclusive: NativeMapping['lockExclusive'] = native.lockExclusive;
/** See {@link NativeMapping.isLockedByOther}. */
export const isLockedByOther: NativeMapping['isLockedByOther'] = native.isLockedByOther;
/** See {@link NativeMapping.threadId}. */
export const threadId: NativeMapping['threadId'] = native.threadId;
/** See {@link NativeMapping.pageSize}. */
export const pageSize: NativeMapping['pageSize'] = native.pageSize;
/** See {@link NativeMapping.faultCount}. */
export const faultCount: NativeMapping['faultCount'] = native.faultCount;
/** See {@link NativeMapping.exitFileAdd}. */
export const exitFileAdd: NativeMapping['exitFileAdd'] = native.exitFileAdd;
/** See {@link NativeMapping.exitFileClosed}. */
export const exitFileClosed: NativeMapping['exitFileClosed'] = native.exitFileClosed;
/** See {@link NativeMapping.exitFileRemove}. */
export const exitFileRemove: NativeMapping['exitFileRemove'] = native.exitFileRemove;
/** See {@link NativeMapping.exitFilesRemove}. */
export const exitFilesRemove: NativeMapping['exitFilesRemove'] = native.exitFilesRemove;
