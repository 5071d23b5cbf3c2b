/**
 * Labelled families: one field spec made into a set of children, one per label
 * set, each a field of the spec's own type with its whole API.
 *
 * ONE mechanism over every field type: a child is made by the wrapped spec's own
 * `create(label, placement)` over the value block of a slot, and moved with the
 * field's own `bind`. This module knows nothing of any field type; a child's
 * update is the unlabelled field's exact code.
 *
 * Lookup is a trie of Maps, one level per label, keyed by the values as given
 * (a number value also gets its own key, next to its string form), so a hit
 * builds no string and allocates nothing. Slots are claimed and freed with the
 * slot protocol of src/format/family.ts (docs/FORMAT.md, "Families"): the owner
 * of a slot changes only between an odd and the next even sequence, so a reader
 * never sees a value under another child's labels. Freed slots are reused, so a
 * family whose children come and go never grows the file past its peak.
 */
import { MmstatsError } from '../errors.js';
import {
  Chunk,
  Directory,
  FamilyLimits,
  OVERFLOW_LABEL,
  Slot,
  SlotState,
  encodeFamilyExtra,
  overflowLabel,
  seriesLabel,
  slotGeometry,
  writeSlotLabels,
  type FamilyMeta,
} from '../format/family.js';
import { DataType, RecordFlags, Seqlocked } from '../format/v2.js';
import { Field, FieldSpec, type FieldOptions, type Heap, type Placement, type V1Layout, type V2Layout } from './field.js';

/** A label value: a string, or a number (converted with `String`). */
export type LabelValue = string | number;

/** The values of a label set, in the family's label order. */
export type LabelValues<L extends readonly string[]> = { -readonly [K in keyof L]: LabelValue };

/** A label set by name: every label of the family, no other. */
export type LabelSet<L extends readonly string[]> = { readonly [K in L[number]]: LabelValue };

/** The options that make a field a labelled family. */
export interface LabelOptions<L extends readonly string[] = readonly string[]> {
  /** Label names: the field becomes a family with one child per label set. */
  readonly labels?: L;
  /** Most live children (default 2000); past it, updates go to one overflow child. */
  readonly maxSeries?: number;
}

/** Default `maxSeries`, as OpenTelemetry's cardinality limit. */
export const DEFAULT_MAX_SERIES = 2000;

/** Label names the exposition uses for itself, refused as family label names. */
const RESERVED_NAMES = new Set(['le', 'quantile', 'pid', 'tid', 'cmd', 'model', 'host', 'file', OVERFLOW_LABEL]);
const NAME_PATTERN = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** The live field a spec makes. */
type FieldOf<S> = S extends FieldSpec<infer F> ? F : never;

/** What a `field.*` factory returns: the spec itself, or a family of it when `labels` are given. */
export type Labelled<S extends FieldSpec, L extends readonly string[]> = L extends readonly [] ? S : FamilySpec<FieldOf<S>, L>;

/**
 * The one helper every `field.*` factory goes through: take `labels` and
 * `maxSeries` off the options, make the spec from the rest, and wrap it in a
 * family if labels were given.
 */
export function labelled<O extends object, S extends FieldSpec, L extends readonly string[]>(
  options: (O & LabelOptions<L>) | undefined,
  make: (options: O | undefined) => S,
): Labelled<S, L> {
  if (options === undefined || !('labels' in options || 'maxSeries' in options)) return make(options) as Labelled<S, L>;
  const { labels, maxSeries, ...rest } = options;
  const spec = make(rest as unknown as O);
  if (labels === undefined || labels.length === 0) {
    if (maxSeries !== undefined) throw new MmstatsError('ERR_MMSTATS_LABEL', 'maxSeries is an option of labelled fields; give labels too');
    return spec as Labelled<S, L>;
  }
  return new FamilySpec(spec, labels, maxSeries) as unknown as Labelled<S, L>;
}

