/**
 * Shared mode: one stats file that every worker thread of a process writes (and,
 * with `shared: 'cluster'`, every process of a cluster), with updates that stay
 * exact under contention and need no message passing.
 *
 * The first thread to open a shared model creates the file and holds its liveness
 * lock (the creator). Every other thread opens the same file by name and attaches
 * to the fields already there, by label (an attacher); the field layout is fixed
 * by the creator, so each thread must open the model with the same schema.
 * Attachers never add records: only the creator appends to the file.
 *
 * How each field type updates in shared mode (v2 only):
 *
 * | field                | stored as              | update                                           |
 * | -------------------- | ---------------------- | ------------------------------------------------ |
 * | counter              | UINT64, kind counter   | `Atomics.add` on a BigInt64Array (exact, any n)  |
 * | gauge, float64       | FLOAT64                | `set`: one aligned store; `incr`: CAS on its bits |
 * | float32              | FLOAT32                | as float64, CAS on the 32-bit bits               |
 * | int8 ... uint32      | as declared            | `Atomics.store` / `Atomics.add`                  |
 * | int64, uint64        | as declared            | `Atomics.store` / `Atomics.add` (bigint)         |
 * | bool                 | BOOL                   | `Atomics.store` of one byte                      |
 * | string               | STRING, seqlocked      | writers take the odd sequence by compare-exchange |
 * | compound             | STRUCT, seqlocked      | as string; `set` keeps the parts it does not name |
 * | static               | as declared            | written once by the creator                      |
 *
 * Other field types are refused with ERR_MMSTATS_UNSUPPORTED. The mapping of every
 * thread is a MAP_SHARED view of the same file pages, so the atomic instructions
 * behind `Atomics` act on the same memory in every thread and every process.
 */
import fs from 'node:fs';
import path from 'node:path';
import cluster from 'node:cluster';
import { MmstatsError, isMmstatsError } from '../errors.js';
import * as native from '../native/index.js';
import { processStartToken } from '../platform/identity.js';
import { commandName, expandTemplate } from '../platform/paths.js';
import { readConsistent, beginShared } from '../format/seqlock.js';
import {
  DATA_TYPE_NAMES,
  DataType,
  FileFlags,
  FileState,
  Header,
  KIND_NAMES,
  Kind,
  Limits,
  MAGIC,
  Record as Rec,
  RecordFlags,
  Seqlocked,
  decodeRecord,
  type FieldMeta,
} from '../format/v2.js';
import { Field, FieldSpec, type FormatVersion, type Placement, type V1Layout, type V2Layout } from './field.js';
import { BoolSpec, CounterSpec, GaugeSpec, NumberSpec, type CounterField, type GaugeField, type NumberField } from './fields/scalar.js';
import { StaticSpec, type StaticField } from './fields/static.js';
import { BigIntSpec, CompoundSpec, StringSpec, type BigIntField, type CompoundField, type StringField } from './fields/wide.js';
import { Storage } from './storage.js';

/** Which writers share one file: the threads of this process, or every process of a cluster. */
export type SharedScope = true | 'cluster';

/** What `{TID}` expands to in the name of a shared file: no one thread owns it. */
export const SHARED_TID = 'shared';

/** How long an attacher waits for the creator to finish making the file. */
const READY_TIMEOUT_MS = 10_000;
const RESERVE_BYTES = 4 << 20;

const ONE = 1n;
const ZERO = 0n;

// ---------------------------------------------------------------------------
// Shared field types

/** A counter several threads increment: a 64-bit integer, `Atomics.add`. */
class SharedCounter extends Field implements CounterField {
  declare big: BigInt64Array;
  constructor(label: string, at: Placement) {
    super(label);
    this.bind(at);
  }
  bind(at: Placement): void {
    this.big = new BigInt64Array(at.buffer, at.offset, 1);
  }
  incr(n = 1): void {
    if (this.closed) this.useAfterClose();
    if (n === 1) Atomics.add(this.big, 0, ONE);
    else Atomics.add(this.big, 0, toBigInt(n, this.label));
  }
  reset(): void {
    if (this.closed) this.useAfterClose();
    Atomics.store(this.big, 0, ZERO);
  }
  get value(): number {
    if (this.closed) this.useAfterClose();
    return Number(BigInt.asUintN(64, Atomics.load(this.big, 0)));
  }
  set value(v: number) {
    if (this.closed) this.useAfterClose();
    Atomics.store(this.big, 0, toBigInt(v, this.label));
  }
}

