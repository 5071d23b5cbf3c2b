/**
 * Values wider than what one JavaScript number store covers: 64-bit integers,
 * fixed-size strings and compound fields.
 *
 * A 64-bit integer is still one aligned 8-byte value that never tears: the fast
 * path stores only the low 32-bit word when the high word does not change (one
 * store, no allocation); otherwise it stores all 8 bytes at once through a
 * BigInt64Array. Strings and compounds are seqlocked (src/format/seqlock.ts).
 */
import { DataType, Kind, Seqlocked, RecordFlags, stringValueSize, structValueSize } from '../../format/v2.js';
import { V1_UNBUFFERED } from '../../format/v1.js';
import { addSeqlockWrites } from '../../format/seqlock.js';
import { Field, FieldSpec, type FieldOptions, type Placement, type V1Layout, type V2Layout } from '../field.js';

/** A 64-bit integer, exact for every value through bigint. */
export interface BigIntField extends Field {
  /** Store a number (exact up to 2^53; wraps like C) or a bigint (exact for every 64-bit value). */
  set(value: number | bigint): void;
  /** Add `n` (a number; use `set` with a bigint beyond 2^53). */
  incr(n?: number): void;
  /** The value as a bigint (exact). */
  readonly value: bigint;
  /** The value as a number (exact up to 2^53). */
  readonly number: number;
}

class Int64Field extends Field implements BigIntField {
  declare u32: Uint32Array;
  declare big: BigInt64Array | BigUint64Array;
  /** The high word as last written: when unchanged, a store of the low word is enough. */
  hi = 0;
  constructor(
    label: string,
    at: Placement,
    private readonly signed: boolean,
  ) {
    super(label);
    this.bind(at);
  }
  bind(at: Placement): void {
    this.u32 = new Uint32Array(at.buffer, at.offset, 2);
    this.big = this.signed ? new BigInt64Array(at.buffer, at.offset, 1) : new BigUint64Array(at.buffer, at.offset, 1);
    this.hi = this.u32[1]!;
  }
  set(value: number | bigint): void {
    if (this.closed) this.useAfterClose();
    if (typeof value === 'number' && Number.isSafeInteger(value)) {
      const hi = Math.floor(value / 4294967296);
      if (hi >>> 0 === this.hi) {
        this.u32[0] = value - hi * 4294967296;
        return;
      }
      this.hi = hi >>> 0;
    }
    const v = typeof value === 'bigint' ? value : BigInt(Number.isFinite(value) ? Math.trunc(value) : 0);
    this.big[0] = this.signed ? BigInt.asIntN(64, v) : BigInt.asUintN(64, v);
    this.hi = this.u32[1]!;
  }
  incr(n = 1): void {
    this.set(this.number + n);
  }
  get value(): bigint {
    if (this.closed) this.useAfterClose();
    return BigInt(this.big[0]!);
  }
  get number(): number {
    if (this.closed) this.useAfterClose();
    const lo = this.u32[0]!;
    const hi = this.u32[1]!;
    return this.signed ? (hi | 0) * 4294967296 + lo : hi * 4294967296 + lo;
  }
}

/** A signed or unsigned 64-bit integer (v1: the original's buffered `q` / `Q`). */
export class BigIntSpec extends FieldSpec<BigIntField> {
  readonly typeName: string;
  constructor(
    readonly signed: boolean,
    options: FieldOptions & { kind?: 'gauge' | 'counter' } = {},
  ) {
    super(options);
    this.typeName = signed ? 'int64' : 'uint64';
  }
  v2(): V2Layout {
    const kind = (this.options as { kind?: string }).kind === 'counter' ? Kind.COUNTER : Kind.GAUGE;
    const dataType = this.signed ? DataType.INT64 : DataType.UINT64;
    return { dataType, kind, flags: 0, param: 0, valueSize: 8, align: 8, parts: [], bounds: new Float64Array(0) };
  }
  v1(): V1Layout | undefined {
    // v1 double-buffers 8-byte integers through an unaligned DataView; see V1BigInt.
    return { type: this.signed ? 'q' : 'Q', buffered: true };
  }
  create(label: string, at: Placement): BigIntField {
    return at.format === 2 ? new Int64Field(label, at, this.signed) : new V1BigInt(label, at, this.signed);
  }
}

