/**
 * Format v2: the one place that knows the bytes of an mmstats v2 file.
 *
 * The writer and the reader both import these offsets and codecs and never
 * compute an offset of their own. docs/FORMAT.md is the prose form of this
 * module; keep the two in step.
 *
 * ```
 *  File (all integers little-endian in practice: the writer's native order,
 *  announced by the byte-order mark; every value aligned to its own size)
 *
 *  0                                                   HEADER_SIZE (128)
 *  +---------------------------------------------------+------------------------------+
 *  | header                                            | heap: records and values,    |
 *  |  magic "MMSTATS\0", version, BOM, state, writer   | bump-allocated, 8-aligned,   |
 *  |  identity, generation, field count, first record, | up to usedSize               |
 *  |  usedSize                                         |                              |
 *  +---------------------------------------------------+------------------------------+
 *
 *  Record (metadata, immutable once published)      Value block (mutable)
 *  +0  u32 recordSize                               scalar: the value, naturally aligned
 *  +4  u32 next record offset (0 = none yet)        seqlocked (string, struct, histogram):
 *  +8  u16 dataType   +10 u16 kind                    +0 u32 sequence (odd while writing)
 *  +12 u16 flags      +14 u16 partCount               +4 u32 string byte length / 0
 *  +16 u32 valueOffset +20 u32 valueSize              +8 payload
 *  +24 u32 param  
 *  +28 u16 labelLen +30 u16 unitLen +32 u16 helpLen +34 u16 extraLen
 *  +36 u32 reserved
 *  +40 parts: partCount x { u16 dataType, u16 nameLen, u32 offset in value }
 *  then extra (extraLen bytes, 8-aligned), label, unit, help, part names (UTF-8)
 * ```
 */

/** The 8 magic bytes that open every v2 file: "MMSTATS" and a NUL. */
export const MAGIC = new Uint8Array([0x4d, 0x4d, 0x53, 0x54, 0x41, 0x54, 0x53, 0x00]);
/** Major version written by this library; a reader refuses a greater one. */
export const VERSION_MAJOR = 2;
/** Minor version: 1 since families (format 2.1); a 2.0 reader shows a family as one field of an unknown type. */
export const VERSION_MINOR = 1;
/** Written as a native u32: reads back as BOM in the writer's byte order. */
export const BYTE_ORDER_MARK = 0x01020304;
export const BYTE_ORDER_MARK_SWAPPED = 0x04030201;

/** Header field offsets (bytes from the start of the file). */
export const Header = {
  MAGIC: 0, // u8[8]
  VERSION_MAJOR: 8, // u16
  VERSION_MINOR: 10, // u16
  BYTE_ORDER: 12, // u32
  HEADER_SIZE: 16, // u32
  STATE: 20, // u32, atomic
  PID: 24, // u32
  OS_TID: 28, // u32
  THREAD_ID: 32, // u32, worker_threads.threadId (0 = main thread)
  FLAGS: 36, // u32
  START_TOKEN: 40, // f64, opaque per-process start token (see liveness)
  CREATED_MS: 48, // f64, Unix time in ms
  GENERATION: 56, // u32, atomic: +1 each time fields are published
  FIELD_COUNT: 60, // u32, atomic: number of published records
  FIRST_RECORD: 64, // u32
  USED_SIZE: 68, // u32, atomic: end of the heap
  SIZE: 128,
} as const;

/** Header STATE values. Written last with an atomic store: a reader that sees
 * INITIALISING knows the file is being made, not broken. */
export const FileState = { INITIALISING: 0, READY: 1, CLOSED: 2 } as const;

/** Header FLAGS bits. */
export const FileFlags = { SHARED: 1, PERSISTENT: 2 } as const;

