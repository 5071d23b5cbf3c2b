/**
 * The reader API: open a stats file of either format read-only, snapshot its
 * fields, re-read it cheaply, and see fields added later.
 *
 * A reader never writes to a file. Everything it reads from a file is checked
 * against the file's size before use; a malformed, foreign or half-made file
 * gives an MmstatsError with a stable code and nothing else. A file truncated
 * under the mapping cannot kill the process: the native layer turns the fault
 * into zero pages, and the reader then reports ERR_MMSTATS_TRUNCATED.
 */
import fs from 'node:fs';
import { MmstatsError } from '../errors.js';
import * as native from '../native/index.js';
import { processAlive } from '../platform/identity.js';
import { READ_RETRIES, STORES_ORDERED, copyBlock } from '../format/seqlock.js';
import {
  Chunk,
  Directory,
  FamilyLimits,
  OVERFLOW_LABEL,
  Slot,
  SlotState,
  decodeFamilyExtra,
  overflowLabel,
  readSlotLabels,
  seriesLabel,
  type FamilyMeta,
} from '../format/family.js';
import { V1_VERSION, V1Violation, decodeV1Fields, decodeV1Value, narrow, type V1FieldLayout } from '../format/v1.js';
import {
  BYTE_ORDER_MARK,
  BYTE_ORDER_MARK_SWAPPED,
  DATA_TYPE_NAMES,
  DataType,
  FileState,
  FormatViolation,
  HistogramSlot,
  Header,
  KIND_NAMES,
  Kind,
  Limits,
  MAGIC,
  Record as Rec,
  RecordFlags,
  SCALAR_SIZE,
  Seqlocked,
  VERSION_MAJOR,
  decodeRecord,
  type FieldMeta,
} from '../format/v2.js';

/** A histogram's data as read: scalars and per-bucket counts. */
export interface HistogramValue {
  readonly count: number;
  readonly sum: number;
  readonly min: number;
  readonly max: number;
  readonly last: number;
  /** Upper bounds (ascending, the last +Infinity) and the count in each bucket. */
  readonly buckets: readonly { readonly le: number; readonly count: number }[];
  /** Extra values the writer publishes with the histogram, by name (a timer's `moving_mean`). */
  readonly extra?: Readonly<Record<string, number>>;
}

/** A value as read. */
export type Value = number | bigint | boolean | string | Readonly<Record<string, number>> | HistogramValue | null;

/** One field of a snapshot. */
export interface FieldValue {
  readonly label: string;
  /** Data type name: int32, float64, string, struct, histogram... (v1: the struct format, e.g. `Q`). */
  readonly type: string;
  /** Metric kind: counter, gauge, info, histogram, timer, average, compound, untyped. */
  readonly kind: string;
  readonly unit: string;
  readonly help: string;
  /** True for write-once fields. */
  readonly static: boolean;
  /** The value; null if it kept changing while read (`error` says so). */
  readonly value: Value;
  readonly error?: string;
  /** A child of a labelled family: the family's name (`label` is then `family{a="x"}`). */
  readonly family?: string;
  /** A child of a labelled family: its labels (the overflow child: `{ otel_metric_overflow: 'true' }`). */
  readonly labels?: Readonly<Record<string, string>>;
}

/** Who wrote a file and whether it still runs. */
export interface WriterIdentity {
  readonly pid: number;
  readonly osTid: number;
  /** worker_threads.threadId (0 = main thread); v1: equal to osTid. */
  readonly threadId: number;
  readonly startToken: number;
  readonly createdMs: number;
  /** The writer still holds the file (v2: its lock; v1: its pid exists). */
  readonly alive: boolean;
  /** v2 header state: ready, or closed (the writer closed it cleanly). v1: ready. */
  readonly state: 'ready' | 'closed';
  readonly shared: boolean;
}

/** All of a file at one moment. */
export interface Snapshot {
  readonly path: string;
  readonly format: 1 | 2;
  readonly writer: WriterIdentity;
  /** Layout generation: changes whenever fields are added (v1: the field count). */
  readonly generation: number;
  readonly fields: readonly FieldValue[];
}

/**
 * What one reader decodes of a file at most, so that a huge or hostile file costs
 * a bounded amount of memory and time: a file over a limit fails with
 * `ERR_MMSTATS_LIMIT` (naming the limit) instead of being loaded. Unset, the
 * format's own limits apply (1,000,000 fields, 4 GiB).
 */
export interface ReadLimits {
  /** Bytes of records and values decoded at most (v2: the file's used size; v1: its size). */
  readonly maxBytes?: number;
  /** Fields decoded at most. */
  readonly maxFields?: number;
}

interface V2Field {
  readonly meta: FieldMeta;
  readonly recordOffset: number;
  readonly info: FieldInfo;
  /** A family record: what is known of its children. */
  readonly family?: FamilyState;
}

