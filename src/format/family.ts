/**
 * Format 2.1: labelled families, the bytes of them. Like v2.ts, this is the one
 * place that knows these offsets; docs/FORMAT.md ("Families") is its prose form.
 *
 * A family is one ordinary record (dataType FAMILY, kind = its children's kind)
 * whose `extra` describes the children's layout and the label names, and whose
 * value block is the family's directory. Children live in slots, in chunks the
 * writer allocates from the heap when it needs more slots.
 *
 * ```
 *  Family record extra (8-aligned, little-endian)   Directory (the record's value block, 16 bytes)
 *  +0  u16 child dataType  +2 u16 child flags        +0  u32 first chunk offset (atomic; 0 = none yet)
 *  +4  u16 child partCount +6 u16 labelCount          +4  u32 live slots (live + overflow; informative)
 *  +8  u32 child param     +12 u32 child valueSize    +8  u32 slots allocated (informative)
 *  +16 u32 slotSize        +20 u32 slot valueOffset   +12 u32 reserved (0)
 *  +24 u32 label value capacity (bytes, per value)
 *  +28 u32 maxSeries       +32 u32 boundsCount       Chunk (8-aligned, from the heap; offsets grow along the chain)
 *  +36 u32 reserved (0)                               +0  u32 next chunk offset (atomic; 0 = last)
 *  +40 boundsCount x f64 (a histogram child's bounds) +4  u32 slot count
 *  then child parts: partCount x                      +8  u32 index of its first slot in the family
 *       { u16 dataType, u16 nameLen, u32 offset }     +12 u32 reserved (0)
 *  then labelCount x u16 label name length            +16 slot 0, slot 1, ... (slotSize bytes each)
 *  then part names, then label names (UTF-8)
 *  then zero padding to a multiple of 8              Slot (slotSize bytes, 8-aligned)
 *                                                      +0 u32 seq   (odd while the slot changes owner)
 *                                                      +4 u32 state (0 free, 1 live, 2 overflow)
 *                                                      +8 labelCount x u16 value byte length
 *                                                      then the values' UTF-8 bytes, one after another
 *                                                        (room: labelCount x capacity)
 *                                                      slot valueOffset (8-aligned): the child's value
 *                                                        block, in the child's own encoding
 * ```
 *
 * The slot protocol (who owns a slot's value) is in docs/FORMAT.md: the writer
 * changes a slot's owner only between an odd and the next even `seq`; a child's
 * value updates never touch `seq`.
 */
import { DataType, FormatViolation, align, type DataTypeCode, type PartMeta } from './v2.js';

/** Data type code of a family record (format 2.1). */
export const FAMILY_DATA_TYPE = DataType.FAMILY;

/** Offsets inside a family record's extra bytes. */
export const FamilyExtra = {
  CHILD_DATA_TYPE: 0, // u16
  CHILD_FLAGS: 2, // u16
  CHILD_PART_COUNT: 4, // u16
  LABEL_COUNT: 6, // u16
  CHILD_PARAM: 8, // u32
  CHILD_VALUE_SIZE: 12, // u32
  SLOT_SIZE: 16, // u32
  SLOT_VALUE_OFFSET: 20, // u32
  LABEL_CAPACITY: 24, // u32
  MAX_SERIES: 28, // u32
  BOUNDS_COUNT: 32, // u32
  BOUNDS: 40,
  PART_SIZE: 8,
} as const;

/** Offsets inside a family's directory (the family record's value block). */
export const Directory = { FIRST_CHUNK: 0, LIVE: 4, SLOTS: 8, SIZE: 16 } as const;

/** Offsets inside a chunk of slots. */
export const Chunk = { NEXT: 0, SLOT_COUNT: 4, FIRST_INDEX: 8, SLOTS: 16 } as const;

/** Offsets inside a slot. */
export const Slot = { SEQ: 0, STATE: 4, LENGTHS: 8 } as const;

/** A slot's state word. */
export const SlotState = { FREE: 0, LIVE: 1, OVERFLOW: 2 } as const;