/** Record field offsets (bytes from the start of a record). */
export const Record = {
  SIZE: 0, // u32
  NEXT: 4, // u32
  DATA_TYPE: 8, // u16
  KIND: 10, // u16
  FLAGS: 12, // u16
  PART_COUNT: 14, // u16
  VALUE_OFFSET: 16, // u32
  VALUE_SIZE: 20, // u32
  PARAM: 24, // u32
  LABEL_LEN: 28, // u16
  UNIT_LEN: 30, // u16
  HELP_LEN: 32, // u16
  EXTRA_LEN: 34, // u16
  PARTS: 40,
  PART_SIZE: 8,
} as const;

/** Record FLAGS bits. */
export const RecordFlags = {
  /** The value block starts with a u32 sequence counter (seqlock). */
  SEQLOCK: 1,
  /** Written once at open, never again. */
  STATIC: 2,
} as const;

/** Byte offsets inside a seqlocked value block. */
export const Seqlocked = { SEQUENCE: 0, LENGTH: 4, PAYLOAD: 8 } as const;

/** Data types: how the value bytes are laid out. A reader skips codes it does not know. */
export const DataType = {
  INT8: 1,
  UINT8: 2,
  INT16: 3,
  UINT16: 4,
  INT32: 5,
  UINT32: 6,
  INT64: 7,
  UINT64: 8,
  FLOAT32: 9,
  FLOAT64: 10,
  BOOL: 11,
  /** Seqlocked: u32 sequence, u32 byte length, then `param` bytes of UTF-8. */
  STRING: 12,
  /** Seqlocked: u32 sequence, u32 zero, then parts (each 8 bytes) at their offsets. */
  STRUCT: 13,
  /** Seqlocked: u32 sequence, u32 zero, then the HistogramSlot f64 scalars, then `param` f64 bucket counts.
   * extra holds `param` f64 upper bucket bounds, ascending, the last being +Infinity.
   * Bucket i counts the values v with bound[i-1] < v <= bound[i] (Prometheus's `le`).
   * The record's parts, if any, name extra f64 values stored after the buckets in the
   * same seqlocked block (a timer's `moving_mean`); a reader may ignore them. */
  HISTOGRAM: 14,
  /** Format 2.1: a labelled family. extra describes its children (src/format/family.ts), the value
   * block is its directory of slot chunks. A 2.0 reader shows it as one field of an unknown type. */
  FAMILY: 15,
} as const;
export type DataTypeCode = (typeof DataType)[keyof typeof DataType];

/** The f64 slots of a histogram payload: five scalars (count, sum, min, max, last), then the bucket counts from `BUCKETS` on. */
export const enum HistogramSlot {
  COUNT = 0,
  SUM = 1,
  MIN = 2,
  MAX = 3,
  LAST = 4,
  BUCKETS = 5,
}

/** Names of data types, for readers and tools. */
export const DATA_TYPE_NAMES: Readonly<Record<number, string>> = {
  1: 'int8',
  2: 'uint8',
  3: 'int16',
  4: 'uint16',
  5: 'int32',
  6: 'uint32',
  7: 'int64',
  8: 'uint64',
  9: 'float32',
  10: 'float64',
  11: 'bool',
  12: 'string',
  13: 'struct',
  14: 'histogram',
  15: 'family',
};

/** Size in bytes of each scalar data type (also its alignment). */
export const SCALAR_SIZE: Readonly<Record<number, number>> = {
  1: 1,
  2: 1,
  3: 2,
  4: 2,
  5: 4,
  6: 4,
  7: 8,
  8: 8,
  9: 4,
  10: 8,
  11: 1,
};

/** Metric kinds: what a value means. A reader shows unknown kinds as untyped. */
export const Kind = {
  UNTYPED: 0,
  GAUGE: 1,
  COUNTER: 2,
  INFO: 3,
  HISTOGRAM: 4,
  TIMER: 5,
  AVERAGE: 6,
  COMPOUND: 7,
} as const;
export type KindCode = (typeof Kind)[keyof typeof Kind];