/** A family as this reader knows it: its description, its chunks, and each slot's decoded labels. */
interface FamilyState {
  readonly name: string;
  /** Offset of the family's directory. */
  readonly directory: number;
  /** Undefined when the description is malformed (`error` says why). */
  readonly meta: FamilyMeta | undefined;
  readonly error: string | undefined;
  /** The children's value as a field record, at offset 0 of a copy. */
  readonly child: FieldMeta | undefined;
  readonly childInfo: FieldInfo;
  /** Slot offsets of the chunks found so far, in file order. */
  readonly slots: number[];
  /** Per slot: the sequence its labels were decoded at, and the description they give. */
  readonly cache: (SlotLabels | undefined)[];
  lastChunk: number;
}

interface SlotLabels {
  readonly seq: number;
  readonly info: ChildInfo;
}

type ChildInfo = FieldInfo & { readonly family: string; readonly labels: Readonly<Record<string, string>> };

const utf8 = new TextDecoder('utf-8');

/** An open, read-only stats file. */
export class StatsReader {
  readonly path: string;
  readonly format: 1 | 2;
  private fd: number;
  // The mapping and its views, all set by setMapping.
  private buffer!: ArrayBuffer;
  /** Whole-mapping typed views, made on first use after each (re)map: a scalar read is one indexed load, no allocation. */
  private scalarViews: ScalarViews | undefined;
  private bytes!: Uint8Array;
  private dv!: DataView;
  private i32!: Int32Array;
  private v2Fields: V2Field[] = [];
  /** Whose layout v2Fields describes: a kept file taken over by a new writer is laid out afresh. */
  private layoutOwner = '';
  private v1Fields: V1FieldLayout[] = [];
  private closed = false;
  /** Set by open, which has just sized the mapping from fstat: the first read need not ask again. */
  private sizeJustChecked = true;
  private readonly limits: ReadLimits;

  private constructor(path: string, fd: number, format: 1 | 2, size: number, limits: ReadLimits) {
    this.path = path;
    this.fd = fd;
    this.format = format;
    this.limits = limits;
    this.setMapping(native.map(fd, size, false));
  }

  /** Take `buffer` as the mapping, with fresh views over it. */
  private setMapping(buffer: ArrayBuffer): void {
    this.buffer = buffer;
    this.bytes = new Uint8Array(buffer);
    this.dv = new DataView(buffer);
    this.i32 = new Int32Array(buffer, 0, Math.floor(buffer.byteLength / 4));
    this.scalarViews = undefined;
  }

  /**
   * Open a stats file read-only. Throws MmstatsError: NOT_STATS (foreign file),
   * VERSION (newer major format), INITIALISING (still being made), ABANDONED
   * (its writer died making it: it will never be ready), MALFORMED,
   * UNSAFE_PATH (a symlink or not a regular file), LIMIT (over `limits`), IO.
   */
  static open(file: string, limits: ReadLimits = {}): StatsReader {
    const C = fs.constants;
    let fd: number;
    try {
      // O_NONBLOCK: a FIFO planted under a stats name must not hang the reader.
      fd = fs.openSync(file, C.O_RDONLY | C.O_NOFOLLOW | C.O_NONBLOCK);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      if (e.code === 'ELOOP')
        throw new MmstatsError('ERR_MMSTATS_UNSAFE_PATH', 'is a symbolic link; not followed', { path: file, cause: e });
      throw new MmstatsError('ERR_MMSTATS_IO', `cannot open: ${e.message}`, { path: file, cause: e });
    }
    let st: fs.Stats | undefined;
    try {
      st = fs.fstatSync(fd);
      if (!st.isFile()) throw new MmstatsError('ERR_MMSTATS_UNSAFE_PATH', 'is not a regular file', { path: file });
      if (st.size === 0) throw new MmstatsError('ERR_MMSTATS_INITIALISING', 'is empty: its writer is still creating it', { path: file });
      if (st.size > Limits.MAX_FILE_SIZE)
        throw new MmstatsError('ERR_MMSTATS_MALFORMED', `is ${st.size} bytes, larger than any stats file`, { path: file });
      const head = Buffer.alloc(Header.SIZE);
      const n = fs.readSync(fd, head, 0, Header.SIZE, 0);
      const format = sniff(file, head.subarray(0, n), st.size);
      if (format === 1) checkLimit(file, 'bytes', st.size, limits.maxBytes);
      const reader = new StatsReader(file, fd, format, st.size, limits);
      reader.refreshLayout();
      return reader;
    } catch (err) {
      let error = err instanceof MmstatsError ? err : malformed(file, err);
      if (error.code === 'ERR_MMSTATS_INITIALISING' && st) {
        const why = abandonment(fd, st);
        if (why) error = new MmstatsError('ERR_MMSTATS_ABANDONED', why, { path: file });
      }
      fs.closeSync(fd);
      throw error;
    }
  }