/** Check a family's label names; throws ERR_MMSTATS_LABEL naming the problem. */
function checkLabelNames(names: readonly unknown[]): void {
  if (!Array.isArray(names)) throw new MmstatsError('ERR_MMSTATS_LABEL', 'labels must be an array of label names');
  if (names.length > FamilyLimits.MAX_LABELS) {
    throw new MmstatsError('ERR_MMSTATS_LABEL', `a family has at most ${FamilyLimits.MAX_LABELS} labels, not ${names.length}`);
  }
  const seen = new Set<string>();
  for (const n of names) {
    if (typeof n !== 'string' || !NAME_PATTERN.test(n) || n.length > FamilyLimits.MAX_LABEL_NAME_BYTES) {
      throw new MmstatsError(
        'ERR_MMSTATS_LABEL',
        `label name ${JSON.stringify(n)} is not a name ([a-zA-Z_][a-zA-Z0-9_]*, at most ${FamilyLimits.MAX_LABEL_NAME_BYTES} characters)`,
      );
    }
    if (n.startsWith('__')) throw new MmstatsError('ERR_MMSTATS_LABEL', `label name ${n}: names starting with __ are reserved`);
    if (RESERVED_NAMES.has(n)) throw new MmstatsError('ERR_MMSTATS_LABEL', `label name ${n} is reserved for the exposition`);
    if (seen.has(n)) throw new MmstatsError('ERR_MMSTATS_LABEL', `label name ${n} is given twice`);
    seen.add(n);
  }
}

/** A field spec made into a family: `labels` set on any `field.*` factory gives one. */
export class FamilySpec<F extends Field = Field, L extends readonly string[] = readonly string[]> extends FieldSpec<Family<F, L>> {
  readonly typeName: string;
  readonly labelNames: L;
  readonly maxSeries: number;
  /** @internal The children's layout and the slot geometry. */
  readonly meta: FamilyMeta;
  /** @internal */
  readonly childLayout: V2Layout;
  private readonly extra: Uint8Array;

  constructor(
    /** The spec of every child. */
    readonly child: FieldSpec<F>,
    labelNames: L,
    maxSeries: number = DEFAULT_MAX_SERIES,
  ) {
    super(child.options as FieldOptions);
    checkLabelNames(labelNames);
    this.typeName = `labelled ${child.typeName}`;
    if (!Number.isInteger(maxSeries) || maxSeries < 1 || maxSeries > FamilyLimits.MAX_SERIES) {
      throw new MmstatsError(
        'ERR_MMSTATS_LABEL',
        `maxSeries must be a whole number from 1 to ${FamilyLimits.MAX_SERIES}, not ${maxSeries}`,
      );
    }
    this.labelNames = Object.freeze([...labelNames]) as unknown as L;
    this.maxSeries = maxSeries;
    const layout = child.v2();
    if (layout.flags & RecordFlags.STATIC || layout.dataType === DataType.FAMILY) {
      throw new MmstatsError('ERR_MMSTATS_UNSUPPORTED', `a ${child.typeName} field cannot be labelled`);
    }
    this.childLayout = layout;
    const capacity = FamilyLimits.MAX_LABEL_VALUE_BYTES;
    this.meta = {
      childDataType: layout.dataType,
      childFlags: layout.flags,
      childParam: layout.param,
      childValueSize: layout.valueSize,
      childParts: layout.parts,
      childBounds: layout.bounds,
      labelNames: this.labelNames,
      labelCapacity: capacity,
      maxSeries,
      ...slotGeometry(labelNames.length, capacity, layout.valueSize),
    };
    this.extra = encodeFamilyExtra(this.meta);
    if (this.extra.length > 0xffff) {
      throw new MmstatsError(
        'ERR_MMSTATS_UNSUPPORTED',
        `a labelled ${child.typeName} of this size cannot be described in a record (too many buckets)`,
      );
    }
  }

  v2(): V2Layout {
    return {
      dataType: DataType.FAMILY,
      kind: this.childLayout.kind,
      flags: 0,
      param: this.labelNames.length,
      valueSize: Directory.SIZE,
      align: 8,
      parts: [],
      bounds: new Float64Array(0),
      extra: this.extra,
    };
  }

  /** Format 1 has no families. */
  v1(): V1Layout | undefined {
    return undefined;
  }

  create(label: string, at: Placement): Family<F, L> {
    this.familyClass ??= namedLookupClass(FAMILY_CLASSES[this.labelNames.length] ?? Family, this.labelNames);
    return new this.familyClass(label, at, this as unknown as FamilySpec) as unknown as Family<F, L>;
  }

