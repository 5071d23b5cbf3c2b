/**
 * The writer's side of a stats file: create it safely, lock it for the writer's
 * life, map it, place fields in it (growing it while readers read), and close or
 * remove it. Byte positions come from src/format; this module only decides where
 * things go.
 */
import fs from 'node:fs';
import path from 'node:path';
import { isMainThread, threadId as workerThreadId } from 'node:worker_threads';
import { onExit } from 'signal-exit';
import { MmstatsError } from '../errors.js';
import * as native from '../native/index.js';
import { ownStartToken, processAlive } from '../platform/identity.js';
import { ensureSafeDir } from '../platform/paths.js';
import { V1_VERSION, decodeV1Fields, encodeV1Field, v1FieldSize } from '../format/v1.js';
import {
  BYTE_ORDER_MARK,
  FileFlags,
  FileState,
  Header,
  MAGIC,
  Record as Rec,
  RecordFlags,
  Seqlocked,
  VERSION_MAJOR,
  VERSION_MINOR,
  align,
  decodeRecord,
  encodeRecord,
  isTornValue,
  recordSize,
} from '../format/v2.js';
import { Chunk, Directory, Slot, SlotState, decodeFamilyExtra, familyKey, readSlotLabels } from '../format/family.js';
import type { Field, FieldSpec, FormatVersion, Heap, Placement } from './field.js';
import { Family, FamilySpec, type PreviousChild } from './family.js';

/** How to open a stats file. */
export interface StorageOptions {
  readonly dir: string;
  readonly fileName: string;
  readonly format: FormatVersion;
  /** File mode at creation (default 0o600). */
  readonly mode: number;
  /** Keep the file when the process exits, and continue from its values when reopened. */
  readonly keep: boolean;
  /** Several threads write this file (shared mode). */
  readonly shared: boolean;
  /**
   * `'memory'`: when the file cannot be created or grown, go on with the stats in
   * memory (fields work, nothing is written, one process warning). Default: throw.
   */
  readonly onError?: 'throw' | 'memory';
}

/**
 * Address space reserved by a new mapping: the file grows inside it without a remap.
 * Small on purpose: V8 counts an external ArrayBuffer's whole length as external
 * memory and collects garbage for every 64 MiB or so of it, so a 4 MiB reservation
 * cost a full collection per 16 files opened. A file that outgrows it is remapped
 * with room for RESERVE_GROWTH times its size.
 */
const RESERVE_BYTES = 64 << 10;
const RESERVE_GROWTH = 4;
const INITIAL_BYTES = 16 << 10;

/** Values of a previous file of the same name, by label, for persistence (a family's: its children). */
type PreviousValues = Map<string, { readonly typeKey: string; readonly bytes: Uint8Array; readonly children?: PreviousChild[] }>;

/**
 * Every storage open in this thread. At exit the kept ones are closed (state
 * closed) and the native list (src/native) removes every file not kept, the
 * closed ones included. One hook per thread, whatever the number of files.
 */
const openStorages = new Set<Storage>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  if (isMainThread) {
    // signal-exit: also on SIGTERM, SIGINT, SIGHUP... when the program has no
    // handler of its own, and then the signal does what it would have done. The
    // process dies of it without stopping its worker threads: remove theirs too.
    // (Where only worker threads open stats, the addon's own signal handler does
    // that: see exitFileAdd in src/native.)
    onExit(() => {
      closeKept();
      native.exitFilesRemove(true);
    });
  } else {
    // A worker that ends by itself; one stopped from outside runs no JavaScript,
    // and the native environment cleanup removes its files.
    process.once('exit', () => {
      closeKept();
      native.exitFilesRemove(false);
    });
  }
}

function closeKept(): void {
  for (const s of [...openStorages]) {
    try {
      if (s.keep) s.close();
    } catch {
      // Exiting: nothing useful can be done with an error here.
    }
  }
}