  /** Read every field now (cheap: the layout is cached, only new fields are parsed). */
  read(): Snapshot {
    if (this.closed) throw new MmstatsError('ERR_MMSTATS_CLOSED', 'reader is closed', { path: this.path });
    // A file truncated since open is still caught: the fault guard counts the pages read past its end.
    if (this.sizeJustChecked) this.sizeJustChecked = false;
    else this.checkSize();
    try {
      this.refreshLayout();
      const fields = this.format === 2 ? this.readV2Fields() : this.v1Fields.map((f) => this.readV1(f));
      const snap: Snapshot = { path: this.path, format: this.format, writer: this.writer(), generation: this.generation(), fields };
      if (native.faultCount(this.buffer) > 0) throw this.truncated();
      return snap;
    } catch (err) {
      if (native.faultCount(this.buffer) > 0) throw this.truncated();
      throw err instanceof MmstatsError ? err : malformed(this.path, err);
    }
  }

  /** Bytes of the file a read decodes (v2: the used size, v1: the size), what `ReadLimits.maxBytes` bounds. */
  get decodedBytes(): number {
    if (this.format === 1) return this.bytes.length;
    return Math.min(Atomics.load(this.i32, Header.USED_SIZE / 4) >>> 0, this.bytes.length);
  }

  /** The writer's identity and liveness. */
  writer(): WriterIdentity {
    if (this.format === 1) return this.v1Writer();
    const dv = this.dv;
    const pid = dv.getUint32(Header.PID, true);
    const state = Atomics.load(this.i32, Header.STATE / 4) === FileState.CLOSED ? 'closed' : 'ready';
    return {
      pid,
      osTid: dv.getUint32(Header.OS_TID, true),
      threadId: dv.getUint32(Header.THREAD_ID, true),
      startToken: dv.getFloat64(Header.START_TOKEN, true),
      createdMs: dv.getFloat64(Header.CREATED_MS, true),
      // The writer's lock is the proof of life: it survives pid reuse and pid namespaces.
      alive: state === 'ready' && native.isLockedByOther(this.fd),
      state,
      shared: (dv.getUint32(Header.FLAGS, true) & 1) !== 0,
    };
  }

  /** Release the mapping and the file. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    native.unmap(this.buffer);
    fs.closeSync(this.fd);
    this.fd = -1;
  }

  [Symbol.dispose](): void {
    this.close();
  }

  private generation(): number {
    return this.format === 2 ? Atomics.load(this.i32, Header.GENERATION / 4) >>> 0 : this.v1Fields.length;
  }

  private truncated(): MmstatsError {
    return new MmstatsError('ERR_MMSTATS_TRUNCATED', 'the file shrank while it was being read', { path: this.path });
  }

  /** Follow the file's size: remap when it grew, fail when it shrank. */
  private checkSize(): void {
    let size: number;
    try {
      size = fs.fstatSync(this.fd).size;
    } catch (err) {
      throw new MmstatsError('ERR_MMSTATS_IO', `cannot stat: ${(err as Error).message}`, { path: this.path, cause: err });
    }
    if (size < this.buffer.byteLength) throw this.truncated();
    // Pages read while the file was shorter were replaced by zero pages for good: once it has
    // regrown, only a fresh mapping sees its bytes again, and the layout is read afresh from them.
    const faulted = native.faultCount(this.buffer) > 0;
    if (this.format === 1 && size > this.buffer.byteLength) checkLimit(this.path, 'bytes', size, this.limits.maxBytes);
    if ((size > this.buffer.byteLength || faulted) && size <= Limits.MAX_FILE_SIZE) {
      const old = this.buffer;
      this.setMapping(native.map(this.fd, size, false));
      native.unmap(old);
      if (faulted) {
        this.v2Fields = [];
        this.layoutOwner = '';
      }
    }
  }