export const KIND_NAMES: Readonly<Record<number, string>> = {
  0: 'untyped',
  1: 'gauge',
  2: 'counter',
  3: 'info',
  4: 'histogram',
  5: 'timer',
  6: 'average',
  7: 'compound',
};

/** Limits a reader enforces and a writer respects. */
export const Limits = {
  MAX_LABEL_BYTES: 1024,
  MAX_TEXT_BYTES: 4096,
  MAX_PARTS: 4096,
  MAX_FIELDS: 1_000_000,
  /** A v2 file is never larger than this (offsets are u32). */
  MAX_FILE_SIZE: 0xffff_fff8,
} as const;

/** Round `n` up to a multiple of `a` (a power of two). */
export function align(n: number, a: number): number {
  return (n + a - 1) & ~(a - 1);
}

/** One part of a struct value. */
export interface PartMeta {
  readonly name: string;
  readonly dataType: DataTypeCode;
  /** Byte offset inside the value block. */
  readonly offset: number;
}

/** Everything a record says about a field, decoded. */
export interface FieldMeta {
  readonly label: string;
  readonly dataType: number;
  readonly kind: number;
  readonly flags: number;
  readonly valueOffset: number;
  readonly valueSize: number;
  readonly param: number;
  readonly unit: string;
  readonly help: string;
  readonly parts: readonly PartMeta[];
  /** Histogram upper bucket bounds; empty for other types. */
  readonly bounds: Float64Array;
  /** The raw extra bytes of a record that does not hold bounds (a family's description). */
  readonly extra?: Uint8Array;
}

/** The extra bytes of a record: its own, or its bounds. */
function extraOf(meta: Pick<FieldMeta, 'bounds' | 'extra'>): Uint8Array {
  return meta.extra ?? new Uint8Array(meta.bounds.buffer, meta.bounds.byteOffset, meta.bounds.byteLength);
}

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

/** Byte size of a record describing `meta` (without writing it). */
export function recordSize(meta: Omit<FieldMeta, 'valueOffset' | 'flags'>): number {
  let n = Record.PARTS + meta.parts.length * Record.PART_SIZE + extraOf(meta).byteLength;
  n += utf8.encode(meta.label).length + utf8.encode(meta.unit).length + utf8.encode(meta.help).length;
  for (const p of meta.parts) n += utf8.encode(p.name).length;
  return align(n, 8);
}

/**
 * Encode a record into `bytes` at `offset` (little or native order through DataView's
 * littleEndian flag, which must match the header's byte-order mark). `next` is left 0:
 * the writer links the record when it publishes it.
 */
export function encodeRecord(bytes: Uint8Array, offset: number, meta: FieldMeta, littleEndian: boolean): number {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const label = utf8.encode(meta.label);
  const unit = utf8.encode(meta.unit);
  const help = utf8.encode(meta.help);
  const partNames = meta.parts.map((p) => utf8.encode(p.name));
  const extra = extraOf(meta);
  if (label.length > Limits.MAX_LABEL_BYTES) throw new RangeError(`label longer than ${Limits.MAX_LABEL_BYTES} bytes`);
  if (extra.length > 0xffff) throw new RangeError(`record extra of ${extra.length} bytes is longer than 65535`);
  if (unit.length > Limits.MAX_TEXT_BYTES || help.length > Limits.MAX_TEXT_BYTES) {
    throw new RangeError(`unit or help longer than ${Limits.MAX_TEXT_BYTES} bytes`);
  }
  const size = recordSize(meta);
  dv.setUint32(offset + Record.SIZE, size, littleEndian);
  dv.setUint32(offset + Record.NEXT, 0, littleEndian);
  dv.setUint16(offset + Record.DATA_TYPE, meta.dataType, littleEndian);
  dv.setUint16(offset + Record.KIND, meta.kind, littleEndian);
  dv.setUint16(offset + Record.FLAGS, meta.flags, littleEndian);
  dv.setUint16(offset + Record.PART_COUNT, meta.parts.length, littleEndian);
  dv.setUint32(offset + Record.VALUE_OFFSET, meta.valueOffset, littleEndian);
  dv.setUint32(offset + Record.VALUE_SIZE, meta.valueSize, littleEndian);
  dv.setUint32(offset + Record.PARAM, meta.param, littleEndian);
  dv.setUint16(offset + Record.LABEL_LEN, label.length, littleEndian);
  dv.setUint16(offset + Record.UNIT_LEN, unit.length, littleEndian);
  dv.setUint16(offset + Record.HELP_LEN, help.length, littleEndian);
  dv.setUint16(offset + Record.EXTRA_LEN, extra.length, littleEndian);
  let p = offset + Record.PARTS;
  meta.parts.forEach((part, i) => {
    dv.setUint16(p, part.dataType, littleEndian);
    dv.setUint16(p + 2, partNames[i]!.length, littleEndian);
    dv.setUint32(p + 4, part.offset, littleEndian);
    p += Record.PART_SIZE;
  });
  for (const chunk of [extra, label, unit, help, ...partNames]) {
    bytes.set(chunk, p);
    p += chunk.length;
  }
  return size;
}