export class Storage {
  readonly path: string;
  readonly format: FormatVersion;
  readonly keep: boolean;
  private fd: number;
  private buffer: ArrayBuffer;
  private bytes: Uint8Array;
  private dv: DataView;
  private header32: Int32Array;
  private fileSize: number;
  private used: number;
  private lastRecord = 0;
  private fieldCount = 0;
  private readonly placed: { field: Field; offset: number; writeBufferOffset: number; copySize: number }[] = [];
  private readonly previous: PreviousValues;
  /** The file's entry in the native list of files removed at exit (0: none, in memory). */
  private exitId = 0;
  private closed = false;
  /** True when the stats live in process memory only (the `onError: 'memory'` fallback). */
  memory: boolean;
  /** The heap as fields that grow see it (a family's chunks). */
  private readonly heap: Heap = {
    alloc: (size: number): number => {
      if (this.closed) throw new MmstatsError('ERR_MMSTATS_CLOSED', 'the stats are closed', { path: this.path });
      const offset = this.alloc(size, 8);
      Atomics.store(this.header32, Header.USED_SIZE / 4, this.used);
      return offset;
    },
  };
  private readonly onError: 'throw' | 'memory';

  /** `fd` -1: no file, the stats live in memory. */
  private constructor(opts: StorageOptions, fd: number, previous: PreviousValues) {
    this.path = path.join(opts.dir, opts.fileName);
    this.format = opts.format;
    this.keep = opts.keep;
    this.fd = fd;
    this.memory = fd < 0;
    this.onError = opts.onError ?? 'throw';
    this.previous = previous;
    if (!this.memory) this.exitId = native.exitFileAdd(this.path, fd, this.keep);
    const page = native.pageSize();
    this.fileSize = align(INITIAL_BYTES, page);
    try {
      if (this.memory) this.buffer = new ArrayBuffer(this.fileSize);
      else {
        native.allocate(fd, 0, this.fileSize);
        this.buffer = native.map(fd, Math.max(RESERVE_BYTES, this.fileSize), true);
      }
    } catch (err) {
      native.exitFileRemove(this.exitId); // before the lock goes with the descriptor
      fs.closeSync(fd);
      const e = err as NodeJS.ErrnoException;
      throw new MmstatsError('ERR_MMSTATS_IO', `cannot allocate or map the stats file: ${e.message}`, { path: this.path, cause: err });
    }
    this.bytes = new Uint8Array(this.buffer);
    this.dv = new DataView(this.buffer);
    this.header32 = new Int32Array(this.buffer, 0, Header.SIZE / 4);
    this.used = this.format === 2 ? Header.SIZE : 1;
    if (this.format === 2) this.writeHeader(opts);
    else this.bytes[0] = V1_VERSION;
    openStorages.add(this);
    installExitHook();
  }

  /**
   * Create (or take over a stale) stats file. Never follows a symlink, never
   * clobbers a file a live writer holds, and allocates the file's space now so
   * that a full disk is an error here and not a SIGBUS later.
   */
  static open(opts: StorageOptions): Storage {
    if (opts.onError !== 'memory') return Storage.openFile(opts);
    try {
      return Storage.openFile(opts);
    } catch (err) {
      if (!(err instanceof MmstatsError)) throw err;
      warnMemoryFallback(err);
      return new Storage(opts, -1, new Map());
    }
  }

  private static openFile(opts: StorageOptions): Storage {
    ensureSafeDir(opts.dir, true);
    const file = path.join(opts.dir, opts.fileName);
    const deadline = Date.now() + CLAIM_WAIT_MS;
    for (;;) {
      const claim = claimFile(file, opts);
      if ('fd' in claim) return new Storage(opts, claim.fd, claim.previous);
      if (Date.now() > deadline) throw new MmstatsError('ERR_MMSTATS_IN_USE', `${claim.busy} for ${CLAIM_WAIT_MS} ms`, { path: file });
      sleepSync(2);
    }
  }