  /** Parse records published since the last look. */
  private refreshLayout(): void {
    if (this.format === 1) {
      // A field appended while the file grew runs past this mapping: remap and look
      // again, for as long as the file keeps growing under a busy writer.
      for (let attempt = 0; ; attempt++) {
        let fields: V1FieldLayout[];
        try {
          fields = decodeV1Fields(this.bytes, this.bytes.length);
        } catch (err) {
          const mapped = this.bytes.length;
          this.checkSize();
          if (this.bytes.length === mapped || attempt === 16) throw err;
          continue;
        }
        checkLimit(this.path, 'fields', fields.length, this.limits.maxFields);
        this.v1Fields = fields;
        return;
      }
    }
    if (Atomics.load(this.i32, Header.STATE / 4) === FileState.INITIALISING) {
      throw new MmstatsError('ERR_MMSTATS_INITIALISING', 'is being re-created by a new writer', { path: this.path });
    }
    const dv = this.dv;
    const owner = `${dv.getUint32(Header.PID, true)}/${dv.getFloat64(Header.START_TOKEN, true)}/${dv.getFloat64(Header.CREATED_MS, true)}`;
    if (owner !== this.layoutOwner) {
      this.v2Fields = [];
      this.layoutOwner = owner;
    }
    const count = Atomics.load(this.i32, Header.FIELD_COUNT / 4) >>> 0;
    const usedSize = Atomics.load(this.i32, Header.USED_SIZE / 4) >>> 0;
    checkLimit(this.path, 'fields', count, this.limits.maxFields);
    checkLimit(this.path, 'bytes', usedSize, this.limits.maxBytes);
    // The writer may have grown the file since the last size check: its size is
    // at least usedSize once published, so remap rather than call that malformed.
    if (usedSize > this.bytes.length) this.checkSize();
    const used = Math.min(usedSize, this.bytes.length);
    if (count > Limits.MAX_FIELDS) throw new FormatViolation(`field count ${count} is beyond any real file`);
    let known = this.v2Fields.length;
    if (count <= known) return;
    let at: number;
    if (known === 0) at = this.dv.getUint32(Header.FIRST_RECORD, true);
    else {
      const last = this.v2Fields[known - 1]!.recordOffset;
      at = this.dv.getUint32(last + Rec.NEXT, true);
      if (at <= last) throw new FormatViolation(`record at ${last} links backwards to ${at}`);
    }
    for (; known < count; known++) {
      const meta = decodeRecord(this.bytes, at, used, true);
      checkValueBlock(meta, at);
      const info = describe(meta);
      this.v2Fields.push({ meta, recordOffset: at, info, family: meta.extra ? familyState(meta, info) : undefined });
      if (known + 1 < count) {
        const next = this.dv.getUint32(at + Rec.NEXT, true);
        // Offsets only grow: this rules out cycles and overlapping records.
        if (next <= at) throw new FormatViolation(`record at ${at} links backwards to ${next}`);
        at = next;
      }
    }
  }

  private readV2Fields(): FieldValue[] {
    const out: FieldValue[] = [];
    for (const f of this.v2Fields) {
      if (f.family) this.readFamily(f.family, out);
      else out.push(this.readV2(f));
    }
    return out;
  }

  /**
   * Read every child of a family: find chunks linked since the last read, then
   * read each slot with the slot protocol (docs/FORMAT.md, "Families"). A
   * malformed part is reported as a field with an error; the rest still reads.
   */
  private readFamily(fam: FamilyState, out: FieldValue[]): void {
    const m = fam.meta;
    if (!m) {
      out.push(familyError(fam, fam.error!));
      return;
    }
    const chainError = this.findChunks(fam, m);
    for (let i = 0; i < fam.slots.length; i++) {
      const v = this.readSlot(fam, m, i);
      if (v !== undefined) out.push(v);
    }
    if (chainError) out.push(familyError(fam, chainError));
  }

  /** Follow the chunk chain past the last chunk known; returns why it stopped early, if it did. */
  private findChunks(fam: FamilyState, m: FamilyMeta): string | undefined {
    const dirOffset = fam.directory;
    for (;;) {
      const link = fam.lastChunk === 0 ? dirOffset + Directory.FIRST_CHUNK : fam.lastChunk + Chunk.NEXT;
      const chunk = Atomics.load(this.i32, link >> 2) >>> 0;
      if (chunk === 0) return undefined;
      // The writer publishes the used size before it links a chunk: loaded after the link, it covers the chunk.
      let used = Atomics.load(this.i32, Header.USED_SIZE / 4) >>> 0;
      if (used > this.bytes.length) this.checkSize();
      used = Math.min(used, this.bytes.length);
      if (chunk % 8 !== 0 || chunk <= Math.max(fam.lastChunk, dirOffset) || chunk + Chunk.SLOTS > used) {
        return `chunk offset ${chunk} is out of order or out of bounds`;
      }
      const count = this.dv.getUint32(chunk + Chunk.SLOT_COUNT, true);
      if (count === 0 || count > FamilyLimits.MAX_CHUNK_SLOTS || chunk + Chunk.SLOTS + count * m.slotSize > used) {
        return `chunk at ${chunk} claims ${count} slots, past the end of the file`;
      }
      if (fam.slots.length + count > m.maxSeries + 1) return `chunks hold more slots than maxSeries ${m.maxSeries} allows`;
      for (let i = 0; i < count; i++) fam.slots.push(chunk + Chunk.SLOTS + i * m.slotSize);
      fam.lastChunk = chunk;
    }
  }

