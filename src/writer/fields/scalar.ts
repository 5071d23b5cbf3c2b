/**
 * Scalar fields: numbers up to 8 bytes, booleans, counters and gauges.
 *
 * v2: each value is naturally aligned, so an update is one typed-array store that
 * can never tear. v1: the original's double buffering through a DataView.
 *
 * Out-of-range rule (documented in docs/FORMAT.md): integers wrap modulo 2^bits
 * like C; non-integers are truncated toward zero; NaN and ±Infinity store 0 in an
 * integer field. Float fields store any double (float32 rounds to nearest).
 */
import { V1_UNBUFFERED } from '../../format/v1.js';
import { DataType, Kind } from '../../format/v2.js';
import { Field, FieldSpec, type FieldOptions, type Placement, type V1Layout, type V2Layout } from '../field.js';

type IntArray = Int8Array | Uint8Array | Int16Array | Uint16Array | Int32Array | Uint32Array | Float32Array | Float64Array;
type IntArrayCtor = new (buffer: ArrayBuffer, offset: number, length: number) => IntArray;

/** The simple numeric types a NumberField can hold. */
export type NumberType = 'int8' | 'uint8' | 'int16' | 'uint16' | 'int32' | 'uint32' | 'float32' | 'float64';

interface NumberTypeInfo {
  readonly dataType: number;
  readonly size: number;
  readonly ctor: IntArrayCtor;
  readonly v1: string;
  readonly v1Buffered: boolean;
  readonly set: (dv: DataView, offset: number, value: number) => void;
}

const NUMBER_TYPES: Record<NumberType, NumberTypeInfo> = {
  int8: { dataType: DataType.INT8, size: 1, ctor: Int8Array, v1: 'b', v1Buffered: false, set: (d, o, v) => d.setInt8(o, v) },
  uint8: { dataType: DataType.UINT8, size: 1, ctor: Uint8Array, v1: 'B', v1Buffered: false, set: (d, o, v) => d.setUint8(o, v) },
  int16: { dataType: DataType.INT16, size: 2, ctor: Int16Array, v1: 'h', v1Buffered: true, set: (d, o, v) => d.setInt16(o, v, true) },
  uint16: { dataType: DataType.UINT16, size: 2, ctor: Uint16Array, v1: 'H', v1Buffered: true, set: (d, o, v) => d.setUint16(o, v, true) },
  int32: { dataType: DataType.INT32, size: 4, ctor: Int32Array, v1: 'i', v1Buffered: true, set: (d, o, v) => d.setInt32(o, v, true) },
  uint32: { dataType: DataType.UINT32, size: 4, ctor: Uint32Array, v1: 'I', v1Buffered: true, set: (d, o, v) => d.setUint32(o, v, true) },
  float32: {
    dataType: DataType.FLOAT32,
    size: 4,
    ctor: Float32Array,
    v1: 'f',
    v1Buffered: true,
    set: (d, o, v) => d.setFloat32(o, v, true),
  },
  float64: {
    dataType: DataType.FLOAT64,
    size: 8,
    ctor: Float64Array,
    v1: 'd',
    v1Buffered: true,
    set: (d, o, v) => d.setFloat64(o, v, true),
  },
};

/** A settable number. */
export interface NumberField extends Field {
  /** Store `value` (integers wrap like C; see the module comment). */
  set(value: number): void;
  /** The value last stored. */
  value: number;
}

/** A counter: counts up exactly to 2^53. */
export interface CounterField extends Field {
  /** Add `n` (default 1). */
  incr(n?: number): void;
  /** Set the count back to 0. */
  reset(): void;
  /** The current count; settable. */
  value: number;
}

/** A gauge: a value that goes up and down. */
export interface GaugeField extends Field {
  set(value: number): void;
  incr(n?: number): void;
  decr(n?: number): void;
  value: number;
}

/** A boolean flag. */
export interface BoolField extends Field {
  set(value: boolean): void;
  value: boolean;
}

/**
 * v2 number fields: one class per typed-array type, so each update site stays
 * monomorphic (one shape of `this.v`) and compiles to a single store. They carry no
 * closed check: `markClosed` shadows every method with one that throws.
 */