/** Limits of families, enforced by the writer and checked by readers. */
export const FamilyLimits = {
  /** Label names per family. */
  MAX_LABELS: 16,
  /** Bytes of one label name. */
  MAX_LABEL_NAME_BYTES: 128,
  /** UTF-8 bytes of one label value. */
  MAX_LABEL_VALUE_BYTES: 128,
  /** Live children per family (the writer's maxSeries option). */
  MAX_SERIES: 1_000_000,
  /** A slot is never larger than this (a reader refuses a larger one). */
  MAX_SLOT_SIZE: 1 << 20,
  /** Slots in one chunk. */
  MAX_CHUNK_SLOTS: 256,
} as const;

/** The label set a reader gives the overflow child. */
export const OVERFLOW_LABEL = 'otel_metric_overflow';

/** Everything a family record says about its children, decoded. */
export interface FamilyMeta {
  readonly childDataType: number;
  readonly childFlags: number;
  readonly childParam: number;
  readonly childValueSize: number;
  readonly childParts: readonly PartMeta[];
  /** A histogram child's upper bucket bounds; empty otherwise. */
  readonly childBounds: Float64Array;
  readonly labelNames: readonly string[];
  readonly labelCapacity: number;
  readonly slotSize: number;
  readonly slotValueOffset: number;
  readonly maxSeries: number;
}

/** Where things go in a slot of a family with `labelCount` labels and values of `childValueSize` bytes. */
export function slotGeometry(
  labelCount: number,
  labelCapacity: number,
  childValueSize: number,
): { slotSize: number; slotValueOffset: number } {
  const slotValueOffset = align(Slot.LENGTHS + labelCount * 2 + labelCount * labelCapacity, 8);
  return { slotValueOffset, slotSize: slotValueOffset + align(Math.max(childValueSize, 1), 8) };
}

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

/** Encode a family's extra bytes (a multiple of 8 long). */
export function encodeFamilyExtra(m: FamilyMeta): Uint8Array {
  const partNames = m.childParts.map((p) => utf8.encode(p.name));
  const labelNames = m.labelNames.map((n) => utf8.encode(n));
  let size = FamilyExtra.BOUNDS + m.childBounds.byteLength + m.childParts.length * FamilyExtra.PART_SIZE + labelNames.length * 2;
  for (const b of [...partNames, ...labelNames]) size += b.length;
  const out = new Uint8Array(align(size, 8));
  const dv = new DataView(out.buffer);
  dv.setUint16(FamilyExtra.CHILD_DATA_TYPE, m.childDataType, true);
  dv.setUint16(FamilyExtra.CHILD_FLAGS, m.childFlags, true);
  dv.setUint16(FamilyExtra.CHILD_PART_COUNT, m.childParts.length, true);
  dv.setUint16(FamilyExtra.LABEL_COUNT, m.labelNames.length, true);
  dv.setUint32(FamilyExtra.CHILD_PARAM, m.childParam, true);
  dv.setUint32(FamilyExtra.CHILD_VALUE_SIZE, m.childValueSize, true);
  dv.setUint32(FamilyExtra.SLOT_SIZE, m.slotSize, true);
  dv.setUint32(FamilyExtra.SLOT_VALUE_OFFSET, m.slotValueOffset, true);
  dv.setUint32(FamilyExtra.LABEL_CAPACITY, m.labelCapacity, true);
  dv.setUint32(FamilyExtra.MAX_SERIES, m.maxSeries, true);
  dv.setUint32(FamilyExtra.BOUNDS_COUNT, m.childBounds.length, true);
  let p = FamilyExtra.BOUNDS;
  for (let i = 0; i < m.childBounds.length; i++, p += 8) dv.setFloat64(p, m.childBounds[i]!, true);
  m.childParts.forEach((part, i) => {
    dv.setUint16(p, part.dataType, true);
    dv.setUint16(p + 2, partNames[i]!.length, true);
    dv.setUint32(p + 4, part.offset, true);
    p += FamilyExtra.PART_SIZE;
  });
  for (const n of labelNames) {
    dv.setUint16(p, n.length, true);
    p += 2;
  }
  for (const b of [...partNames, ...labelNames]) {
    out.set(b, p);
    p += b.length;
  }
  return out;
}