class V1BigInt extends Field implements BigIntField {
  declare dv: DataView;
  declare at: Placement;
  wb = 0;
  buffered = true;
  /** The value, while it is a safe integer (then `big` is null): kept as a number so a number update allocates nothing. */
  num = 0;
  /** The value, once it is not a safe integer. */
  big: bigint | null = null;
  constructor(
    label: string,
    at: Placement,
    private readonly signed: boolean,
  ) {
    super(label);
    this.bind(at);
    const off = at.offset + (this.buffered ? (this.wb ^ 1) * 8 : 0);
    this.keep(signed ? this.dv.getBigInt64(off, true) : this.dv.getBigUint64(off, true));
  }
  bind(at: Placement): void {
    this.at = at;
    this.dv = new DataView(at.buffer);
    const wb = this.dv.getUint8(at.writeBufferOffset);
    this.buffered = wb !== V1_UNBUFFERED;
    this.wb = wb & 1;
  }
  private keep(v: bigint): void {
    const n = Number(v);
    if (Number.isSafeInteger(n)) {
      this.num = n;
      this.big = null;
    } else this.big = v;
  }
  set(value: number | bigint): void {
    const off = this.at.offset + (this.buffered ? this.wb * 8 : 0);
    // A safe integer the type can hold is written as two 32-bit halves: no bigint is made.
    if (typeof value === 'number' && Number.isSafeInteger(value) && (this.signed || value >= 0)) {
      this.num = value;
      this.big = null;
      this.dv.setUint32(off, value >>> 0, true);
      this.dv.setUint32(off + 4, Math.floor(value / 4294967296) >>> 0, true);
      this.flip();
      return;
    }
    const v = typeof value === 'bigint' ? value : BigInt(Number.isFinite(value) ? Math.trunc(value) : 0);
    const wrapped = this.signed ? BigInt.asIntN(64, v) : BigInt.asUintN(64, v);
    this.keep(wrapped);
    if (this.signed) this.dv.setBigInt64(off, wrapped, true);
    else this.dv.setBigUint64(off, wrapped, true);
    this.flip();
  }
  /** Publish the buffer just written (the original's double buffering). */
  private flip(): void {
    if (!this.buffered) return;
    this.dv.setUint8(this.at.writeBufferOffset, this.wb ^ 1);
    this.wb ^= 1;
  }
  incr(n = 1): void {
    const sum = this.num + n;
    if (this.big === null && Number.isSafeInteger(sum)) this.set(sum);
    else this.set(this.value + BigInt(n));
  }
  get value(): bigint {
    return this.big ?? BigInt(this.num);
  }
  get number(): number {
    return this.big === null ? this.num : Number(this.big);
  }
}