function v2NumberClass(ctor: IntArrayCtor) {
  return class V2Number extends Field implements NumberField, CounterField, GaugeField {
    declare v: IntArray;
    constructor(label: string, at: Placement) {
      super(label);
      this.bind(at);
    }
    bind(at: Placement): void {
      this.v = new ctor(at.buffer, at.offset, 1);
    }
    set(value: number): void {
      this.v[0] = value;
    }
    incr(n = 1): void {
      this.v[0] += n;
    }
    decr(n = 1): void {
      this.v[0] -= n;
    }
    reset(): void {
      this.set(0);
    }
    get value(): number {
      return this.v[0]!;
    }
    set value(value: number) {
      this.set(value);
    }
  };
}

const V2_CLASSES = new Map<IntArrayCtor, ReturnType<typeof v2NumberClass>>();
function v2Class(ctor: IntArrayCtor) {
  let cls = V2_CLASSES.get(ctor);
  if (!cls) V2_CLASSES.set(ctor, (cls = v2NumberClass(ctor)));
  return cls;
}

/** @internal v1 number fields: the original's layout, buffered or not, written through a DataView. */
export class V1Number extends Field implements NumberField, CounterField, GaugeField {
  declare dv: DataView;
  declare at: Placement;
  wb = 0;
  shadow = 0;
  /** Whether the file double-buffers this field (its write-buffer byte is not 0xFF). */
  buffered = false;
  /** Normalises a value to the field's type without allocating. */
  readonly scratch: IntArray;
  constructor(
    label: string,
    at: Placement,
    private readonly info: NumberTypeInfo,
  ) {
    super(label);
    this.scratch = new info.ctor(new ArrayBuffer(8), 0, 1);
    this.bind(at);
    this.shadow = this.read();
  }
  bind(at: Placement): void {
    this.at = at;
    this.dv = new DataView(at.buffer);
    const wb = this.dv.getUint8(at.writeBufferOffset);
    this.buffered = wb !== V1_UNBUFFERED;
    this.wb = wb & 1;
  }
  private read(): number {
    const off = this.at.offset + (this.buffered ? (this.wb ^ 1) * this.at.copySize : 0);
    return new this.info.ctor(this.at.buffer.slice(off, off + this.info.size), 0, 1)[0]!;
  }
  set(value: number): void {
    if (this.closed) this.useAfterClose();
    this.scratch[0] = value;
    this.setHeld();
  }
  /**
   * Store the value left in `scratch[0]`. A caller deep in a record path (the v1
   * timer) passes its value this way: V8 boxes a double passed to a call it does not
   * inline, and that path is past V8's inlining budget.
   */
  setHeld(): void {
    // Normalised through the typed array, so the shadow holds what the file holds.
    this.shadow = this.scratch[0]!;
    if (!this.buffered) {
      this.info.set(this.dv, this.at.offset, this.shadow);
      return;
    }
    // Write the copy being written, then flip: readers read copy (writeBuffer ^ 1).
    this.info.set(this.dv, this.at.offset + this.wb * this.at.copySize, this.shadow);
    this.dv.setUint8(this.at.writeBufferOffset, this.wb ^ 1);
    this.wb ^= 1;
  }
  incr(n = 1): void {
    this.set(this.shadow + n);
  }
  decr(n = 1): void {
    this.set(this.shadow - n);
  }
  reset(): void {
    this.set(0);
  }
  get value(): number {
    if (this.closed) this.useAfterClose();
    return this.shadow;
  }
  set value(value: number) {
    this.set(value);
  }
}