function name(bytes: Uint8Array, start: number, len: number, what: string): string {
  try {
    return utf8Decoder.decode(bytes.subarray(start, start + len));
  } catch {
    throw new FormatViolation(`family ${what} is not valid UTF-8`);
  }
}

/** Decode and check a family's extra bytes; throws FormatViolation naming what is wrong. */
export function decodeFamilyExtra(extra: Uint8Array): FamilyMeta {
  if (extra.length < FamilyExtra.BOUNDS) throw new FormatViolation(`family description of ${extra.length} bytes is too short`);
  const dv = new DataView(extra.buffer, extra.byteOffset, extra.byteLength);
  const partCount = dv.getUint16(FamilyExtra.CHILD_PART_COUNT, true);
  const labelCount = dv.getUint16(FamilyExtra.LABEL_COUNT, true);
  const boundsCount = dv.getUint32(FamilyExtra.BOUNDS_COUNT, true);
  const childValueSize = dv.getUint32(FamilyExtra.CHILD_VALUE_SIZE, true);
  const slotSize = dv.getUint32(FamilyExtra.SLOT_SIZE, true);
  const slotValueOffset = dv.getUint32(FamilyExtra.SLOT_VALUE_OFFSET, true);
  const labelCapacity = dv.getUint32(FamilyExtra.LABEL_CAPACITY, true);
  const maxSeries = dv.getUint32(FamilyExtra.MAX_SERIES, true);
  if (labelCount === 0 || labelCount > FamilyLimits.MAX_LABELS) throw new FormatViolation(`family has ${labelCount} label names`);
  if (labelCapacity > 8 * FamilyLimits.MAX_LABEL_VALUE_BYTES)
    throw new FormatViolation(`family label capacity ${labelCapacity} is too large`);
  if (maxSeries === 0 || maxSeries > FamilyLimits.MAX_SERIES) throw new FormatViolation(`family maxSeries ${maxSeries} is out of range`);
  const minValueOffset = Slot.LENGTHS + labelCount * 2 + labelCount * labelCapacity;
  if (
    slotSize % 8 !== 0 ||
    slotValueOffset % 8 !== 0 ||
    slotValueOffset < minValueOffset ||
    slotSize > FamilyLimits.MAX_SLOT_SIZE ||
    slotValueOffset + childValueSize > slotSize
  ) {
    throw new FormatViolation(
      `family slot layout (size ${slotSize}, value at ${slotValueOffset}, ${childValueSize} bytes) is inconsistent`,
    );
  }
  let p = FamilyExtra.BOUNDS;
  const fixedEnd = p + boundsCount * 8 + partCount * FamilyExtra.PART_SIZE + labelCount * 2;
  if (boundsCount > extra.length || fixedEnd > extra.length) throw new FormatViolation('family description overflows its record');
  const childBounds = new Float64Array(boundsCount);
  for (let i = 0; i < boundsCount; i++, p += 8) childBounds[i] = dv.getFloat64(p, true);
  const partHeads: { dataType: DataTypeCode; nameLen: number; offset: number }[] = [];
  for (let i = 0; i < partCount; i++, p += FamilyExtra.PART_SIZE) {
    const offset = dv.getUint32(p + 4, true);
    if (offset + 8 > childValueSize) throw new FormatViolation(`family child part ${i} lies outside the child value`);
    partHeads.push({ dataType: dv.getUint16(p, true) as DataTypeCode, nameLen: dv.getUint16(p + 2, true), offset });
  }
  const labelLens: number[] = [];
  for (let i = 0; i < labelCount; i++, p += 2) labelLens.push(dv.getUint16(p, true));
  let namesLen = 0;
  for (const h of partHeads) namesLen += h.nameLen;
  for (const l of labelLens) namesLen += l;
  if (p + namesLen > extra.length) throw new FormatViolation('family names overflow the record');
  const childParts: PartMeta[] = partHeads.map((h) => {
    const part = { dataType: h.dataType, name: name(extra, p, h.nameLen, 'part name'), offset: h.offset };
    p += h.nameLen;
    return part;
  });
  const labelNames = labelLens.map((len) => {
    if (len === 0 || len > FamilyLimits.MAX_LABEL_NAME_BYTES) throw new FormatViolation(`family label name of ${len} bytes`);
    const n = name(extra, p, len, 'label name');
    p += len;
    return n;
  });
  if (new Set(labelNames).size !== labelNames.length) throw new FormatViolation('family label names repeat');
  return {
    childDataType: dv.getUint16(FamilyExtra.CHILD_DATA_TYPE, true),
    childFlags: dv.getUint16(FamilyExtra.CHILD_FLAGS, true),
    childParam: dv.getUint32(FamilyExtra.CHILD_PARAM, true),
    childValueSize,
    childParts,
    childBounds,
    labelNames,
    labelCapacity,
    slotSize,
    slotValueOffset,
    maxSeries,
  };
}