  private writeHeader(opts: StorageOptions): void {
    // Found before the first store: a writer killed while writing its header must not
    // leave a pid without its start token (reading /proc is the slow part).
    const startToken = ownStartToken() ?? 0;
    const dv = this.dv;
    this.bytes.set(MAGIC, Header.MAGIC);
    dv.setUint16(Header.VERSION_MAJOR, VERSION_MAJOR, true);
    dv.setUint16(Header.VERSION_MINOR, VERSION_MINOR, true);
    new Uint32Array(this.buffer, Header.BYTE_ORDER, 1)[0] = BYTE_ORDER_MARK; // native order, by design
    dv.setUint32(Header.HEADER_SIZE, Header.SIZE, true);
    dv.setUint32(Header.PID, process.pid, true);
    dv.setUint32(Header.OS_TID, native.threadId(), true);
    dv.setUint32(Header.THREAD_ID, workerThreadId, true);
    dv.setUint32(Header.FLAGS, (opts.shared ? FileFlags.SHARED : 0) | (opts.keep ? FileFlags.PERSISTENT : 0), true);
    dv.setFloat64(Header.START_TOKEN, startToken, true);
    dv.setFloat64(Header.CREATED_MS, Date.now(), true);
    Atomics.store(this.header32, Header.USED_SIZE / 4, this.used);
  }

  /** Mark the file ready: the last write of its creation. */
  markReady(): void {
    if (this.format === 2) Atomics.store(this.header32, Header.STATE / 4, FileState.READY);
  }

  /** Reserve `size` bytes aligned to `alignment`, growing the file (and the mapping) as needed. */
  private alloc(size: number, alignment: number): number {
    const offset = align(this.used, alignment);
    this.ensure(offset + size + (this.format === 1 ? 2 : 0)); // v1 needs a zero label length after the last field
    this.used = offset + size;
    return offset;
  }

  private ensure(end: number): void {
    if (end <= this.fileSize) return;
    const page = native.pageSize();
    let size = this.fileSize;
    while (size < end) size *= 2;
    size = align(size, page);
    if (size > 0xffff_0000) throw new MmstatsError('ERR_MMSTATS_IO', 'stats file would exceed 4 GiB', { path: this.path });
    try {
      if (!this.memory) native.allocate(this.fd, this.fileSize, size - this.fileSize);
    } catch (err) {
      const e = new MmstatsError('ERR_MMSTATS_IO', `cannot grow the stats file: ${(err as Error).message}`, {
        path: this.path,
        cause: err,
      });
      if (this.onError !== 'memory') throw e;
      this.moveToMemory(e);
    }
    this.fileSize = size;
    if (size > this.buffer.byteLength) this.remap(this.memory ? size : Math.max(size, this.buffer.byteLength) * RESERVE_GROWTH);
  }

  /**
   * The file cannot grow: copy everything into memory, move the fields there, and
   * delete the file (it would only show values that no longer change).
   */
  private moveToMemory(cause: MmstatsError): void {
    warnMemoryFallback(cause);
    const old = this.buffer;
    this.memory = true;
    this.remap(old.byteLength);
    native.unmap(old);
    native.exitFileRemove(this.exitId); // while the lock is held: see remove()
    this.exitId = 0;
    fs.closeSync(this.fd);
    this.fd = -1;
  }

  /** Map a larger window (in memory: copy into a larger buffer) and move every field's views to it. */
  private remap(length: number): void {
    const old = this.buffer;
    if (this.memory) {
      this.buffer = new ArrayBuffer(length);
      // Only the file's bytes: past them, a mapping holds nothing worth copying.
      new Uint8Array(this.buffer).set(new Uint8Array(old, 0, Math.min(old.byteLength, length, this.fileSize)));
      this.bytes = new Uint8Array(this.buffer);
      this.dv = new DataView(this.buffer);
      this.header32 = new Int32Array(this.buffer, 0, Header.SIZE / 4);
      for (const p of this.placed) p.field.bind(this.placement(p.offset, p.writeBufferOffset, p.copySize));
      return;
    }
    this.buffer = native.map(this.fd, length, true);
    this.bytes = new Uint8Array(this.buffer);
    this.dv = new DataView(this.buffer);
    this.header32 = new Int32Array(this.buffer, 0, Header.SIZE / 4);
    for (const p of this.placed) p.field.bind(this.placement(p.offset, p.writeBufferOffset, p.copySize));
    native.unmap(old);
  }

  private placement(offset: number, writeBufferOffset: number, copySize: number): Placement {
    return {
      format: this.format,
      buffer: this.buffer,
      offset,
      writeBufferOffset,
      copySize,
      heap: this.format === 2 ? this.heap : undefined,
    };
  }