/** v1 counter: the original's `Q` (uint64), double-buffered, written as two 32-bit halves. */
class V1Counter extends V1Number {
  constructor(label: string, at: Placement) {
    super(label, at, NUMBER_TYPES.float64);
    const off = at.offset + (this.wb ^ 1) * 8;
    this.shadow = this.dv.getUint32(off, true) + this.dv.getUint32(off + 4, true) * 2 ** 32;
  }
  override set(value: number): void {
    if (this.closed) this.useAfterClose();
    const v = Number.isFinite(value) ? Math.trunc(value) : 0;
    const r = v % 2 ** 64;
    const wrapped = r < 0 ? r + 2 ** 64 : r;
    this.shadow = wrapped;
    const off = this.at.offset + this.wb * 8;
    this.dv.setUint32(off, wrapped % 2 ** 32, true);
    this.dv.setUint32(off + 4, Math.floor(wrapped / 2 ** 32), true);
    this.dv.setUint8(this.at.writeBufferOffset, this.wb ^ 1);
    this.wb ^= 1;
  }
}

/** A simple number of the given type. */
export class NumberSpec extends FieldSpec<NumberField> {
  readonly typeName: string;
  constructor(
    readonly type: NumberType,
    options: FieldOptions & { kind?: 'gauge' | 'counter' | 'untyped' } = {},
  ) {
    super(options);
    this.typeName = type;
  }
  v2(): V2Layout {
    const info = NUMBER_TYPES[this.type];
    const kind = (this.options as { kind?: string }).kind;
    return {
      dataType: info.dataType,
      kind: kind === 'counter' ? Kind.COUNTER : kind === 'untyped' ? Kind.UNTYPED : Kind.GAUGE,
      flags: 0,
      param: 0,
      valueSize: info.size,
      align: info.size,
      parts: [],
      bounds: new Float64Array(0),
    };
  }
  v1(): V1Layout {
    const info = NUMBER_TYPES[this.type];
    return { type: info.v1, buffered: info.v1Buffered };
  }
  create(label: string, at: Placement): NumberField {
    const info = NUMBER_TYPES[this.type];
    if (at.format === 2) return new (v2Class(info.ctor))(label, at);
    return new V1Number(label, at, info);
  }
}

/** A counter: float64 in v2 (exact to 2^53), the original's uint64 `Q` in v1. */
export class CounterSpec extends FieldSpec<CounterField> {
  readonly typeName = 'counter';
  v2(): V2Layout {
    return { ...new NumberSpec('float64').v2(), kind: Kind.COUNTER };
  }
  v1(): V1Layout {
    return { type: 'Q', buffered: true };
  }
  create(label: string, at: Placement): CounterField {
    return at.format === 2 ? new (v2Class(Float64Array))(label, at) : new V1Counter(label, at);
  }
}

/** @internal A v1 gauge (`d`), for the fields that publish a v1 value through `setHeld`. */
export function v1Gauge(label: string, at: Placement): V1Number {
  return new V1Number(label, at, NUMBER_TYPES.float64);
}

/** A gauge: float64 in both formats. */
export class GaugeSpec extends FieldSpec<GaugeField> {
  readonly typeName = 'gauge';
  v2(): V2Layout {
    return new NumberSpec('float64').v2();
  }
  v1(): V1Layout {
    return { type: 'd', buffered: true };
  }
  create(label: string, at: Placement): GaugeField {
    return at.format === 2 ? new (v2Class(Float64Array))(label, at) : v1Gauge(label, at);
  }
}

class V2Bool extends Field implements BoolField {
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
    this.v[0] = value ? 1 : 0;
  }
  get value(): boolean {
    if (this.closed) this.useAfterClose();
    return this.v[0] !== 0;
  }
  set value(value: boolean) {
    this.set(value);
  }
}

/** A boolean: one byte, 0 or 1 (v1: the original's unbuffered `?`). */
export class BoolSpec extends FieldSpec<BoolField> {
  readonly typeName = 'bool';
  v2(): V2Layout {
    return {
      dataType: DataType.BOOL,
      kind: Kind.GAUGE,
      flags: 0,
      param: 0,
      valueSize: 1,
      align: 1,
      parts: [],
      bounds: new Float64Array(0),
    };
  }
  v1(): V1Layout {
    return { type: '?', buffered: false };
  }
  create(label: string, at: Placement): BoolField {
    // The v1 `?` byte and the v2 bool byte are the same single unbuffered byte.
    return new V2Bool(label, at);
  }
}