  /** The family class of this spec: its `labels` reads the label names as named properties. */
  private familyClass: FamilyClass | undefined;
}

/** One level of the lookup trie: label value → next level, or the child at the last level. */
type Level = Map<unknown, unknown>;

interface LevelInfo {
  /** Children below this level. */
  count: number;
  readonly parent: Level;
  /** The keys the parent holds this level under (the value, and its number forms). */
  readonly keys: unknown[];
}

interface Child<F> {
  readonly field: F;
  readonly slot: number;
  /** The level that holds the child, and the keys it is held under. */
  readonly leaf: Level;
  readonly leafKeys: unknown[];
}

/** A previous child of a kept file, re-created when the file is reopened. */
export interface PreviousChild {
  readonly state: number;
  readonly values: readonly string[];
  readonly bytes: Uint8Array;
}

const utf8 = new TextEncoder();

/**
 * A labelled family: the model property of a field declared with `labels`.
 * `with(...)` and `labels({...})` return the child of a label set (the same
 * object each time); `remove` and `clear` take children away. A child is a field
 * of the family's type; after removal a kept handle still works but writes into
 * scratch memory (its updates are lost, as with Prometheus's Go client).
 */
export class Family<F extends Field = Field, L extends readonly string[] = readonly string[]> extends Field {
  /** The label names, in order. */
  readonly labelNames: L;
  /** Most live children; past it, new label sets share the overflow child. */
  readonly maxSeries: number;
  private readonly spec: FamilySpec;
  private readonly meta: FamilyMeta;
  private bytes!: Uint8Array;
  private i32!: Int32Array;
  private buffer!: ArrayBuffer;
  private heap: Heap | undefined;
  private dir = 0;
  /** @internal The lookup trie's root. */
  protected readonly root: Level = new Map();
  private readonly levels = new Map<Level, LevelInfo>();
  private readonly byKey = new Map<string, Child<F>>();
  private overflow: { readonly field: F; readonly slot: number } | undefined;
  private readonly freeSlots: number[] = [];
  private lastChunk = 0;
  private chunkSlots = 0;
  private chunkUsed = 0;
  private slotCount = 0;
  private warned = false;
  private readonly scratch: Placement;

  /** @internal Use a `field.*` factory with `labels`. */
  constructor(label: string, at: Placement, spec: FamilySpec) {
    super(label);
    this.spec = spec;
    this.meta = spec.meta;
    this.labelNames = spec.labelNames as unknown as L;
    this.maxSeries = spec.maxSeries;
    const scratch = new ArrayBuffer(Math.max(8, this.meta.slotSize - this.meta.slotValueOffset));
    this.scratch = { format: 2, buffer: scratch, offset: 0, writeBufferOffset: 0, copySize: 0 };
    this.bind(at);
  }

  /** Live children (the overflow child not counted). */
  get size(): number {
    return this.byKey.size;
  }

  /** @internal */
  bind(at: Placement): void {
    this.buffer = at.buffer;
    this.bytes = new Uint8Array(at.buffer);
    this.i32 = new Int32Array(at.buffer, 0, at.buffer.byteLength >> 2);
    this.dir = at.offset;
    this.heap = at.heap;
    for (const c of this.byKey.values()) c.field.bind(this.placement(c.slot));
    if (this.overflow) this.overflow.field.bind(this.placement(this.overflow.slot));
  }

  /** @internal Close the children with the family. */
  override markClosed(): void {
    for (const c of this.byKey.values()) c.field.markClosed();
    this.overflow?.field.markClosed();
    super.markClosed();
  }

  /**
   * The child of a label set, values in label order: `with('GET', 200)`. The same
   * values give the same object; a hit allocates nothing (for up to 4 labels).
   */
  with(...values: LabelValues<L>): F {
    if (values.length === this.labelNames.length) {
      let node: unknown = this.root;
      for (let i = 0; i < values.length && node !== undefined; i++) node = (node as Level).get(values[i]);
      if (node !== undefined) return node as F;
    }
    return this.lookup(values);
  }