  /**
   * Place a field and publish it: its value and its record are complete before the
   * field count moves, so a reader sees all of it or none of it.
   */
  place<F extends Field>(label: string, spec: FieldSpec<F>): F {
    if (this.closed) throw new MmstatsError('ERR_MMSTATS_CLOSED', `cannot add field ${label}: the stats are closed`, { path: this.path });
    return this.format === 2 ? this.placeV2(label, spec) : this.placeV1(label, spec);
  }

  private placeV2<F extends Field>(label: string, spec: FieldSpec<F>): F {
    const layout = spec.v2();
    const meta = {
      label,
      dataType: layout.dataType,
      kind: layout.kind,
      flags: layout.flags,
      valueOffset: 0,
      valueSize: layout.valueSize,
      param: layout.param,
      unit: spec.options.unit ?? '',
      help: spec.options.help ?? '',
      parts: layout.parts,
      bounds: layout.bounds,
      extra: layout.extra,
    };
    const size = recordSize(meta);
    const valueOffset = this.alloc(layout.valueSize, layout.align);
    const recordOffset = this.alloc(size, 8);
    const typeKey = spec instanceof FamilySpec ? familyKey(spec.meta) : `2:${layout.dataType}:${layout.valueSize}:${layout.param}`;
    const prev = this.previous.get(label);
    if (prev && prev.typeKey === typeKey && !(layout.flags & RecordFlags.STATIC) && !prev.children) {
      this.bytes.set(prev.bytes, valueOffset);
      if (layout.flags & RecordFlags.SEQLOCK) this.dv.setUint32(valueOffset + Seqlocked.SEQUENCE, 0, true);
    }
    encodeRecord(this.bytes, recordOffset, { ...meta, valueOffset }, true);
    const field = spec.create(label, this.placement(valueOffset, 0, 0));
    this.placed.push({ field, offset: valueOffset, writeBufferOffset: 0, copySize: 0 });
    // A kept family's children come back with their labels and values, each through the slot protocol.
    if (field instanceof Family && prev?.children && prev.typeKey === typeKey) field.restore(prev.children);
    // Publish: link the record, then move the used size, generation and count (atomic, in that order).
    if (this.lastRecord === 0) this.dv.setUint32(Header.FIRST_RECORD, recordOffset, true);
    else this.dv.setUint32(this.lastRecord + Rec.NEXT, recordOffset, true);
    this.lastRecord = recordOffset;
    Atomics.store(this.header32, Header.USED_SIZE / 4, this.used);
    Atomics.add(this.header32, Header.GENERATION / 4, 1);
    Atomics.store(this.header32, Header.FIELD_COUNT / 4, ++this.fieldCount);
    return field;
  }

  private placeV1<F extends Field>(label: string, spec: FieldSpec<F>): F {
    const layout = spec.v1();
    if (!layout) {
      throw new MmstatsError('ERR_MMSTATS_UNSUPPORTED', `field ${label} (${spec.typeName}) cannot be written in format 1; use format 2`, {
        path: this.path,
      });
    }
    const size = v1FieldSize(label, layout.type, layout.buffered);
    const offset = this.alloc(size, 1);
    // Build the field aside, then copy it with its label length last: until that
    // length is non-zero, a reader sees the zero fill that ends the list.
    const scratch = new Uint8Array(size);
    const l = encodeV1Field(scratch, 0, label, layout.type, layout.buffered);
    const prev = this.previous.get(label);
    if (prev && prev.typeKey === `1:${layout.type}:${layout.buffered}`) scratch.set(prev.bytes, l.writeBufferOffset);
    this.bytes.set(scratch.subarray(2), offset + 2);
    this.bytes.set(scratch.subarray(0, 2), offset);
    const field = spec.create(label, this.placement(offset + l.valueOffset, offset + l.writeBufferOffset, l.valueSize));
    this.placed.push({ field, offset: offset + l.valueOffset, writeBufferOffset: offset + l.writeBufferOffset, copySize: l.valueSize });
    return field;
  }