/**
 * Write a slot's label values (UTF-8 bytes, each at most the family's capacity):
 * the lengths table, then the bytes one after another. Unused room is zeroed.
 */
export function writeSlotLabels(bytes: Uint8Array, slot: number, meta: FamilyMeta, values: readonly Uint8Array[] | null): void {
  const n = meta.labelNames.length;
  let p = slot + Slot.LENGTHS + n * 2;
  bytes.fill(0, slot + Slot.LENGTHS, slot + meta.slotValueOffset);
  for (let i = 0; i < n; i++) {
    const v = values?.[i];
    const len = v?.length ?? 0;
    bytes[slot + Slot.LENGTHS + i * 2] = len & 0xff;
    bytes[slot + Slot.LENGTHS + i * 2 + 1] = len >> 8;
    if (v) bytes.set(v, p);
    p += len;
  }
}

/**
 * Decode a slot's label values from `bytes` (a consistent copy or the file), checking
 * each length against the family's capacity. Throws FormatViolation.
 */
export function readSlotLabels(bytes: Uint8Array, slot: number, meta: FamilyMeta): string[] {
  const n = meta.labelNames.length;
  let p = slot + Slot.LENGTHS + n * 2;
  const end = slot + meta.slotValueOffset;
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const len = bytes[slot + Slot.LENGTHS + i * 2]! | (bytes[slot + Slot.LENGTHS + i * 2 + 1]! << 8);
    if (len > meta.labelCapacity || p + len > end)
      throw new FormatViolation(`slot at ${slot}: label value ${i} of ${len} bytes overflows its room`);
    try {
      out.push(utf8Decoder.decode(bytes.subarray(p, p + len)));
    } catch {
      throw new FormatViolation(`slot at ${slot}: label value ${i} is not valid UTF-8`);
    }
    p += len;
  }
  return out;
}

/** Escape a label value as the Prometheus text format does: backslash, double quote, newline. */
export function escapeLabelValue(v: string): string {
  return v.replace(/[\\"\n]/g, (c) => (c === '\n' ? '\\n' : `\\${c}`));
}

/** The name of one series of a family: `name{a="x",b="y"}`, in the family's label order. */
export function seriesLabel(family: string, names: readonly string[], values: readonly string[]): string {
  let s = `${family}{`;
  for (let i = 0; i < names.length; i++) s += `${i ? ',' : ''}${names[i]}="${escapeLabelValue(values[i]!)}"`;
  return `${s}}`;
}

/** The name of a family's overflow series. */
export function overflowLabel(family: string): string {
  return `${family}{${OVERFLOW_LABEL}="true"}`;
}

/** What must match for a kept file's family children to be carried into a new family: child layout and label names. */
export function familyKey(m: FamilyMeta): string {
  return `family:${m.childDataType}:${m.childFlags}:${m.childValueSize}:${m.childParam}:${JSON.stringify(m.labelNames)}`;
}