  /** The child of a label set by name: `labels({ method: 'GET', status: 200 })`. */
  labels(set: LabelSet<L>): F {
    // Replaced per spec by `namedLookupClass` (named loads); this is the same walk with keyed loads.
    const names = this.labelNames;
    let node: unknown = this.root;
    for (let i = 0; i < names.length; i++) {
      node = (node as Level).get((set as Record<string, unknown>)[names[i]!]);
      if (node === undefined) return this.lookupNamed(set);
    }
    let given = 0;
    // eslint-disable-next-line @typescript-eslint/no-unused-vars -- counting keys: for-in allocates nothing, Object.keys would
    for (const _ in set) given++;
    if (given !== names.length) return this.lookupNamed(set);
    return node as F;
  }

  /**
   * Remove the child of a label set (values in order, or one object by name).
   * Readers stop seeing it; a kept handle writes into scratch memory from now on.
   * Returns false if there was no such child.
   */
  remove(...values: LabelValues<L>): boolean;
  remove(set: LabelSet<L>): boolean;
  remove(...args: unknown[]): boolean {
    const raw = args.length === 1 && typeof args[0] === 'object' && args[0] !== null ? this.valuesOf(args[0] as LabelSet<L>) : args;
    const { values } = this.canonical(raw);
    const key = JSON.stringify(values);
    const child = this.byKey.get(key);
    if (!child) return false;
    this.byKey.delete(key);
    this.unlink(child);
    this.release(child);
    return true;
  }

  /** Remove every child, the overflow child too. */
  clear(): void {
    for (const c of this.byKey.values()) this.release(c);
    this.byKey.clear();
    this.root.clear();
    this.levels.clear();
    if (this.overflow) this.release(this.overflow);
    this.overflow = undefined;
  }

  /** @internal Re-create the children of a kept file, with their labels and values. */
  restore(children: readonly PreviousChild[]): void {
    for (const c of children) {
      if (c.bytes.length !== this.meta.childValueSize) continue;
      if (c.state === SlotState.OVERFLOW) {
        if (!this.overflow) this.overflow = this.claimChild(null, SlotState.OVERFLOW, overflowLabel(this.label), c.bytes);
        continue;
      }
      let canon: { values: string[]; encoded: Uint8Array[] };
      try {
        canon = this.canonical(c.values);
      } catch {
        continue; // a value this version would refuse: not carried over
      }
      const key = JSON.stringify(canon.values);
      if (this.byKey.has(key) || this.byKey.size >= this.maxSeries) continue;
      this.createChild(canon.values, canon.encoded, key, c.bytes);
    }
  }

  /** The miss path of `with`: check the values, find or make the child, remember the keys as given. */
  protected lookup(raw: readonly unknown[]): F {
    const { values, encoded } = this.canonical(raw);
    const key = JSON.stringify(values);
    let child = this.byKey.get(key);
    if (!child) {
      if (this.byKey.size >= this.maxSeries) return this.overflowChild();
      child = this.createChild(values, encoded, key);
    }
    this.addAliases(child, raw, values);
    return child.field;
  }

  /** @internal The miss path of `labels`. */
  lookupNamed(set: LabelSet<L>): F {
    return this.lookup(this.valuesOf(set));
  }

  /** The values of a label set by name, in label order; unknown or missing names are errors. */
  private valuesOf(set: LabelSet<L>): unknown[] {
    if (typeof set !== 'object' || set === null) throw new MmstatsError('ERR_MMSTATS_LABEL', `${this.label}: labels must be an object`);
    const names = this.labelNames;
    for (const k of Object.keys(set)) {
      if (!names.includes(k)) throw new MmstatsError('ERR_MMSTATS_LABEL', `${this.label} has no label ${k} (labels: ${names.join(', ')})`);
    }
    return names.map((n) => {
      const v = (set as Record<string, unknown>)[n];
      if (v === undefined) throw new MmstatsError('ERR_MMSTATS_LABEL', `${this.label}: label ${n} is missing`);
      return v;
    });
  }