  /**
   * Read one slot: seq (even) → state, labels, value (its own seqlock too) → seq
   * again, equal. Only then do the labels name the value. Undefined for a free slot.
   */
  private readSlot(fam: FamilyState, m: FamilyMeta, index: number): FieldValue | undefined {
    const slot = fam.slots[index]!;
    const seqIndex = slot >> 2;
    const v = slot + m.slotValueOffset;
    const end = v + ((m.childValueSize + 7) & ~7);
    const child = fam.child!;
    const seqlocked = (m.childFlags & RecordFlags.SEQLOCK) !== 0;
    // A scalar child where loads stay in order (x86): one load between the two sequence loads, no copy.
    const direct = STORES_ORDERED && SCALAR_SIZE[m.childDataType] !== undefined;
    for (let attempt = 0; attempt < READ_RETRIES; attempt++) {
      const s1 = Atomics.load(this.i32, seqIndex);
      if ((s1 & 1) !== 0) continue;
      const state = this.i32[(slot + Slot.STATE) >> 2]!;
      const cached = fam.cache[index];
      const labelCopy = state === SlotState.LIVE && cached?.seq !== s1 ? copyBlock(this.i32, this.bytes, slot, v) : undefined;
      let value: Uint8Array | undefined;
      let scalar: Value = null;
      const owned = state === SlotState.LIVE || state === SlotState.OVERFLOW;
      if (owned && direct) scalar = this.scalarAt(m.childDataType, v);
      else if (owned) {
        const inner = seqlocked ? Atomics.load(this.i32, v >> 2) : 0;
        if ((inner & 1) !== 0) continue;
        value = copyBlock(this.i32, this.bytes, v, end);
        if (seqlocked && Atomics.load(this.i32, v >> 2) !== inner) continue;
      }
      if (Atomics.load(this.i32, seqIndex) !== s1) continue;
      // Consistent: the state, labels and value all belong to one owner of the slot.
      if (state === SlotState.FREE) return undefined;
      if (!owned) return familyError(fam, `slot at ${slot} has an unknown state ${state}`);
      let info: ChildInfo;
      if (state === SlotState.OVERFLOW) info = overflowInfo(fam);
      else if (cached?.seq === s1) info = cached.info;
      else {
        let values: string[];
        try {
          values = readSlotLabels(labelCopy!, 0, m);
        } catch (err) {
          return familyError(fam, (err as Error).message.replace('slot at 0', `slot at ${slot}`));
        }
        info = childInfo(fam, values);
        fam.cache[index] = { seq: s1, info };
      }
      return childValue(info, value === undefined ? scalar : decodeValue(child, value));
    }
    const known = fam.cache[index]?.info;
    return known
      ? { ...childValue(known, null), error: 'slot kept changing while read' }
      : familyError(fam, `slot at ${slot} kept changing while read`, true);
  }

  /**
   * Read a scalar with one aligned load of its own size (a typed-array element,
   * never a byte-wise DataView read), so a value the writer stores in one store is
   * read in one load and can never tear.
   */
  private readV2(f: V2Field): FieldValue {
    const m = f.meta;
    const o = m.valueOffset;
    const size = SCALAR_SIZE[m.dataType];
    if (size === undefined) {
      // A type from a newer writer: shown without a value. Its bytes are not read, as
      // they may be anything (an odd word would look like a seqlock being written).
      if (DATA_TYPE_NAMES[m.dataType] === undefined) return failed(f.info, `unknown data type ${m.dataType}`);
      if (o % 8 !== 0 || m.valueSize < Seqlocked.PAYLOAD) {
        return failed(f.info, `value at ${o} (${m.valueSize} bytes) is not an 8-aligned seqlocked block`);
      }
      return this.readSeqlocked(f);
    }
    if (o % size !== 0) return failed(f.info, `value offset ${o} is not aligned to ${size}`);
    return withValue(f.info, this.scalarAt(m.dataType, o));
  }

  /** One aligned load of the scalar of `dataType` at `o` (see readV2). */
  private scalarAt(dataType: number, o: number): Value {
    const v = (this.scalarViews ??= scalarViews(this.buffer));
    switch (dataType) {
      case DataType.INT8:
        return v.i8[o]!;
      case DataType.UINT8:
        return this.bytes[o]!;
      case DataType.INT16:
        return v.i16[o >> 1]!;
      case DataType.UINT16:
        return v.u16[o >> 1]!;
      case DataType.INT32:
        return this.i32[o >> 2]!;
      case DataType.UINT32:
        return v.u32[o >> 2]!;
      case DataType.INT64:
        return narrow(v.i64[o >> 3]!);
      case DataType.UINT64:
        return narrow(v.u64[o >> 3]!);
      case DataType.FLOAT32:
        return v.f32[o >> 2]!;
      case DataType.FLOAT64:
        return v.f64[o >> 3]!;
      default:
        return this.bytes[o] !== 0;
    }
  }

  /**
   * Read a multi-word value with the seqlock protocol: never a mix of two writes.
   * Only a raw copy happens between the two sequence loads; decoding comes after,
   * so the window a write can fall into stays a few dozen nanoseconds and a busy
   * writer does not starve its readers.
   */
  private readSeqlocked(f: V2Field): FieldValue {
    const m = f.meta;
    const seqIndex = m.valueOffset / 4;
    const start = m.valueOffset;
    const end = start + m.valueSize;
    for (let attempt = 0; attempt < READ_RETRIES; attempt++) {
      const s1 = Atomics.load(this.i32, seqIndex);
      if ((s1 & 1) !== 0) continue;
      const copy = copyBlock(this.i32, this.bytes, start, end);
      if (Atomics.load(this.i32, seqIndex) === s1) {
        return withValue(f.info, decodeSeqlocked(new DataView(copy.buffer), copy, m, 0));
      }
    }
    return failed(f.info, 'value kept changing while read');
  }