function toBigInt(n: number, label: string): bigint {
  if (!Number.isSafeInteger(n)) throw new RangeError(`shared field ${label} counts whole numbers; got ${n}`);
  return BigInt(n);
}

/** A float several threads update: a store for `set`, a compare-exchange loop on its bits for `incr`. */
class SharedFloat extends Field implements GaugeField, NumberField {
  declare f: Float64Array | Float32Array;
  declare bits: BigInt64Array | Int32Array;
  /** Scratch views over one private word, to move between a float and its bits without allocating a buffer. */
  private readonly sf: Float64Array | Float32Array;
  private readonly sb: BigInt64Array | Int32Array;
  constructor(
    label: string,
    at: Placement,
    private readonly wide: boolean,
  ) {
    super(label);
    const scratch = new ArrayBuffer(8);
    this.sf = wide ? new Float64Array(scratch) : new Float32Array(scratch);
    this.sb = wide ? new BigInt64Array(scratch) : new Int32Array(scratch);
    this.bind(at);
  }
  bind(at: Placement): void {
    this.f = this.wide ? new Float64Array(at.buffer, at.offset, 1) : new Float32Array(at.buffer, at.offset, 1);
    this.bits = this.wide ? new BigInt64Array(at.buffer, at.offset, 1) : new Int32Array(at.buffer, at.offset, 1);
  }
  set(value: number): void {
    if (this.closed) this.useAfterClose();
    // One aligned store of the value's own size: atomic on every 64-bit platform Node supports.
    this.f[0] = value;
  }
  incr(n = 1): void {
    if (this.closed) this.useAfterClose();
    const bits = this.bits as Int32Array;
    const sb = this.sb as Int32Array;
    for (;;) {
      const old = Atomics.load(bits, 0);
      sb[0] = old;
      this.sf[0] = this.sf[0]! + n;
      if (Atomics.compareExchange(bits, 0, old, sb[0]!) === old) return;
    }
  }
  decr(n = 1): void {
    this.incr(-n);
  }
  reset(): void {
    this.set(0);
  }
  get value(): number {
    if (this.closed) this.useAfterClose();
    return this.f[0]!;
  }
  set value(v: number) {
    this.set(v);
  }
}

type AtomicIntArray = Int8Array | Uint8Array | Int16Array | Uint16Array | Int32Array | Uint32Array;
const INT_VIEWS: Record<number, new (b: ArrayBuffer, o: number, n: number) => AtomicIntArray> = {
  [DataType.INT8]: Int8Array,
  [DataType.UINT8]: Uint8Array,
  [DataType.INT16]: Int16Array,
  [DataType.UINT16]: Uint16Array,
  [DataType.INT32]: Int32Array,
  [DataType.UINT32]: Uint32Array,
};

/** An integer of up to 32 bits several threads update with `Atomics`. */
class SharedInt extends Field implements NumberField, GaugeField, CounterField {
  declare v: AtomicIntArray;
  constructor(
    label: string,
    at: Placement,
    private readonly ctor: new (b: ArrayBuffer, o: number, n: number) => AtomicIntArray,
  ) {
    super(label);
    this.bind(at);
  }
  bind(at: Placement): void {
    this.v = new this.ctor(at.buffer, at.offset, 1);
  }
  set(value: number): void {
    if (this.closed) this.useAfterClose();
    Atomics.store(this.v as Int32Array, 0, Number.isFinite(value) ? Math.trunc(value) : 0);
  }
  incr(n = 1): void {
    if (this.closed) this.useAfterClose();
    Atomics.add(this.v as Int32Array, 0, n);
  }
  decr(n = 1): void {
    if (this.closed) this.useAfterClose();
    Atomics.sub(this.v as Int32Array, 0, n);
  }
  reset(): void {
    this.set(0);
  }
  get value(): number {
    if (this.closed) this.useAfterClose();
    return Atomics.load(this.v as Int32Array, 0);
  }
  set value(v: number) {
    this.set(v);
  }
}