  /** Check label values and give their canonical strings and UTF-8 bytes; throws ERR_MMSTATS_LABEL. */
  private canonical(raw: readonly unknown[]): { values: string[]; encoded: Uint8Array[] } {
    const names = this.labelNames;
    if (raw.length !== names.length) {
      throw new MmstatsError(
        'ERR_MMSTATS_LABEL',
        `${this.label} takes ${names.length} label values (${names.join(', ')}), not ${raw.length}`,
      );
    }
    const values: string[] = [];
    const encoded: Uint8Array[] = [];
    for (let i = 0; i < raw.length; i++) {
      const r = raw[i];
      if (typeof r !== 'string' && typeof r !== 'number') {
        throw new MmstatsError('ERR_MMSTATS_LABEL', `${this.label}: label ${names[i]} must be a string or a number, not ${typeof r}`);
      }
      const v = String(r);
      if (!(v as string & { isWellFormed(): boolean }).isWellFormed())
        throw new MmstatsError('ERR_MMSTATS_LABEL', `${this.label}: label ${names[i]} is not valid Unicode (a lone surrogate)`);
      const bytes = utf8.encode(v);
      if (bytes.length > this.meta.labelCapacity) {
        throw new MmstatsError(
          'ERR_MMSTATS_LABEL',
          `${this.label}: label ${names[i]} is ${bytes.length} bytes long; values hold at most ${this.meta.labelCapacity}`,
        );
      }
      values.push(v);
      encoded.push(bytes);
    }
    return { values, encoded };
  }

  private createChild(values: string[], encoded: Uint8Array[], key: string, initial?: Uint8Array): Child<F> {
    const claimed = this.claimChild(encoded, SlotState.LIVE, seriesLabel(this.label, this.labelNames, values), initial);
    // The canonical path: one level per label but the last, which holds the child.
    let level = this.root;
    const n = values.length;
    for (let i = 0; i < n - 1; i++) {
      let next = level.get(values[i]) as Level | undefined;
      if (next === undefined) {
        next = new Map();
        level.set(values[i], next);
        this.levels.set(next, { count: 0, parent: level, keys: [values[i]] });
      }
      this.levels.get(next)!.count++;
      level = next;
    }
    level.set(values[n - 1], claimed.field);
    const child: Child<F> = { ...claimed, leaf: level, leafKeys: [values[n - 1]] };
    this.byKey.set(key, child);
    return child;
  }

  /** Hold the path of `child` also under the values as given (numbers), so that the next call with them hits. */
  private addAliases(child: Child<F>, raw: readonly unknown[], values: readonly string[]): void {
    let level = this.root;
    for (let i = 0; i < values.length; i++) {
      const target = level.get(values[i]);
      if (raw[i] !== values[i] && !level.has(raw[i])) {
        level.set(raw[i], target);
        if (i < values.length - 1) this.levels.get(target as Level)!.keys.push(raw[i]);
        else child.leafKeys.push(raw[i]);
      }
      level = target as Level;
    }
  }

  /** Take a child out of the trie, and the levels it leaves empty. */
  private unlink(child: Child<F>): void {
    for (const k of child.leafKeys) child.leaf.delete(k);
    let level = child.leaf;
    while (level !== this.root) {
      const info = this.levels.get(level)!;
      if (--info.count === 0) {
        for (const k of info.keys) info.parent.delete(k);
        this.levels.delete(level);
      }
      level = info.parent;
    }
  }

  private overflowChild(): F {
    if (!this.warned) {
      this.warned = true;
      process.emitWarning(
        `mmstats: ${this.label} reached its limit of ${this.maxSeries} label sets; updates of new label sets go to ${overflowLabel(this.label)}`,
        { code: 'MMSTATS_CARDINALITY', detail: 'Remove children that are no longer needed, or raise maxSeries.' },
      );
    }
    this.overflow ??= this.claimChild(null, SlotState.OVERFLOW, overflowLabel(this.label));
    return this.overflow.field;
  }

  private placement(slot: number): Placement {
    return { format: 2, buffer: this.buffer, offset: slot + this.meta.slotValueOffset, writeBufferOffset: 0, copySize: 0, heap: this.heap };
  }