  private readV1(f: V1FieldLayout): FieldValue {
    const wb = this.bytes[f.writeBufferOffset]!;
    const off = f.buffered ? f.valueOffset + (wb ^ 1) * f.valueSize : f.valueOffset;
    return {
      label: f.label,
      type: f.type,
      kind: 'untyped',
      unit: '',
      help: '',
      static: false,
      value: decodeV1Value(this.bytes, f.type, off),
    };
  }

  private v1Writer(): WriterIdentity {
    const get = (label: string): number => {
      const f = this.v1Fields.find((x) => x.label === label);
      if (!f) return 0;
      const v = this.readV1(f).value;
      return typeof v === 'number' ? v : typeof v === 'bigint' ? Number(v) : 0;
    };
    const pid = get('sys.pid');
    return {
      pid,
      osTid: get('sys.tid'),
      threadId: get('sys.tid'),
      startToken: 0,
      createdMs: get('sys.created') * 1000,
      alive: pid > 0 && processAlive(pid, 0),
      state: 'ready',
      shared: false,
    };
  }
}

interface ScalarViews {
  readonly i8: Int8Array;
  readonly i16: Int16Array;
  readonly u16: Uint16Array;
  readonly u32: Uint32Array;
  readonly i64: BigInt64Array;
  readonly u64: BigUint64Array;
  readonly f32: Float32Array;
  readonly f64: Float64Array;
}

function scalarViews(b: ArrayBuffer): ScalarViews {
  const n = b.byteLength;
  return {
    i8: new Int8Array(b),
    i16: new Int16Array(b, 0, n >> 1),
    u16: new Uint16Array(b, 0, n >> 1),
    u32: new Uint32Array(b, 0, n >> 2),
    i64: new BigInt64Array(b, 0, n >> 3),
    u64: new BigUint64Array(b, 0, n >> 3),
    f32: new Float32Array(b, 0, n >> 2),
    f64: new Float64Array(b, 0, n >> 3),
  };
}

type FieldInfo = Omit<FieldValue, 'value' | 'error'>;

/** A field's value with its description: a literal of one fixed shape, several times faster than a spread. */
function withValue(i: FieldInfo, value: Value): FieldValue {
  return { label: i.label, type: i.type, kind: i.kind, unit: i.unit, help: i.help, static: i.static, value };
}

/** A field that could not be read now, and why. */
function failed(i: FieldInfo, error: string): FieldValue {
  return { label: i.label, type: i.type, kind: i.kind, unit: i.unit, help: i.help, static: i.static, value: null, error };
}

/**
 * Refuse a record whose value block cannot hold what its type declares (a
 * histogram smaller than its scalars, more buckets than its block holds): the
 * file is malformed, said in those words, rather than decoded into a negative
 * length later.
 */
function checkValueBlock(m: FieldMeta, at: number): void {
  if (m.dataType !== DataType.HISTOGRAM) return;
  const room = Math.floor((m.valueSize - Seqlocked.PAYLOAD) / 8) - HistogramSlot.BUCKETS;
  if (room < 0) {
    throw new FormatViolation(
      `record at ${at}: histogram value of ${m.valueSize} bytes cannot hold its ${HistogramSlot.BUCKETS} scalars (needs at least ${Seqlocked.PAYLOAD + HistogramSlot.BUCKETS * 8})`,
    );
  }
  if (m.param > room) {
    throw new FormatViolation(`record at ${at}: histogram declares ${m.param} buckets but its ${m.valueSize}-byte value holds ${room}`);
  }
}

function describe(m: FieldMeta): FieldInfo {
  return {
    label: m.label,
    type: DATA_TYPE_NAMES[m.dataType] ?? `unknown(${m.dataType})`,
    kind: KIND_NAMES[m.kind] ?? 'untyped',
    unit: m.unit,
    help: m.help,
    static: (m.flags & RecordFlags.STATIC) !== 0,
  };
}

/** What a reader keeps of a family record: its description decoded, or why it could not be. */
function familyState(meta: FieldMeta, info: FieldInfo): FamilyState {
  let fm: FamilyMeta | undefined;
  let error: string | undefined;
  try {
    fm = decodeFamilyExtra(meta.extra!);
    if (meta.valueSize < Directory.SIZE || meta.valueOffset % 8 !== 0)
      throw new FormatViolation(`directory at ${meta.valueOffset} is too small or unaligned`);
  } catch (err) {
    fm = undefined;
    error = (err as Error).message;
  }
  const child: FieldMeta | undefined = fm && {
    label: meta.label,
    dataType: fm.childDataType,
    kind: meta.kind,
    flags: fm.childFlags,
    valueOffset: 0,
    valueSize: fm.childValueSize,
    param: fm.childParam,
    unit: meta.unit,
    help: meta.help,
    parts: fm.childParts,
    bounds: fm.childBounds,
    extra: undefined,
  };
  const childInfo: FieldInfo = { ...info, type: child ? describe(child).type : info.type };
  return { name: meta.label, directory: meta.valueOffset, meta: fm, error, child, childInfo, slots: [], cache: [], lastChunk: 0 };
}