/** A 64-bit integer several threads update with `Atomics` on bigints. */
class SharedBigInt extends Field implements BigIntField {
  declare big: BigInt64Array;
  constructor(
    label: string,
    at: Placement,
    private readonly signed: boolean,
  ) {
    super(label);
    this.bind(at);
  }
  bind(at: Placement): void {
    this.big = new BigInt64Array(at.buffer, at.offset, 1);
  }
  set(value: number | bigint): void {
    if (this.closed) this.useAfterClose();
    const v = typeof value === 'bigint' ? value : BigInt(Number.isFinite(value) ? Math.trunc(value) : 0);
    Atomics.store(this.big, 0, BigInt.asIntN(64, v));
  }
  incr(n = 1): void {
    if (this.closed) this.useAfterClose();
    Atomics.add(this.big, 0, n === 1 ? ONE : toBigInt(n, this.label));
  }
  get value(): bigint {
    if (this.closed) this.useAfterClose();
    const v = Atomics.load(this.big, 0);
    return this.signed ? v : BigInt.asUintN(64, v);
  }
  get number(): number {
    return Number(this.value);
  }
}

class SharedBool extends Field {
  declare v: Uint8Array;
  constructor(label: string, at: Placement) {
    super(label);
    this.bind(at);
  }
  bind(at: Placement): void {
    this.v = new Uint8Array(at.buffer, at.offset, 1);
  }
  set(value: boolean): void {
    if (this.closed) this.useAfterClose();
    Atomics.store(this.v, 0, value ? 1 : 0);
  }
  get value(): boolean {
    if (this.closed) this.useAfterClose();
    return Atomics.load(this.v, 0) !== 0;
  }
  set value(v: boolean) {
    this.set(v);
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * A seqlocked value several threads write: a writer first wins the odd sequence by
 * compare-exchange (`beginShared`), so two writers never interleave; readers use
 * the ordinary protocol. Never "evens out" the sequence on attach: another thread
 * may be writing.
 */
abstract class SharedSeqlocked extends Field {
  declare seq: Int32Array;
  bind(at: Placement): void {
    this.seq = new Int32Array(at.buffer, at.offset + Seqlocked.SEQUENCE, 1);
  }
  protected write(fn: () => void): void {
    if (this.closed) this.useAfterClose();
    const odd = beginShared(this.seq, 0);
    try {
      fn();
    } finally {
      Atomics.store(this.seq, 0, (odd + 1) | 0);
    }
  }
  protected read<T>(fn: () => T): T {
    if (this.closed) this.useAfterClose();
    let out: T | undefined;
    // A writer holds the odd sequence for a few stores only: this settles at once.
    while (!readConsistent(this.seq, 0, () => (out = fn())));
    return out!;
  }
}

class SharedString extends SharedSeqlocked implements StringField {
  declare len: Uint32Array;
  declare payload: Uint8Array;
  constructor(
    label: string,
    at: Placement,
    private readonly size: number,
  ) {
    super(label);
    this.bind(at);
  }
  override bind(at: Placement): void {
    super.bind(at);
    this.len = new Uint32Array(at.buffer, at.offset + Seqlocked.LENGTH, 1);
    this.payload = new Uint8Array(at.buffer, at.offset + Seqlocked.PAYLOAD, this.size);
  }
  set(value: string): void {
    this.write(() => {
      const n = encoder.encodeInto(value, this.payload).written;
      this.payload.fill(0, n);
      this.len[0] = n;
    });
  }
  get value(): string {
    return this.read(() => decoder.decode(this.payload.slice(0, Math.min(this.len[0]!, this.size))));
  }
  set value(v: string) {
    this.set(v);
  }
}

class SharedStruct<P extends string> extends SharedSeqlocked implements CompoundField<P> {
  declare f64: Float64Array;
  private readonly current = {} as Record<P, number>;
  constructor(
    label: string,
    at: Placement,
    private readonly names: readonly P[],
  ) {
    super(label);
    this.bind(at);
  }
  override bind(at: Placement): void {
    super.bind(at);
    this.f64 = new Float64Array(at.buffer, at.offset + Seqlocked.PAYLOAD, this.names.length);
  }
  set(values: Partial<Record<P, number>>): void {
    this.write(() => {
      this.names.forEach((n, i) => {
        if (values[n] !== undefined) this.f64[i] = values[n]!;
      });
    });
  }
  /** `fn` sees the parts as they are in the file, under the write lock, so concurrent updates compose. */
  update(fn: (parts: Record<P, number>) => void): void {
    this.write(() => {
      this.names.forEach((n, i) => (this.current[n] = this.f64[i]!));
      fn(this.current);
      this.names.forEach((n, i) => (this.f64[i] = this.current[n]));
    });
  }
  get value(): Readonly<Record<P, number>> {
    return this.read(() => {
      const out = {} as Record<P, number>;
      this.names.forEach((n, i) => (out[n] = this.f64[i]!));
      return out;
    });
  }
}

/** A static field as an attacher sees it: the creator wrote it; this thread only reads. */
class AttachedStatic<T> extends Field implements StaticField<T> {
  constructor(
    label: string,
    private readonly inner: Field & { readonly value: T },
  ) {
    super(label);
  }
  bind(at: Placement): void {
    this.inner.bind(at);
  }
  get value(): T {
    return this.inner.value;
  }
}

/** Wraps a spec so that its field is made by a shared-mode class (same record, shared updates). */
class SharedSpec<F extends Field> extends FieldSpec<F> {
  constructor(
    readonly inner: FieldSpec,
    private readonly layout: V2Layout,
    private readonly make: (label: string, at: Placement) => F,
  ) {
    super(inner.options);
    this.typeName = `shared ${inner.typeName}`;
  }
  readonly typeName: string;
  v2(): V2Layout {
    return this.layout;
  }
  v1(): V1Layout | undefined {
    return undefined;
  }
  create(label: string, at: Placement): F {
    return this.make(label, at);
  }
}

function privateOf<T>(spec: object, key: string): T {
  return (spec as Record<string, T>)[key]!;
}

/**
 * The shared-mode form of a spec: its layout in the file and the class that
 * updates it. Throws ERR_MMSTATS_UNSUPPORTED for types without a shared form.
 */
export function sharedSpec(label: string, spec: FieldSpec): FieldSpec {
  if (spec instanceof SharedSpec) return spec;
  if (spec instanceof StaticSpec) return spec; // written once, by the creator alone
  const base = spec.v2();
  if (base.dataType === DataType.FAMILY) {
    // Claiming a slot would need a cross-thread allocator in the file; not built yet (docs/RUNTIME.md).
    throw new MmstatsError(
      'ERR_MMSTATS_UNSUPPORTED',
      `field ${label} is labelled: labelled families are not supported in shared mode; open the model per thread (shared: false)`,
    );
  }
  if (spec instanceof CounterSpec) {
    const layout: V2Layout = { ...base, dataType: DataType.UINT64, kind: Kind.COUNTER, valueSize: 8, align: 8 };
    return new SharedSpec(spec, layout, (l, at) => new SharedCounter(l, at));
  }
  if (spec instanceof GaugeSpec) return new SharedSpec(spec, base, (l, at) => new SharedFloat(l, at, true));
  if (spec instanceof NumberSpec) {
    if (spec.type === 'float64' || spec.type === 'float32') {
      return new SharedSpec(spec, base, (l, at) => new SharedFloat(l, at, spec.type === 'float64'));
    }
    const ctor = INT_VIEWS[base.dataType]!;
    return new SharedSpec(spec, base, (l, at) => new SharedInt(l, at, ctor));
  }
  if (spec instanceof BigIntSpec) return new SharedSpec(spec, base, (l, at) => new SharedBigInt(l, at, spec.signed));
  if (spec instanceof BoolSpec) return new SharedSpec(spec, base, (l, at) => new SharedBool(l, at));
  if (spec instanceof StringSpec) return new SharedSpec(spec, base, (l, at) => new SharedString(l, at, spec.size));
  if (spec instanceof CompoundSpec) {
    return new SharedSpec(spec, base, (l, at) => new SharedStruct(l, at, spec.parts as readonly string[]));
  }
  throw new MmstatsError(
    'ERR_MMSTATS_UNSUPPORTED',
    `field ${label} (${spec.typeName}) has no shared form; shared stats take counters, gauges, numbers, bool, string, compound and static fields`,
  );
}

/** An attacher's read-only view of a static field the creator wrote. */
function attachedStatic(label: string, spec: StaticSpec<unknown>, at: Placement): Field {
  const inner = sharedSpec(label, privateOf<FieldSpec>(spec, 'inner')).create(label, at) as Field & { value: unknown };
  return new AttachedStatic(label, inner);
}

// ---------------------------------------------------------------------------
// Storage

/** The storage operations a Stats instance uses; both roles of a shared file provide them. */
export interface SharedStorage {
  readonly path: string;
  readonly format: FormatVersion;
  readonly keep: boolean;
  /** True for the thread (or process) that created the file and holds its lock. */
  readonly creator: boolean;
  place<F extends Field>(label: string, spec: FieldSpec<F>): F;
  flush(async?: boolean): void;
  close(): void;
  remove(): void;
  markReady(): void;
}

/** The creator: an ordinary storage flagged SHARED, whose fields are placed in their shared form. */
class CreatorStorage implements SharedStorage {
  readonly creator = true;
  constructor(private readonly storage: Storage) {}
  get path(): string {
    return this.storage.path;
  }
  get format(): FormatVersion {
    return this.storage.format;
  }
  get keep(): boolean {
    return this.storage.keep;
  }
  place<F extends Field>(label: string, spec: FieldSpec<F>): F {
    return this.storage.place(label, sharedSpec(label, spec)) as F;
  }
  flush(async = false): void {
    this.storage.flush(async);
  }
  close(): void {
    this.storage.close();
  }
  remove(): void {
    this.storage.remove();
  }
  markReady(): void {
    this.storage.markReady();
  }
}

/** Attachers of this thread, closed when the thread (or process) exits. */
const attachers = new Set<AttacherStorage>();
let exitHook = false;

/** An attacher: maps the creator's file and finds fields by label; never appends. */
class AttacherStorage implements SharedStorage {
  readonly creator = false;
  readonly format = 2 as const;
  private buffer: ArrayBuffer;
  private i32: Int32Array;
  private readonly records = new Map<string, FieldMeta>();
  private lastRecord = 0;
  private known = 0;
  private readonly placed: { field: Field; offset: number }[] = [];
  private closed = false;

  constructor(
    readonly path: string,
    private fd: number,
    readonly keep: boolean,
  ) {
    this.buffer = native.map(fd, Math.max(RESERVE_BYTES, fs.fstatSync(fd).size), true);
    this.i32 = new Int32Array(this.buffer, 0, Header.SIZE / 4);
    attachers.add(this);
    if (!exitHook) {
      exitHook = true;
      process.on('exit', () => {
        for (const a of [...attachers]) a.close();
      });
    }
  }

  /** Read the records the creator published since the last look. */
  private scan(): void {
    const count = Atomics.load(this.i32, Header.FIELD_COUNT / 4) >>> 0;
    if (count <= this.known) return;
    const used = Atomics.load(this.i32, Header.USED_SIZE / 4) >>> 0;
    if (used > this.buffer.byteLength) this.remap(used);
    const bytes = new Uint8Array(this.buffer);
    const dv = new DataView(this.buffer);
    let at = this.known === 0 ? dv.getUint32(Header.FIRST_RECORD, true) : dv.getUint32(this.lastRecord + Rec.NEXT, true);
    for (; this.known < count; this.known++) {
      const meta = decodeRecord(bytes, at, used, true);
      this.records.set(meta.label, meta);
      this.lastRecord = at;
      if (this.known + 1 < count) at = dv.getUint32(at + Rec.NEXT, true);
    }
  }

  private remap(length: number): void {
    const old = this.buffer;
    this.buffer = native.map(this.fd, Math.max(length, old.byteLength * 2), true);
    this.i32 = new Int32Array(this.buffer, 0, Header.SIZE / 4);
    for (const p of this.placed) p.field.bind(this.placement(p.offset));
    native.unmap(old);
  }

  private placement(offset: number): Placement {
    return { format: 2, buffer: this.buffer, offset, writeBufferOffset: 0, copySize: 0 };
  }

  place<F extends Field>(label: string, spec: FieldSpec<F>): F {
    if (this.closed)
      throw new MmstatsError('ERR_MMSTATS_CLOSED', `cannot attach field ${label}: the stats are closed`, { path: this.path });
    this.scan();
    const meta = this.records.get(label);
    if (!meta) {
      throw new MmstatsError(
        'ERR_MMSTATS_LABEL',
        `field ${label} is not in the shared file: the creating thread adds the fields, and every thread must open the model with the same fields`,
        { path: this.path },
      );
    }
    const shared = sharedSpec(label, spec);
    const want = shared.v2();
    const same =
      want.dataType === meta.dataType &&
      want.kind === meta.kind &&
      want.valueSize === meta.valueSize &&
      want.param === meta.param &&
      (want.flags & RecordFlags.STATIC) === (meta.flags & RecordFlags.STATIC);
    if (!same) {
      const describe = (d: number, k: number) => `${DATA_TYPE_NAMES[d] ?? d} ${KIND_NAMES[k] ?? k}`;
      throw new MmstatsError(
        'ERR_MMSTATS_LABEL',
        `field ${label} is a ${describe(meta.dataType, meta.kind)} in the shared file but a ${describe(want.dataType, want.kind)} here: every thread must open the model with the same fields`,
        { path: this.path },
      );
    }
    if (meta.valueOffset + meta.valueSize > this.buffer.byteLength) this.remap(meta.valueOffset + meta.valueSize);
    const at = this.placement(meta.valueOffset);
    const field = (spec instanceof StaticSpec ? attachedStatic(label, spec, at) : shared.create(label, at)) as F;
    this.placed.push({ field, offset: meta.valueOffset });
    return field;
  }

  flush(async = false): void {
    if (this.closed) throw new MmstatsError('ERR_MMSTATS_CLOSED', 'cannot flush: the stats are closed', { path: this.path });
    native.sync(this.buffer, async);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    attachers.delete(this);
    for (const p of this.placed) p.field.markClosed();
    native.unmap(this.buffer);
    fs.closeSync(this.fd);
    this.fd = -1;
  }

  /** An attacher never deletes the file: it belongs to the creator. */
  remove(): void {
    this.close();
  }

  markReady(): void {
    // The creator marks the file ready; an attacher only joins it.
  }
}

/** Sleep without an event loop: attaching is synchronous, like every open. */
function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

type AttachResult = { storage: AttacherStorage } | { retry: string };

/** Open the creator's file and check that it is the shared file of `ownerPid`, then map it. */
function attach(file: string, ownerPid: number, keep: boolean): AttachResult {
  const C = fs.constants;
  let fd: number;
  try {
    fd = fs.openSync(file, C.O_RDWR | C.O_NOFOLLOW);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ENOENT') return { retry: 'the shared file vanished while attaching' };
    if (e.code === 'ELOOP')
      throw new MmstatsError('ERR_MMSTATS_UNSAFE_PATH', 'a symbolic link stands at the shared file name', { path: file });
    throw new MmstatsError('ERR_MMSTATS_IO', `cannot open the shared file: ${e.message}`, { path: file, cause: e });
  }
  try {
    const st = fs.fstatSync(fd);
    const uid = process.getuid?.();
    if (!st.isFile() || (uid !== undefined && st.uid !== uid)) {
      throw new MmstatsError('ERR_MMSTATS_UNSAFE_PATH', 'the shared file is not a regular file of this user', { path: file });
    }
    const head = Buffer.alloc(Header.SIZE);
    const deadline = Date.now() + READY_TIMEOUT_MS;
    for (;;) {
      const n = fs.readSync(fd, head, 0, Header.SIZE, 0);
      const made = n === Header.SIZE && head.subarray(0, 8).equals(Buffer.from(MAGIC));
      const state = made ? head.readUInt32LE(Header.STATE) : FileState.INITIALISING;
      if (state === FileState.READY) break;
      if (state === FileState.CLOSED) return { retry: 'the creator closed the shared file' };
      if (!native.isLockedByOther(fd)) return { retry: 'the shared file has no live creator' };
      if (Date.now() > deadline) {
        throw new MmstatsError('ERR_MMSTATS_INITIALISING', `the shared file was not ready after ${READY_TIMEOUT_MS} ms`, { path: file });
      }
      sleepSync(1);
    }
    const pid = head.readUInt32LE(Header.PID);
    const shared = (head.readUInt32LE(Header.FLAGS) & FileFlags.SHARED) !== 0;
    const token = head.readDoubleLE(Header.START_TOKEN);
    const ownerToken = processStartToken(ownerPid) ?? 0;
    if (!shared || pid !== ownerPid || (token !== 0 && ownerToken !== 0 && token !== ownerToken)) {
      throw new MmstatsError(
        'ERR_MMSTATS_IN_USE',
        `the file belongs to another writer (pid ${pid}${shared ? '' : ', not shared'}), not to the shared stats of pid ${ownerPid}`,
        { path: file },
      );
    }
    if (!native.isLockedByOther(fd)) return { retry: 'the shared file has no live creator' };
    if (st.size > Limits.MAX_FILE_SIZE) throw new MmstatsError('ERR_MMSTATS_MALFORMED', 'the shared file is too large', { path: file });
    return { storage: new AttacherStorage(file, fd, keep) };
  } catch (err) {
    fs.closeSync(fd);
    throw err;
  }
}

/** How to open a shared file. */
export interface SharedOpenOptions {
  readonly dir: string;
  /** File name template; `{TID}` expands to `shared`, `{PID}` to the owner's pid. */
  readonly template: string;
  readonly className: string;
  readonly format: FormatVersion;
  readonly mode: number;
  readonly keep: boolean;
  readonly scope: SharedScope;
}

/** Names in `dir` that fit the template for `ownerPid` with any {CMD}: a worker thread runs its own script, so its {CMD} may differ from the creator's. */
function candidates(opts: SharedOpenOptions, ownerPid: number, ownName: string): string[] {
  const marker = '\u0001';
  const pattern = expandTemplate(opts.template.replaceAll('{TID}', SHARED_TID).replaceAll('{CMD}', marker), {
    cmd: '',
    pid: ownerPid,
    tid: 0,
    className: opts.className,
  });
  const re = new RegExp(
    `^${pattern
      .split(marker)
      .map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
      .join('[A-Za-z0-9._-]+')}$`,
  );
  let names: string[] = [];
  try {
    names = fs.readdirSync(opts.dir).filter((n) => n !== ownName && re.test(n));
  } catch {
    // No directory yet: nothing to attach to.
  }
  return [ownName, ...names.sort()];
}

/**
 * Open the shared file of a model: attach to the one another thread of this
 * process created, or create it (this thread becomes the creator). With scope
 * `cluster`, the cluster primary creates and every worker process attaches; a
 * worker never creates (the primary must open the model before it forks).
 */
export function openSharedStorage(opts: SharedOpenOptions): SharedStorage {
  if (opts.format !== 2) {
    throw new MmstatsError('ERR_MMSTATS_UNSUPPORTED', 'shared stats need format 2 (format 1 has no atomic counters)');
  }
  const inClusterWorker = opts.scope === 'cluster' && cluster.isWorker;
  const ownerPid = inClusterWorker ? process.ppid : process.pid;
  const fileName = expandTemplate(opts.template.replaceAll('{TID}', SHARED_TID), {
    cmd: commandName(),
    pid: ownerPid,
    tid: 0,
    className: opts.className,
  });
  let why = 'no shared file found';
  for (let attempt = 0; attempt < 5; attempt++) {
    // Attach to a live shared file of the owner if there is one, whatever its {CMD}.
    for (const name of candidates(opts, ownerPid, fileName)) {
      const file = path.join(opts.dir, name);
      if (!fs.existsSync(file)) continue;
      try {
        const r = attach(file, ownerPid, opts.keep);
        if ('storage' in r) return r.storage;
        why = r.retry;
      } catch (err) {
        // Another writer's file that happens to fit the pattern is not ours: look on.
        if (name !== fileName && isMmstatsError(err, 'ERR_MMSTATS_IN_USE')) continue;
        throw err;
      }
    }
    if (inClusterWorker) {
      throw new MmstatsError(
        'ERR_MMSTATS_IO',
        `no live shared file of the cluster primary (pid ${ownerPid}): open the model with shared: 'cluster' in the primary before forking (${why})`,
        { path: path.join(opts.dir, fileName) },
      );
    }
    try {
      const storage = Storage.open({ dir: opts.dir, fileName, format: 2, mode: opts.mode, keep: opts.keep, shared: true });
      return new CreatorStorage(storage);
    } catch (err) {
      // Another thread created it meanwhile: attach on the next round.
      if (!isMmstatsError(err, 'ERR_MMSTATS_IN_USE')) throw err;
      why = (err as Error).message;
    }
  }
  throw new MmstatsError('ERR_MMSTATS_IN_USE', `cannot create or attach to the shared file: ${why}`, {
    path: path.join(opts.dir, fileName),
  });
}