  /** msync the mapping: synchronously, or only scheduled with `async`. */
  flush(async = false): void {
    if (this.closed) throw new MmstatsError('ERR_MMSTATS_CLOSED', 'cannot flush: the stats are closed', { path: this.path });
    if (!this.memory) native.sync(this.buffer, async);
  }

  /**
   * Unmap and close; fields then throw on use. Idempotent. The file stays while
   * the process lives; at exit it goes unless kept.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    openStorages.delete(this);
    for (const p of this.placed) p.field.markClosed();
    if (this.format === 2) Atomics.store(this.header32, Header.STATE / 4, FileState.CLOSED);
    if (this.memory) return;
    native.unmap(this.buffer);
    native.exitFileClosed(this.exitId);
    fs.closeSync(this.fd); // releases the liveness lock
    this.fd = -1;
  }

  /**
   * Close and delete the file (only if the name still points at this file and,
   * once closed, no other writer took it over). Idempotent.
   */
  remove(): void {
    // Unlink while the lock is held: once it is released, a new writer may take the
    // file over under the same name, and the unlink would remove that writer's file.
    // A file closed before is removed only if no writer holds it now.
    native.exitFileRemove(this.exitId);
    this.exitId = 0;
    this.close();
  }
}

let warnedMemory = false;

/** Tell once per process that stats went to memory, and why. */
function warnMemoryFallback(cause: MmstatsError): void {
  if (warnedMemory) return;
  warnedMemory = true;
  process.emitWarning(`mmstats: stats kept in memory only, no file is written (${cause.message})`, {
    code: 'MMSTATS_IN_MEMORY',
    detail: 'The stats work but no reader can see them; fix the cause (space, permission, read-only file system) and reopen.',
  });
}

function openError(file: string, e: NodeJS.ErrnoException): MmstatsError {
  if (e.code === 'ELOOP' || e.code === 'EMLINK') {
    return new MmstatsError('ERR_MMSTATS_UNSAFE_PATH', 'a symbolic link stands at the stats file name; refusing to follow it', {
      path: file,
      cause: e,
    });
  }
  return new MmstatsError('ERR_MMSTATS_IO', `cannot create the stats file: ${e.message}`, { path: file, cause: e });
}

/**
 * How long a writer waits for a file whose lock is held by a process that is not a
 * live writer of it: `mmstats clean` holds it for the moment it takes to remove a
 * stale file, and a writer creating the file holds it before its header says who
 * it is.
 */
const CLAIM_WAIT_MS = 2000;

/** Sleep without an event loop: opening is synchronous. */
function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * One attempt to create the file, or to take over a stale one, ending with this
 * process holding its lock while the name still names it. Returns `busy` (try
 * again shortly) when someone else holds the lock for a moment, or when the file
 * was removed between the open and the lock; throws when the file is not ours to
 * take.
 */