/** Why a record or header could not be decoded; the reader turns it into a typed error. */
export class FormatViolation extends Error {
  override name = 'FormatViolation';
}

function text(bytes: Uint8Array, start: number, len: number, what: string): string {
  if (len === 0) return ''; // most units and helps: no view, no decoder call
  try {
    return utf8Decoder.decode(bytes.subarray(start, start + len));
  } catch {
    throw new FormatViolation(`${what} at offset ${start} is not valid UTF-8`);
  }
}

/** The bounds of every record without any (length 0: nothing can be written into it). */
const NO_BOUNDS = new Float64Array(0);

/** One DataView per byte array: a file's records are decoded one after another over the same bytes. */
let lastBytes: Uint8Array | undefined;
let lastView: DataView | undefined;
function viewOf(bytes: Uint8Array): DataView {
  if (bytes !== lastBytes || lastView === undefined) {
    lastView = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    lastBytes = bytes;
  }
  return lastView;
}

/**
 * Decode the record at `offset`, checking every offset and length against `limit`
 * (the bytes of the file that may be read). Throws FormatViolation on any breach.
 */
export function decodeRecord(bytes: Uint8Array, offset: number, limit: number, littleEndian: boolean): FieldMeta {
  if (offset % 8 !== 0 || offset < Header.SIZE || offset + Record.PARTS > limit) {
    throw new FormatViolation(`record offset ${offset} is out of bounds (file holds ${limit} bytes)`);
  }
  const dv = viewOf(bytes);
  const size = dv.getUint32(offset + Record.SIZE, littleEndian);
  if (size < Record.PARTS || offset + size > limit) {
    throw new FormatViolation(`record at ${offset} claims ${size} bytes, past the end of the file`);
  }
  const partCount = dv.getUint16(offset + Record.PART_COUNT, littleEndian);
  const labelLen = dv.getUint16(offset + Record.LABEL_LEN, littleEndian);
  const unitLen = dv.getUint16(offset + Record.UNIT_LEN, littleEndian);
  const helpLen = dv.getUint16(offset + Record.HELP_LEN, littleEndian);
  const extraLen = dv.getUint16(offset + Record.EXTRA_LEN, littleEndian);
  const partsEnd = offset + Record.PARTS + partCount * Record.PART_SIZE;
  let namesLen = 0;
  if (partsEnd > offset + size) throw new FormatViolation(`record at ${offset}: ${partCount} parts overflow the record`);
  for (let i = 0; i < partCount; i++) namesLen += dv.getUint16(offset + Record.PARTS + i * Record.PART_SIZE + 2, littleEndian);
  if (partsEnd + extraLen + labelLen + unitLen + helpLen + namesLen > offset + size) {
    throw new FormatViolation(`record at ${offset}: its strings overflow the record`);
  }
  if (labelLen === 0) throw new FormatViolation(`record at ${offset} has an empty label`);
  const valueOffset = dv.getUint32(offset + Record.VALUE_OFFSET, littleEndian);
  const valueSize = dv.getUint32(offset + Record.VALUE_SIZE, littleEndian);
  if (valueOffset < Header.SIZE || valueOffset + valueSize > limit) {
    throw new FormatViolation(`record at ${offset}: value [${valueOffset}, +${valueSize}) is out of bounds`);
  }
  let p = partsEnd;
  if (extraLen % 8 !== 0) throw new FormatViolation(`record at ${offset}: extra length ${extraLen} is not a multiple of 8`);
  const dataType = dv.getUint16(offset + Record.DATA_TYPE, littleEndian);
  // A family's extra is its description, decoded by format/family.ts; any other record's is f64 bounds.
  const extra = dataType === DataType.FAMILY ? bytes.slice(p, p + extraLen) : undefined;
  const bounds = extraLen === 0 || extra ? NO_BOUNDS : new Float64Array(extraLen / 8);
  for (let i = 0; i < bounds.length; i++) bounds[i] = dv.getFloat64(p + i * 8, littleEndian);
  p += extraLen;
  const label = text(bytes, p, labelLen, 'label');
  p += labelLen;
  const unit = text(bytes, p, unitLen, 'unit');
  p += unitLen;
  const help = text(bytes, p, helpLen, 'help');
  p += helpLen;
  const parts: PartMeta[] = [];
  for (let i = 0; i < partCount; i++) {
    const at = offset + Record.PARTS + i * Record.PART_SIZE;
    const nameLen = dv.getUint16(at + 2, littleEndian);
    const partOffset = dv.getUint32(at + 4, littleEndian);
    if (partOffset + 8 > valueSize) throw new FormatViolation(`record at ${offset}: part ${i} lies outside its value`);
    parts.push({
      dataType: dv.getUint16(at, littleEndian) as DataTypeCode,
      name: text(bytes, p, nameLen, 'part name'),
      offset: partOffset,
    });
    p += nameLen;
  }
  return {
    label,
    dataType,
    kind: dv.getUint16(offset + Record.KIND, littleEndian),
    flags: dv.getUint16(offset + Record.FLAGS, littleEndian),
    valueOffset,
    valueSize,
    param: dv.getUint32(offset + Record.PARAM, littleEndian),
    unit,
    help,
    parts,
    bounds,
    extra,
  };
}

/**
 * True when the record `meta` describes a seqlocked value whose sequence in `bytes`
 * is odd: its writer stopped inside a write (it was killed there), so the payload
 * may hold part of one value and part of another. No writer wrote that state; a
 * writer that takes over the file must not publish it again (see `Storage`).
 */
export function isTornValue(bytes: Uint8Array, meta: FieldMeta, littleEndian: boolean): boolean {
  if ((meta.flags & RecordFlags.SEQLOCK) === 0) return false;
  const at = meta.valueOffset + Seqlocked.SEQUENCE;
  if (at + 4 > bytes.length) return true;
  return (viewOf(bytes).getUint32(at, littleEndian) & 1) !== 0;
}

/** Value block size for a string field of `capacity` bytes. */
export function stringValueSize(capacity: number): number {
  return align(Seqlocked.PAYLOAD + capacity, 8);
}

/** Value block size for a histogram of `buckets` buckets. */
export function histogramValueSize(buckets: number): number {
  return Seqlocked.PAYLOAD + (HistogramSlot.BUCKETS + buckets) * 8;
}

/** Value block size for a struct of `parts` 8-byte parts. */
export function structValueSize(parts: number): number {
  return Seqlocked.PAYLOAD + parts * 8;
}
