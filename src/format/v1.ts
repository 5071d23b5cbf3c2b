/**
 * Format v1: the original mmstats layout, read and written byte for byte.
 *
 * ```
 *  0      1
 *  +------+-------------------------------------------------------------+
 *  | 0x01 | field, field, ... (back to back, no padding) | zero fill     |
 *  +------+-------------------------------------------------------------+
 *
 *  field = u16 labelLen | label | u16 typeLen | type (struct format, ASCII)
 *          | u8 writeBuffer (0xFF unbuffered, else 0 or 1)
 *          | value (unbuffered) or value value (buffered: two copies)
 * ```
 *
 * Integers are in the writer's native byte order (little-endian on every
 * platform this library runs on). The list ends at a label length of 0.
 * A reader of a buffered field reads copy `writeBuffer ^ 1`.
 */

export const V1_VERSION = 0x01;
export const V1_UNBUFFERED = 0xff;
/** A reader refuses a v1 file with more fields than this (the v2 limit too). */
export const V1_MAX_FIELDS = 1_000_000;

/** Sizes of the Python `struct` codes the original used (native size, no alignment). */
export const V1_CODE_SIZE: Readonly<Record<string, number>> = {
  b: 1,
  B: 1,
  '?': 1,
  h: 2,
  H: 2,
  i: 4,
  I: 4,
  l: 8,
  L: 8,
  q: 8,
  Q: 8,
  f: 4,
  d: 8,
};

/** A field as laid out in a v1 file. */
export interface V1FieldLayout {
  readonly label: string;
  /** The struct format, e.g. `Q`, `d`, `255s`. */
  readonly type: string;
  readonly buffered: boolean;
  /** Offset of the write-buffer byte. */
  readonly writeBufferOffset: number;
  /** Offset of the first value copy. */
  readonly valueOffset: number;
  /** Size of one value copy. */
  readonly valueSize: number;
  /** Offset just past this field. */
  readonly end: number;
}

/** Size of one value of a v1 struct format, or undefined if this library does not know it. */
export function v1ValueSize(type: string): number | undefined {
  const m = /^(\d*)s$/.exec(type);
  if (m) return m[1] === '' ? 1 : Number(m[1]);
  return V1_CODE_SIZE[type];
}

const utf8 = new TextEncoder();

/** Bytes a field takes in a v1 file. */
export function v1FieldSize(label: string, type: string, buffered: boolean): number {
  const size = v1ValueSize(type);
  if (size === undefined) throw new RangeError(`unknown v1 type ${JSON.stringify(type)}`);
  return 2 + utf8.encode(label).length + 2 + type.length + 1 + size * (buffered ? 2 : 1);
}

/** Write a field's layout (not its value) at `offset`; returns the layout. */
export function encodeV1Field(bytes: Uint8Array, offset: number, label: string, type: string, buffered: boolean): V1FieldLayout {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const labelBytes = utf8.encode(label);
  const valueSize = v1ValueSize(type);
  if (valueSize === undefined) throw new RangeError(`unknown v1 type ${JSON.stringify(type)}`);
  let p = offset;
  dv.setUint16(p, labelBytes.length, true);
  bytes.set(labelBytes, p + 2);
  p += 2 + labelBytes.length;
  dv.setUint16(p, type.length, true);
  for (let i = 0; i < type.length; i++) bytes[p + 2 + i] = type.charCodeAt(i);
  p += 2 + type.length;
  const writeBufferOffset = p;
  bytes[p] = buffered ? 0 : V1_UNBUFFERED;
  p += 1;
  const end = p + valueSize * (buffered ? 2 : 1);
  return { label, type, buffered, writeBufferOffset, valueOffset: p, valueSize, end };
}

/** Why a v1 file could not be walked. */
export class V1Violation extends Error {
  override name = 'V1Violation';
}

const latin1 = new TextDecoder('latin1');
const utf8Lenient = new TextDecoder('utf-8');

/**
 * Walk the fields of a v1 file held in `bytes[0, limit)`. Every length is checked
 * against `limit`; a field cut off by the end of the file is a violation.
 */
export function decodeV1Fields(bytes: Uint8Array, limit: number): V1FieldLayout[] {
  if (limit < 1 || bytes[0] !== V1_VERSION) throw new V1Violation('not a v1 file: byte 0 is not 0x01');
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const fields: V1FieldLayout[] = [];
  let p = 1;
  while (p + 2 <= limit) {
    const labelLen = dv.getUint16(p, true);
    if (labelLen === 0) break;
    // Fields can be 7 bytes: without a cap a large hostile file costs gigabytes and minutes.
    if (fields.length >= V1_MAX_FIELDS) throw new V1Violation(`more than ${V1_MAX_FIELDS} fields: not a real stats file`);
    if (p + 2 + labelLen + 2 > limit) throw new V1Violation(`field at ${p}: label runs past the end of the file`);
    const label = utf8Lenient.decode(bytes.subarray(p + 2, p + 2 + labelLen));
    let q = p + 2 + labelLen;
    const typeLen = dv.getUint16(q, true);
    if (typeLen === 0 || q + 2 + typeLen + 1 > limit) throw new V1Violation(`field ${label}: type runs past the end of the file`);
    const type = latin1.decode(bytes.subarray(q + 2, q + 2 + typeLen));
    q += 2 + typeLen;
    const valueSize = v1ValueSize(type);
    // An unknown type has no known size, so nothing after it can be located.
    if (valueSize === undefined) throw new V1Violation(`field ${label}: unknown type ${JSON.stringify(type)}`);
    const writeBuffer = bytes[q]!;
    const buffered = writeBuffer !== V1_UNBUFFERED;
    if (buffered && writeBuffer > 1) throw new V1Violation(`field ${label}: write buffer byte ${writeBuffer} is neither 0, 1 nor 0xFF`);
    const end = q + 1 + valueSize * (buffered ? 2 : 1);
    if (end > limit) throw new V1Violation(`field ${label}: value runs past the end of the file`);
    fields.push({ label, type, buffered, writeBufferOffset: q, valueOffset: q + 1, valueSize, end });
    p = end;
  }
  return fields;
}

/** Decode one value copy of a v1 field; strings are cut at the first NUL, invalid UTF-8 dropped. */
export function decodeV1Value(bytes: Uint8Array, type: string, offset: number): number | bigint | boolean | string {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (type) {
    case 'b':
      return dv.getInt8(offset);
    case 'B':
      return dv.getUint8(offset);
    case '?':
      return dv.getUint8(offset) !== 0;
    case 'h':
      return dv.getInt16(offset, true);
    case 'H':
      return dv.getUint16(offset, true);
    case 'i':
      return dv.getInt32(offset, true);
    case 'I':
      return dv.getUint32(offset, true);
    case 'l':
    case 'q':
      return narrow(dv.getBigInt64(offset, true));
    case 'L':
    case 'Q':
      return narrow(dv.getBigUint64(offset, true));
    case 'f':
      return dv.getFloat32(offset, true);
    case 'd':
      return dv.getFloat64(offset, true);
    default: {
      const size = v1ValueSize(type) ?? 0;
      const raw = bytes.subarray(offset, offset + size);
      const nul = raw.indexOf(0);
      return utf8Lenient.decode(nul < 0 ? raw : raw.subarray(0, nul)).replace(/\uFFFD/g, '');
    }
  }
}

/** A 64-bit integer as a number when exact, else as a bigint. */
export function narrow(v: bigint): number | bigint {
  return v >= -0x1fffffffffffffn && v <= 0x1fffffffffffffn ? Number(v) : v;
}