  /**
   * Claim a slot for a child and make the child over it: the slot's sequence is odd
   * while its state, labels and value change, then even (the slot protocol).
   */
  private claimChild(labels: readonly Uint8Array[] | null, state: number, label: string, initial?: Uint8Array): { field: F; slot: number } {
    const slot = this.freeSlots.pop() ?? this.newSlot();
    const m = this.meta;
    const seq = (slot + Slot.SEQ) >> 2;
    const even = (Atomics.load(this.i32, seq) + 1) & ~1;
    Atomics.store(this.i32, seq, even + 1);
    Atomics.load(this.i32, seq); // what follows stays after the odd sequence (see format/seqlock.ts)
    let field: F;
    try {
      this.i32[(slot + Slot.STATE) >> 2] = state;
      writeSlotLabels(this.bytes, slot, m, labels);
      const value = slot + m.slotValueOffset;
      this.bytes.fill(0, value, slot + m.slotSize);
      if (initial) {
        this.bytes.set(initial, value);
        if (m.childFlags & RecordFlags.SEQLOCK) this.i32[(value + Seqlocked.SEQUENCE) >> 2] = 0;
      }
      field = this.spec.child.create(label, this.placement(slot)) as F;
    } catch (err) {
      this.i32[(slot + Slot.STATE) >> 2] = SlotState.FREE;
      Atomics.store(this.i32, seq, even + 2);
      this.freeSlots.push(slot);
      throw err;
    }
    Atomics.store(this.i32, seq, even + 2);
    Atomics.add(this.i32, (this.dir + Directory.LIVE) >> 2, 1);
    return { field, slot };
  }

  /** Detach a child from its slot and free the slot for reuse. */
  private release(child: { field: F; slot: number }): void {
    child.field.bind(this.scratch); // from now on a kept handle cannot write into the slot
    child.field.detached = true;
    const slot = child.slot;
    const seq = (slot + Slot.SEQ) >> 2;
    const s = Atomics.load(this.i32, seq);
    Atomics.store(this.i32, seq, s + 1);
    Atomics.load(this.i32, seq);
    this.i32[(slot + Slot.STATE) >> 2] = SlotState.FREE;
    writeSlotLabels(this.bytes, slot, this.meta, null);
    Atomics.store(this.i32, seq, s + 2);
    Atomics.sub(this.i32, (this.dir + Directory.LIVE) >> 2, 1);
    this.freeSlots.push(slot);
  }

  /** A never-used slot: the next of the last chunk, or the first of a new chunk linked after it. */
  private newSlot(): number {
    const m = this.meta;
    if (this.lastChunk !== 0 && this.chunkUsed < this.chunkSlots) return this.lastChunk + Chunk.SLOTS + this.chunkUsed++ * m.slotSize;
    if (!this.heap) throw new MmstatsError('ERR_MMSTATS_UNSUPPORTED', `${this.label}: this storage cannot hold labelled children`);
    const room = this.maxSeries + 1 - this.slotCount; // every live child, and the overflow child
    const grow = this.lastChunk === 0 ? 4 : Math.min(this.chunkSlots * 2, FamilyLimits.MAX_CHUNK_SLOTS);
    const count = Math.max(1, Math.min(room, grow, Math.floor(CHUNK_BYTES / m.slotSize)));
    const chunk = this.heap.alloc(Chunk.SLOTS + count * m.slotSize); // may move the mapping: bind runs first
    this.i32[(chunk + Chunk.SLOT_COUNT) >> 2] = count;
    this.i32[(chunk + Chunk.FIRST_INDEX) >> 2] = this.slotCount;
    const link = this.lastChunk === 0 ? this.dir + Directory.FIRST_CHUNK : this.lastChunk + Chunk.NEXT;
    Atomics.store(this.i32, link >> 2, chunk); // the chunk is complete before a reader can find it
    this.slotCount += count;
    Atomics.store(this.i32, (this.dir + Directory.SLOTS) >> 2, this.slotCount);
    this.lastChunk = chunk;
    this.chunkSlots = count;
    this.chunkUsed = 1;
    return chunk + Chunk.SLOTS;
  }
}

/** A chunk holds at most this many bytes of slots (at least one slot). */
const CHUNK_BYTES = 64 << 10;

/*
 * Families of 1 to 4 labels: `with` takes its values as parameters, not as a rest
 * array, so a hit allocates nothing even when V8 does not inline it. `arguments`
 * is read only for its length, which V8 computes without making the object.
 */