function claimFile(file: string, opts: StorageOptions): { fd: number; previous: PreviousValues } | { busy: string } {
  const C = fs.constants;
  const flags = C.O_RDWR | C.O_NOFOLLOW;
  let fd: number;
  let created = true;
  try {
    fd = fs.openSync(file, flags | C.O_CREAT | C.O_EXCL, opts.mode);
    fs.fchmodSync(fd, opts.mode); // the umask must not widen or narrow what was asked
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code !== 'EEXIST') throw openError(file, e);
    created = false;
    try {
      fd = fs.openSync(file, flags);
    } catch (err2) {
      const e2 = err2 as NodeJS.ErrnoException;
      if (e2.code === 'ENOENT') return { busy: 'the file kept vanishing while it was opened' };
      throw openError(file, e2);
    }
    const st = fs.fstatSync(fd);
    const uid = process.getuid?.();
    if (!st.isFile() || (uid !== undefined && st.uid !== uid)) {
      fs.closeSync(fd);
      throw new MmstatsError('ERR_MMSTATS_UNSAFE_PATH', 'an existing file of that name is not a regular file of this user', {
        path: file,
      });
    }
    // Truncating a file with other links, or one that holds something else, would destroy data elsewhere.
    if (st.nlink > 1 || !looksLikeStats(fd, st.size)) {
      fs.closeSync(fd);
      const why = st.nlink > 1 ? 'has other hard links' : 'is not a stats file';
      throw new MmstatsError('ERR_MMSTATS_UNSAFE_PATH', `an existing file of that name ${why}; not overwriting it`, { path: file });
    }
  }
  if (!native.lockExclusive(fd)) {
    // A live writer whose header says so owns it. Otherwise the holder is a cleaner
    // removing a stale file, or a writer that has not written its header yet: wait.
    const pid = created ? 0 : liveWriterPid(fd);
    fs.closeSync(fd);
    if (pid > 0) throw new MmstatsError('ERR_MMSTATS_IN_USE', `the file belongs to a live writer (pid ${pid})`, { path: file });
    return { busy: "another process held the file's lock" };
  }
  // The lock is ours; the name must still name this file. `mmstats clean` unlinks a
  // stale file while it holds the lock: a writer that took the lock just after would
  // otherwise live in a file no reader can find.
  const held = fs.fstatSync(fd);
  let named: fs.Stats | undefined;
  try {
    named = fs.lstatSync(file);
  } catch {
    // Removed: try again, with a new file.
  }
  if (held.nlink === 0 || !named || named.ino !== held.ino || named.dev !== held.dev) {
    fs.closeSync(fd);
    return { busy: 'the file kept being removed while it was opened' };
  }
  let previous: PreviousValues = new Map();
  if (!created) {
    // A stale file: its writer is gone. Keep its values if asked, then start afresh.
    if (opts.keep) previous = readPrevious(fs.readFileSync(fd), file);
    fs.ftruncateSync(fd, 0);
  }
  return { fd, previous };
}

/** What {@link removeStaleFile} did: removed (true), or why not. */
export type StaleRemoval = true | 'gone' | 'taken' | 'changed' | 'locked';

/**
 * Remove a stats file judged stale, as one decision that no writer can slip into
 * (`mmstats clean`): take the lock a writer takes, so none can take the file over
 * meanwhile; check that the name still names the inode judged (`judged`: its
 * stat) and that its first bytes, where the writer's identity is, are still
 * `head`; then unlink before the lock is released. A writer that gets the lock
 * next finds its name gone and makes a new file (see claimFile).
 */