function childInfo(fam: FamilyState, values: readonly string[]): ChildInfo {
  const names = fam.meta!.labelNames;
  const labels: Record<string, string> = {};
  names.forEach((n, i) => (labels[n] = values[i]!));
  return { ...fam.childInfo, label: seriesLabel(fam.name, names, values), family: fam.name, labels };
}

const overflowInfos = new WeakMap<FamilyState, ChildInfo>();
function overflowInfo(fam: FamilyState): ChildInfo {
  let info = overflowInfos.get(fam);
  if (!info) {
    info = { ...fam.childInfo, label: overflowLabel(fam.name), family: fam.name, labels: { [OVERFLOW_LABEL]: 'true' } };
    overflowInfos.set(fam, info);
  }
  return info;
}

/** A child's value with its description: a literal of one fixed shape (a spread would cost more than the read). */
function childValue(i: ChildInfo, value: Value): FieldValue {
  return {
    label: i.label,
    type: i.type,
    kind: i.kind,
    unit: i.unit,
    help: i.help,
    static: i.static,
    value,
    family: i.family,
    labels: i.labels,
  };
}

/**
 * A family (or a part of it) that could not be read: one field named after the
 * family, without labels, saying why. Malformed unless `busy` (a slot that kept
 * changing owner while read, whose labels were never seen: try again).
 */
function familyError(fam: FamilyState, reason: string, busy = false): FieldValue {
  const i = fam.childInfo;
  return {
    label: i.label,
    type: i.type,
    kind: i.kind,
    unit: i.unit,
    help: i.help,
    static: false,
    value: null,
    error: `${busy ? '' : 'ERR_MMSTATS_MALFORMED: '}family ${fam.name}: ${reason}`,
    family: fam.name,
  };
}

/** Decode a value block copied out of the file (a scalar, or a seqlocked block), described by `m`. */
function decodeValue(m: FieldMeta, copy: Uint8Array): Value {
  const dv = new DataView(copy.buffer, copy.byteOffset, copy.byteLength);
  switch (m.dataType) {
    case DataType.INT8:
      return dv.getInt8(0);
    case DataType.UINT8:
      return dv.getUint8(0);
    case DataType.INT16:
      return dv.getInt16(0, true);
    case DataType.UINT16:
      return dv.getUint16(0, true);
    case DataType.INT32:
      return dv.getInt32(0, true);
    case DataType.UINT32:
      return dv.getUint32(0, true);
    case DataType.INT64:
      return narrow(dv.getBigInt64(0, true));
    case DataType.UINT64:
      return narrow(dv.getBigUint64(0, true));
    case DataType.FLOAT32:
      return dv.getFloat32(0, true);
    case DataType.FLOAT64:
      return dv.getFloat64(0, true);
    case DataType.BOOL:
      return dv.getUint8(0) !== 0;
    default:
      return copy.length >= Seqlocked.PAYLOAD ? decodeSeqlocked(dv, copy, m, 0) : null;
  }
}

/** Decode a seqlocked value block that starts at `base` in `bytes` (a consistent copy of it). */
function decodeSeqlocked(dv: DataView, bytes: Uint8Array, m: FieldMeta, base: number): Value {
  const p = base + Seqlocked.PAYLOAD;
  switch (m.dataType) {
    case DataType.STRING: {
      const len = Math.min(dv.getUint32(base + Seqlocked.LENGTH, true), m.param, m.valueSize - Seqlocked.PAYLOAD);
      return utf8.decode(bytes.subarray(p, p + len));
    }
    case DataType.STRUCT: {
      const out: Record<string, number> = {};
      for (const part of m.parts) {
        const at = base + part.offset;
        if (part.dataType === DataType.INT64) out[part.name] = Number(dv.getBigInt64(at, true));
        else if (part.dataType === DataType.UINT64) out[part.name] = Number(dv.getBigUint64(at, true));
        else out[part.name] = dv.getFloat64(at, true);
      }
      return out;
    }
    case DataType.HISTOGRAM: {
      const n = Math.min(m.param, m.bounds.length, (m.valueSize - Seqlocked.PAYLOAD) / 8 - HistogramSlot.BUCKETS);
      const s = (i: number) => dv.getFloat64(p + i * 8, true);
      // One typed-array view over the copied counts (the copy starts 8-aligned), not a DataView call per bucket.
      const aligned = (bytes.byteOffset + p) % 8 === 0;
      const counts = aligned ? new Float64Array(bytes.buffer, bytes.byteOffset + p + HistogramSlot.BUCKETS * 8, n) : undefined;
      const bounds = m.bounds;
      const buckets = new Array<{ le: number; count: number }>(n);
      for (let i = 0; i < n; i++) buckets[i] = { le: bounds[i]!, count: counts ? counts[i]! : s(HistogramSlot.BUCKETS + i) };
      // Parts of a histogram record name extra float64 values stored after the buckets.
      const extra: Record<string, number> = {};
      for (const part of m.parts) if (part.dataType === DataType.FLOAT64) extra[part.name] = dv.getFloat64(base + part.offset, true);
      return {
        count: s(HistogramSlot.COUNT),
        sum: s(HistogramSlot.SUM),
        min: s(HistogramSlot.MIN),
        max: s(HistogramSlot.MAX),
        last: s(HistogramSlot.LAST),
        buckets,
        extra,
      };
    }
    default:
      // An unknown data type: shown without a value, never guessed at.
      return null;
  }
}