/** A fixed-size UTF-8 string. */
export interface StringField extends Field {
  /** Store `value`, cut to the field's size on a character boundary. */
  set(value: string): void;
  value: string;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Encode `value` into `dest` as UTF-8 whole characters only; returns the bytes written. */
function encodeCut(value: string, dest: Uint8Array): number {
  // encodeInto never writes a partial character: a string longer than dest is cut on a boundary.
  return encoder.encodeInto(value, dest).written;
}

/** What a string field holds after `value` was encoded into `payload` as `n` bytes: the string itself when it fitted whole (no decode, no allocation). */
function stored(value: string, payload: Uint8Array, n: number): string {
  return n === Buffer.byteLength(value) ? value : decoder.decode(payload.slice(0, n));
}

function notAString(label: string, value: unknown): never {
  throw new TypeError(`field ${label} takes a string, not ${value === null ? 'null' : typeof value}`);
}

class V2String extends Field implements StringField {
  declare seq: Int32Array;
  declare len: Uint32Array;
  declare payload: Uint8Array;
  /** The writer's copy of the sequence: a write never reads the file. */
  s = 0;
  declare beginWrite: () => void;
  declare endWrite: () => void;
  shadow = '';
  /** Bytes from the start of the payload that may be non-zero: a shorter value clears only up to here. */
  dirty = 0;
  constructor(
    label: string,
    at: Placement,
    private readonly size: number,
  ) {
    super(label);
    this.bind(at);
    this.shadow = decoder.decode(this.payload.slice(0, Math.min(this.len[0]!, size)));
  }
  bind(at: Placement): void {
    this.seq = new Int32Array(at.buffer, at.offset + Seqlocked.SEQUENCE, 1);
    this.len = new Uint32Array(at.buffer, at.offset + Seqlocked.LENGTH, 1);
    this.payload = new Uint8Array(at.buffer, at.offset + Seqlocked.PAYLOAD, this.size);
    // Even out a sequence left odd by a writer that died mid-write.
    this.s = (Atomics.load(this.seq, 0) + 1) & ~1;
    Atomics.store(this.seq, 0, this.s);
    this.dirty = this.size; // whatever the file holds: the next write clears it all
  }
  /**
   * Store `value`: UTF-8, cut on a character boundary, the rest of the payload zero.
   * An ASCII value that fits is written a char code per byte, in place, without a
   * call into the encoder (which makes a result object per call); any other value
   * goes through the encoder.
   */
  set(value: string): void {
    if (this.closed) this.useAfterClose();
    // Checked before the sequence goes odd: a throw mid-write would leave it odd for good.
    if (typeof value !== 'string') notAString(this.label, value);
    const p = this.payload;
    const length = value.length;
    this.beginWrite();
    let n = 0;
    if (length <= p.length) {
      while (n < length) {
        const code = value.charCodeAt(n);
        if (code > 0x7f) break;
        p[n++] = code;
      }
    }
    const ascii = n === length;
    if (!ascii) n = encodeCut(value, p);
    for (let i = n; i < this.dirty; i++) p[i] = 0;
    this.dirty = n;
    this.len[0] = n;
    this.endWrite();
    this.shadow = ascii ? value : stored(value, p, n);
  }
  get value(): string {
    if (this.closed) this.useAfterClose();
    return this.shadow;
  }
  set value(value: string) {
    this.set(value);
  }
}
addSeqlockWrites(V2String);

class V1String extends Field implements StringField {
  declare payload: Uint8Array;
  shadow = '';
  constructor(
    label: string,
    at: Placement,
    private readonly size: number,
  ) {
    super(label);
    this.bind(at);
    // A kept file reopened: start from the stored value (NUL-padded, as the original).
    const nul = this.payload.indexOf(0);
    this.shadow = decoder.decode(this.payload.slice(0, nul < 0 ? this.size : nul));
  }
  bind(at: Placement): void {
    this.payload = new Uint8Array(at.buffer, at.offset, this.size);
  }
  set(value: string): void {
    if (this.closed) this.useAfterClose();
    if (typeof value !== 'string') notAString(this.label, value);
    const n = encodeCut(value, this.payload);
    this.payload.fill(0, n); // NUL-padded, as the original
    this.shadow = stored(value, this.payload, n);
  }
  get value(): string {
    if (this.closed) this.useAfterClose();
    return this.shadow;
  }
  set value(value: string) {
    this.set(value);
  }
}

/** A fixed-size UTF-8 string of `size` bytes (default 255, the original's). */
export class StringSpec extends FieldSpec<StringField> {
  readonly typeName = 'string';
  readonly size: number;
  constructor(options: FieldOptions & { size?: number } = {}) {
    super(options);
    this.size = options.size ?? 255;
    if (!Number.isInteger(this.size) || this.size < 1 || this.size > 65535) {
      throw new RangeError(`string size must be an integer from 1 to 65535, not ${this.size}`);
    }
  }
  v2(): V2Layout {
    return {
      dataType: DataType.STRING,
      kind: Kind.INFO,
      flags: RecordFlags.SEQLOCK,
      param: this.size,
      valueSize: stringValueSize(this.size),
      align: 8,
      parts: [],
      bounds: new Float64Array(0),
    };
  }
  v1(): V1Layout {
    return { type: `${this.size}s`, buffered: false };
  }
  create(label: string, at: Placement): StringField {
    return at.format === 2 ? new V2String(label, at, this.size) : new V1String(label, at, this.size);
  }
}

/** The schema of a compound field: part names, each a float64. */
export type CompoundSchema = readonly string[];

/** A field of several numbers that every reader sees together, never a mix of two updates. */
export interface CompoundField<P extends string> extends Field {
  /** Set the given parts (others keep their values) in one seqlocked write. */
  set(values: Partial<Record<P, number>>): void;
  /** Change the parts in place through `fn`, then publish them all in one write. */
  update(fn: (parts: Record<P, number>) => void): void;
  /** The parts as last written (the object is reused: copy it to keep it). */
  readonly value: Readonly<Record<P, number>>;
}

const copiers = new Map<string, (f64: Float64Array, current: Record<string, number>) => void>();

/**
 * A function that stores `current[name_i]` into `f64[i]` for a fixed schema. A loop
 * over names would do a keyed lookup per part (megamorphic, ~20x slower); the
 * generated body has one monomorphic property load per part. Names go in as JSON
 * string literals, so no name can inject code.
 */
function compileCopy<P extends string>(names: readonly P[]): (f64: Float64Array, current: Record<P, number>) => void {
  const key = JSON.stringify(names);
  let fn = copiers.get(key);
  if (!fn) {
    const body = names.map((n, i) => `f64[${i}] = c[${JSON.stringify(n)}];`).join('\n');
    fn = new Function('f64', 'c', body) as (f64: Float64Array, current: Record<string, number>) => void;
    copiers.set(key, fn);
  }
  return fn;
}

/** @internal The seqlocked struct every compound value (and timer, histogram) is built on. */
export class V2Struct<P extends string> extends Field implements CompoundField<P> {
  declare seq: Int32Array;
  declare f64: Float64Array;
  s = 0;
  declare beginWrite: () => void;
  declare endWrite: () => void;
  readonly current: Record<P, number>;
  /** Copies `current` into the file; compiled per schema so every part load is a fixed property. */
  private readonly copyParts: (f64: Float64Array, current: Record<P, number>) => void;
  constructor(
    label: string,
    at: Placement,
    readonly names: readonly P[],
  ) {
    super(label);
    this.copyParts = compileCopy(names);
    this.bind(at);
    this.current = {} as Record<P, number>;
    names.forEach((n, i) => (this.current[n] = this.f64[i]!));
  }
  bind(at: Placement): void {
    this.seq = new Int32Array(at.buffer, at.offset + Seqlocked.SEQUENCE, 1);
    this.f64 = new Float64Array(at.buffer, at.offset + Seqlocked.PAYLOAD, this.names.length);
    this.s = (Atomics.load(this.seq, 0) + 1) & ~1;
    Atomics.store(this.seq, 0, this.s);
  }
  /** Replaced per schema by `structClass` (named loads, so the caller's object literal can be optimised away). */
  set(values: Partial<Record<P, number>>): void {
    this.beginWrite();
    try {
      this.names.forEach((n, i) => {
        if (values[n] !== undefined) this.current[n] = this.f64[i] = values[n]!;
      });
    } finally {
      this.endWrite();
    }
  }
  update(fn: (parts: Record<P, number>) => void): void {
    fn(this.current);
    this.publish();
  }
  /** Write every part of `current` in one seqlocked write. */
  publish(): void {
    this.beginWrite();
    try {
      this.copyParts(this.f64, this.current);
    } finally {
      // Even when a part throws (a bigint from plain JavaScript): an odd sequence would stay odd for good.
      this.endWrite();
    }
  }
  get value(): Readonly<Record<P, number>> {
    return this.current;
  }
}
addSeqlockWrites(V2Struct);

type StructClass = new <P extends string>(label: string, at: Placement, names: readonly P[]) => V2Struct<P>;
const structClasses = new Map<string, StructClass>();

/**
 * The struct class of a schema, with a `set` compiled for it: each part is a named
 * load from the caller's object (`values["min"]`), so that where V8 inlines `set`,
 * the object literal of `set({ min, max })` is never made (escape analysis), where a
 * loop over the names would load by a computed key and keep it. Each given part goes
 * into the file, then is read back into `current` (so `current` holds what the file
 * holds, a number). Names go in as JSON string literals, so no name can inject code.
 */
function structClass(names: readonly string[]): StructClass {
  const key = JSON.stringify(names);
  let cls = structClasses.get(key);
  if (!cls) {
    const parts = names.map((n, i) => {
      const name = JSON.stringify(n);
      return `v = values[${name}]; if (v !== undefined) { f[${i}] = v; c[${name}] = f[${i}]; }`;
    });
    const set = new Function(
      `return function set(values) {\n  const c = this.current;\n  const f = this.f64;\n  let v;\n  this.beginWrite();\n  try {\n    ${parts.join('\n    ')}\n  } finally {\n    this.endWrite();\n  }\n}`,
    )() as V2Struct<string>['set'];
    cls = class extends V2Struct<string> {} as StructClass;
    Object.defineProperty(cls.prototype, 'set', { value: set, writable: true, configurable: true });
    structClasses.set(key, cls);
  }
  return cls;
}

/** A compound field of float64 parts (v2 only: v1 has no way to update several values together). */
export class CompoundSpec<P extends string> extends FieldSpec<CompoundField<P>> {
  readonly typeName = 'compound';
  constructor(
    readonly parts: readonly P[],
    options: FieldOptions & { kind?: number } = {},
  ) {
    super(options);
    if (parts.length === 0 || parts.length > 4096) throw new RangeError('a compound field needs 1 to 4096 parts');
    if (new Set(parts).size !== parts.length) throw new RangeError(`compound parts must be unique: ${parts.join(', ')}`);
  }
  v2(): V2Layout {
    return {
      dataType: DataType.STRUCT,
      kind: (this.options as { kind?: number }).kind ?? Kind.COMPOUND,
      flags: RecordFlags.SEQLOCK,
      param: 0,
      valueSize: structValueSize(this.parts.length),
      align: 8,
      parts: this.parts.map((name, i) => ({ name, dataType: DataType.FLOAT64, offset: Seqlocked.PAYLOAD + i * 8 })),
      bounds: new Float64Array(0),
    };
  }
  v1(): undefined {
    return undefined;
  }
  create(label: string, at: Placement): CompoundField<P> {
    return new (structClass(this.parts))(label, at, this.parts);
  }
}