export function removeStaleFile(file: string, judged: fs.Stats, head: Uint8Array): StaleRemoval {
  const C = fs.constants;
  let fd: number;
  try {
    fd = fs.openSync(file, C.O_RDWR | C.O_NOFOLLOW | C.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return 'gone';
    if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') return 'locked';
    throw err;
  }
  const same = (st: fs.Stats) => st.dev === judged.dev && st.ino === judged.ino;
  try {
    if (!same(fs.fstatSync(fd))) return 'changed';
    if (!native.lockExclusive(fd)) return 'taken';
    const now = Buffer.alloc(head.length);
    if (fs.readSync(fd, now, 0, head.length, 0) !== head.length || !now.equals(head)) return 'changed';
    let named: fs.Stats;
    try {
      named = fs.lstatSync(file);
    } catch {
      return 'gone';
    }
    if (!same(named)) return 'changed';
    fs.unlinkSync(file);
    return true;
  } finally {
    fs.closeSync(fd); // releases the lock, after the unlink
  }
}

/** The pid in a v2 header when that process still runs (same start token), else 0. */
function liveWriterPid(fd: number): number {
  const b = Buffer.alloc(Header.SIZE);
  if (fs.readSync(fd, b, 0, Header.SIZE, 0) < Header.SIZE || !b.subarray(0, 8).equals(Buffer.from(MAGIC))) return 0;
  const pid = b.readUInt32LE(Header.PID);
  return pid > 0 && processAlive(pid, b.readDoubleLE(Header.START_TOKEN)) ? pid : 0;
}

/** A stats file of either format, or one its writer died making (empty or zeros so far). */
function looksLikeStats(fd: number, size: number): boolean {
  if (size === 0) return true;
  const head = Buffer.alloc(8);
  const n = fs.readSync(fd, head, 0, 8, 0);
  return head[0] === V1_VERSION || head.subarray(0, n).every((b) => b === 0) || (n === 8 && head.equals(Buffer.from(MAGIC)));
}

/**
 * Values of a stale file, by label, so a persistent writer continues from them.
 * A seqlocked value its writer was killed in the middle of writing (odd sequence)
 * is left out, whatever its type: its bytes may mix two writes, and the new writer
 * would publish them as whole. That field starts empty instead, a state a writer
 * really wrote. (v1 has no sequence: its buffered values are read from the copy
 * that was complete, and its unbuffered strings are as the original left them.)
 */
function readPrevious(bytes: Uint8Array, file: string): PreviousValues {
  const out: PreviousValues = new Map();
  let torn = 0;
  try {
    if (bytes[0] === V1_VERSION) {
      for (const f of decodeV1Fields(bytes, bytes.length)) {
        out.set(f.label, { typeKey: `1:${f.type}:${f.buffered}`, bytes: bytes.slice(f.writeBufferOffset, f.end) });
      }
    } else if (bytes.length >= Header.SIZE && Buffer.from(bytes.subarray(0, 8)).equals(Buffer.from(MAGIC))) {
      const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      const count = dv.getUint32(Header.FIELD_COUNT, true);
      let at = dv.getUint32(Header.FIRST_RECORD, true);
      for (let i = 0; i < count && at !== 0; i++) {
        const m = decodeRecord(bytes, at, bytes.length, true);
        if (m.extra) out.set(m.label, previousFamily(bytes, m.valueOffset, m.extra));
        else if (isTornValue(bytes, m, true)) torn++;
        else {
          out.set(m.label, {
            typeKey: `2:${m.dataType}:${m.valueSize}:${m.param}`,
            bytes: bytes.slice(m.valueOffset, m.valueOffset + m.valueSize),
          });
        }
        const next = dv.getUint32(at + Rec.NEXT, true);
        if (next <= at) break;
        at = next;
      }
    }
  } catch {
    // A damaged stale file: keep what was read before the damage.
  }
  if (torn > 0) {
    process.emitWarning(`mmstats: ${file}: ${torn} kept value(s) were cut off mid-write when the previous writer died; they start empty`, {
      code: 'MMSTATS_TORN_VALUES',
    });
  }
  return out;
}

/**
 * The children of a family in a stale file: every settled live or overflow slot. A
 * slot left odd (its writer died claiming or freeing it) is skipped, and so is a
 * seqlocked child value left odd (died mid-write), as readPrevious does for fields:
 * that child starts afresh when the program asks for it again.
 */
function previousFamily(
  bytes: Uint8Array,
  directory: number,
  extra: Uint8Array,
): { typeKey: string; bytes: Uint8Array; children: PreviousChild[] } {
  const meta = decodeFamilyExtra(extra);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const children: PreviousChild[] = [];
  let chunk = dv.getUint32(directory + Directory.FIRST_CHUNK, true);
  let last = 0;
  while (chunk > last && chunk + Chunk.SLOTS <= bytes.length) {
    const count = dv.getUint32(chunk + Chunk.SLOT_COUNT, true);
    for (let i = 0; i < count; i++) {
      const slot = chunk + Chunk.SLOTS + i * meta.slotSize;
      if (slot + meta.slotSize > bytes.length) break;
      const state = dv.getUint32(slot + Slot.STATE, true);
      if (dv.getUint32(slot + Slot.SEQ, true) & 1 || (state !== SlotState.LIVE && state !== SlotState.OVERFLOW)) continue;
      const v = slot + meta.slotValueOffset;
      if (meta.childFlags & RecordFlags.SEQLOCK && dv.getUint32(v + Seqlocked.SEQUENCE, true) & 1) continue;
      try {
        const values = state === SlotState.LIVE ? readSlotLabels(bytes, slot, meta) : [];
        children.push({ state, values, bytes: bytes.slice(v, v + meta.childValueSize) });
      } catch {
        // A damaged slot: not carried over.
      }
    }
    last = chunk;
    chunk = dv.getUint32(chunk + Chunk.NEXT, true);
  }
  return { typeKey: familyKey(meta), bytes: new Uint8Array(0), children };
}