/**
 * A file with no header yet and no writer holding it is taken for abandoned after
 * this long: a writer takes the lock right after creating the file, so only a
 * writer killed in between leaves one, and a live writer would have written its
 * header in a moment.
 */
export const ABANDONED_AFTER_MS = 10_000;

/**
 * Why a file that is still initialising will never be ready, or undefined while a
 * writer may still be making it. Its creator is provably gone when no process holds
 * the file's lock (a writer holds it from before the header until it exits) and the
 * header's pid no longer runs with the header's start token; a file without a
 * header, when it has not changed for ABANDONED_AFTER_MS.
 */
function abandonment(fd: number, st: fs.Stats): string | undefined {
  if (native.isLockedByOther(fd)) return undefined;
  const head = Buffer.alloc(Header.SIZE);
  const n = fs.readSync(fd, head, 0, Header.SIZE, 0);
  if (n === Header.SIZE && head.subarray(0, 8).equals(Buffer.from(MAGIC))) {
    const pid = head.readUInt32LE(Header.PID);
    if (pid > 0 && processAlive(pid, head.readDoubleLE(Header.START_TOKEN))) return undefined;
    return `was never finished: its writer (pid ${pid}) died while creating it (mmstats clean removes it)`;
  }
  const idleMs = Date.now() - st.mtimeMs;
  if (idleMs < ABANDONED_AFTER_MS) return undefined;
  return `has had no header for ${Math.round(idleMs / 1000)} s and no writer holds it: its writer died creating it (mmstats clean removes it)`;
}

/** Refuse a file whose `what` (bytes, fields) is over `max`, before decoding it. */
function checkLimit(file: string, what: 'bytes' | 'fields', n: number, max: number | undefined): void {
  if (max !== undefined && n > max) {
    throw new MmstatsError('ERR_MMSTATS_LIMIT', `holds ${n} ${what}, more than the ${max} this reader decodes (not loaded)`, {
      path: file,
    });
  }
}

function sniff(file: string, head: Buffer, size: number): 1 | 2 {
  if (head[0] === V1_VERSION) return 1;
  if (head.length >= 8 && head.subarray(0, 8).equals(Buffer.from(MAGIC))) {
    if (head.length < Header.SIZE || size < Header.SIZE)
      throw new MmstatsError('ERR_MMSTATS_MALFORMED', 'is shorter than a v2 header', { path: file });
    const major = head.readUInt16LE(Header.VERSION_MAJOR);
    if (major > VERSION_MAJOR) {
      throw new MmstatsError('ERR_MMSTATS_VERSION', `uses format ${major}, newer than this reader (${VERSION_MAJOR}); upgrade mmstats`, {
        path: file,
      });
    }
    if (major < 2) throw new MmstatsError('ERR_MMSTATS_MALFORMED', `has the v2 magic but version ${major}`, { path: file });
    const bom = head.readUInt32LE(Header.BYTE_ORDER);
    if (bom === BYTE_ORDER_MARK_SWAPPED) {
      throw new MmstatsError('ERR_MMSTATS_UNSUPPORTED', 'was written on a big-endian machine; this reader reads little-endian files', {
        path: file,
      });
    }
    if (bom !== BYTE_ORDER_MARK)
      throw new MmstatsError('ERR_MMSTATS_MALFORMED', `has a bad byte-order mark 0x${bom.toString(16)}`, { path: file });
    if (head.readUInt32LE(Header.STATE) === FileState.INITIALISING) {
      throw new MmstatsError('ERR_MMSTATS_INITIALISING', 'is still being created by its writer (not yet marked ready)', { path: file });
    }
    return 2;
  }
  // The writer allocates the file before it writes the header: all zeros means "being made".
  if (head.length > 0 && head.every((b) => b === 0)) {
    throw new MmstatsError('ERR_MMSTATS_INITIALISING', 'has no header yet: its writer is still creating it', { path: file });
  }
  throw new MmstatsError('ERR_MMSTATS_NOT_STATS', 'is not an mmstats file (unknown magic)', { path: file });
}

function malformed(file: string, err: unknown): MmstatsError {
  if (err instanceof FormatViolation || err instanceof V1Violation || err instanceof RangeError) {
    return new MmstatsError('ERR_MMSTATS_MALFORMED', err.message, { path: file, cause: err });
  }
  return new MmstatsError('ERR_MMSTATS_MALFORMED', `unreadable: ${(err as Error)?.message ?? String(err)}`, { path: file, cause: err });
}

export { Kind };