/* eslint-disable prefer-rest-params */
class Family1 extends Family {
  override with(a: LabelValue): Field {
    if (arguments.length === 1) {
      const c = this.root.get(a);
      if (c !== undefined) return c as Field;
    }
    return this.lookup(arguments.length === 1 ? [a] : Array.from(arguments));
  }
}
class Family2 extends Family {
  override with(a: LabelValue, b: LabelValue): Field {
    if (arguments.length === 2) {
      const l = this.root.get(a) as Level | undefined;
      if (l !== undefined) {
        const c = l.get(b);
        if (c !== undefined) return c as Field;
      }
    }
    return this.lookup(arguments.length === 2 ? [a, b] : Array.from(arguments));
  }
}
class Family3 extends Family {
  override with(a: LabelValue, b: LabelValue, c: LabelValue): Field {
    if (arguments.length === 3) {
      const l = this.root.get(a) as Level | undefined;
      const m = l === undefined ? undefined : (l.get(b) as Level | undefined);
      if (m !== undefined) {
        const f = m.get(c);
        if (f !== undefined) return f as Field;
      }
    }
    return this.lookup(arguments.length === 3 ? [a, b, c] : Array.from(arguments));
  }
}
class Family4 extends Family {
  override with(a: LabelValue, b: LabelValue, c: LabelValue, d: LabelValue): Field {
    if (arguments.length === 4) {
      const l = this.root.get(a) as Level | undefined;
      const m = l === undefined ? undefined : (l.get(b) as Level | undefined);
      const n = m === undefined ? undefined : (m.get(c) as Level | undefined);
      if (n !== undefined) {
        const f = n.get(d);
        if (f !== undefined) return f as Field;
      }
    }
    return this.lookup(arguments.length === 4 ? [a, b, c, d] : Array.from(arguments));
  }
}
/* eslint-enable prefer-rest-params */

type FamilyClass = new (label: string, at: Placement, spec: FamilySpec) => Family;

/**
 * A subclass whose `labels` reads each label as a named property (`set.method`),
 * compiled once per spec: V8 turns a named load into one check and one load, where
 * the generic walk's keyed loads by a name taken from an array cost several times
 * as much (BENCHMARKS.md, "Labelled families"). The names are
 * checked identifiers ([a-zA-Z_][a-zA-Z0-9_]*), so the source is safe to compile.
 * Keys are still counted on a hit, so an unknown name is an error there too.
 * Past 4 labels (Family1 to Family4 are written out), `with` is compiled too, with
 * one parameter per label: a rest array would be a new array on every call that V8
 * does not inline.
 */
function namedLookupClass(base: FamilyClass, names: readonly string[]): FamilyClass {
  for (const n of names) if (!NAME_PATTERN.test(n)) throw new MmstatsError('ERR_MMSTATS_LABEL', `label name ${n} is not a name`);
  const walk = names.map(
    (n, i) => `node = ${i === 0 ? 'this.root' : 'node'}.get(set.${n}); if (node === undefined) return this.lookupNamed(set);`,
  );
  const labels = new Function(
    `return function labels(set) {\n  let node;\n  ${walk.join('\n  ')}\n  let given = 0;\n  for (const _ in set) given++;\n  return given === ${names.length} ? node : this.lookupNamed(set);\n}`,
  )() as Family['labels'];
  const cls = class extends base {};
  Object.defineProperty(cls.prototype, 'labels', { value: labels, writable: true, configurable: true });
  if (!(names.length in FAMILY_CLASSES)) {
    const n = names.length;
    const params = names.map((_, i) => `a${i}`);
    const levels = params.slice(1).map((p) => `if (node !== undefined) node = node.get(${p});`);
    const withValues = new Function(
      `return function (${params.join(', ')}) {\n  if (arguments.length === ${n}) {\n    let node = this.root.get(a0);\n    ${levels.join('\n    ')}\n    if (node !== undefined) return node;\n  }\n  return this.lookup(arguments.length === ${n} ? [${params.join(', ')}] : Array.from(arguments));\n}`,
    )() as Family['with'];
    Object.defineProperty(cls.prototype, 'with', { value: withValues, writable: true, configurable: true });
  }
  return cls;
}

const FAMILY_CLASSES: Readonly<Record<number, FamilyClass>> = {
  1: Family1,
  2: Family2,
  3: Family3,
  4: Family4,
};
