/**
 * Histograms: a fixed bucket layout in the file, either log-linear (like
 * HdrHistogram) over a range, or explicit upper bounds (like Prometheus).
 *
 * Log-linear layout, with `precision` p (default 7): the range is widened to
 * powers of two [2^emin, 2^emax]; each power-of-two octave [2^e, 2^(e+1)] is cut
 * into 2^p equal sub-buckets. A bucket's width is at most 2^-p of its lower bound
 * (p = 7: 0.78%), which bounds the error of any percentile a reader derives (see
 * src/reader/histogram.ts). Two more buckets catch what lies outside the range:
 * the first (upper bound 2^emin) holds every value at or below it, zero and
 * negatives included; the last (upper bound +Infinity) every value above 2^emax.
 *
 * Buckets follow Prometheus's `le` rule: bucket i counts the values v with
 * bound[i-1] < v <= bound[i]. The log-linear index is computed from the bits of
 * the double just below v (its exponent and its top p mantissa bits), which is
 * exact at every bound and needs neither a logarithm nor a search. Explicit
 * bounds use a binary search (they are few).
 *
 * A record is one seqlocked write of count, sum, min, max, last, one bucket and,
 * if asked, a moving mean of the last N values; it allocates nothing. NaN is not
 * recorded; +Infinity counts in the last bucket (and makes the sum infinite). In the file (DataType.HISTOGRAM): the five scalars, the bucket counts,
 * then any extra float64 values, each named by a part of the record.
 */
import { DataType, HistogramSlot as Slot, Kind, RecordFlags, Seqlocked, histogramValueSize, type PartMeta } from '../../format/v2.js';
import { Field, FieldSpec, type FieldOptions, type Placement, type V1Layout, type V2Layout } from '../field.js';
import { MovingWindow } from './average.js';
import { SeqBlock } from './seqblock.js';

/** Most buckets a histogram can have: its bounds are stored in the record's extra (u16 length). */
export const MAX_BUCKETS = 8190;

/** Options of a log-linear histogram. */
export interface LogLinearOptions {
  /** Lowest value told apart (default 1e-6); rounded down to a power of two. Must be > 0. */
  readonly lowest?: number;
  /** Highest value told apart (default 1e6); rounded up to a power of two. */
  readonly highest?: number;
  /** Sub-buckets per octave as a power of two, 1 to 16 (default 7: at most 0.78% relative bucket width). */
  readonly precision?: number;
}

/** Options of a histogram with explicit upper bounds. */
export interface ExplicitBucketsOptions {
  /** Upper bucket bounds, finite and strictly ascending; a +Infinity bucket is added. */
  readonly buckets: readonly number[];
}

/** Options of `field.histogram`. */
export type HistogramOptions = FieldOptions &
  (LogLinearOptions | ExplicitBucketsOptions) & {
    /** Also publish the moving mean of the last `moving` values (extra value `moving_mean`); 0 = none (default). */
    readonly moving?: number;
  };

/** A histogram field. */
export interface HistogramField extends Field {
  /** Count `value` (NaN is ignored): allocation-free. */
  record(value: number): void;
  /** Set every count back to zero. */
  reset(): void;
  /** Values recorded. */
  readonly count: number;
  /** Sum of the values recorded. */
  readonly sum: number;
  /** Smallest and largest value recorded (0 before any). */
  readonly min: number;
  readonly max: number;
  /** The value recorded last. */
  readonly last: number;
  /** The published moving mean (NaN without the `moving` option or before any value). */
  readonly movingMean: number;
}

/** @internal A bucket layout: bounds and the parameters of the index computation. */
export class BucketLayout {
  private constructor(
    /** Upper bounds, ascending, the last +Infinity. */
    readonly bounds: Float64Array,
    /** 0 for explicit bounds, else the precision p. */
    readonly precision: number,
    readonly emin: number,
    /** Lowest and highest finite bound (log-linear only). */
    readonly lowest: number,
    readonly highest: number,
  ) {}

  static logLinear(o: LogLinearOptions): BucketLayout {
    const lowest = o.lowest ?? 1e-6;
    const highest = o.highest ?? 1e6;
    const p = o.precision ?? 7;
    if (!Number.isInteger(p) || p < 1 || p > 16) throw new RangeError(`histogram precision must be an integer from 1 to 16, not ${p}`);
    if (!(lowest >= 2 ** -1000) || !Number.isFinite(lowest))
      throw new RangeError(`histogram lowest must be a number from 2^-1000, not ${lowest}`);
    if (!(highest > lowest) || highest > 2 ** 1000)
      throw new RangeError(`histogram highest must be above lowest and below 2^1000, not ${highest}`);
    const emin = Math.floor(Math.log2(lowest));
    const emax = Math.max(emin + 1, Math.ceil(Math.log2(highest)));
    const sub = 2 ** p;
    const n = (emax - emin) * sub + 2;
    if (n > MAX_BUCKETS) {
      throw new RangeError(
        `a histogram from ${lowest} to ${highest} at precision ${p} needs ${n} buckets, more than ${MAX_BUCKETS}: narrow the range or lower the precision`,
      );
    }
    const bounds = new Float64Array(n);
    bounds[0] = 2 ** emin;
    for (let e = emin; e < emax; e++) {
      for (let m = 0; m < sub; m++) bounds[1 + (e - emin) * sub + m] = 2 ** e * (1 + (m + 1) / sub);
    }
    bounds[n - 1] = Infinity;
    return new BucketLayout(bounds, p, emin, 2 ** emin, 2 ** emax);
  }

  static explicit(buckets: readonly number[]): BucketLayout {
    if (buckets.length === 0 || buckets.length >= MAX_BUCKETS)
      throw new RangeError(`a histogram needs 1 to ${MAX_BUCKETS - 1} bucket bounds`);
    for (let i = 0; i < buckets.length; i++) {
      const b = buckets[i]!;
      if (!Number.isFinite(b)) throw new RangeError(`histogram bucket bound ${b} is not finite (the +Infinity bucket is added for you)`);
      if (i > 0 && !(b > buckets[i - 1]!))
        throw new RangeError(`histogram bucket bounds must be strictly ascending: ${buckets[i - 1]} then ${b}`);
    }
    const bounds = new Float64Array(buckets.length + 1);
    bounds.set(buckets);
    bounds[buckets.length] = Infinity;
    return new BucketLayout(bounds, 0, 0, buckets[0]!, buckets[buckets.length - 1]!);
  }

  static from(o: LogLinearOptions | ExplicitBucketsOptions): BucketLayout {
    return 'buckets' in o && o.buckets !== undefined ? BucketLayout.explicit(o.buckets) : BucketLayout.logLinear(o as LogLinearOptions);
  }
}

/**
 * The 32-bit words of a float64 in a Uint32Array over it: the file is little-endian
 * (docs/FORMAT.md), and so is every host whose typed arrays can write it.
 */
const enum Word {
  LO = 0,
  HI = 1,
}

/**
 * @internal A histogram in a v2 file; timers are built on it.
 *
 * `record` only puts its value in a scratch slot and calls `recordHeld`: small
 * enough that V8 inlines it at every call site, so the caller's double never
 * crosses a call (V8 boxes a double passed to a call it does not inline in a new
 * heap number). `recordHeld` is the record, kept small and without a call on the
 * way of a log-linear bucket: V8 inlines it too while the caller's budget lasts
 * (about 900 bytes of bytecode for everything inlined into one function), and a
 * handler that records more metrics than that runs a call per record beyond it,
 * but allocates nothing (bench: three histograms and a timer in one function).
 */
export class V2Histogram extends SeqBlock implements HistogramField {
  readonly bounds: Float64Array;
  readonly buckets: number;
  readonly explicit: boolean;
  readonly lowest: number;
  readonly highest: number;
  /** Index of the last bucket (values above `highest`). */
  readonly top: number;
  /** Right shift that leaves the exponent and the top p mantissa bits of a high word. */
  readonly shift: number;
  /**
   * A log-linear bucket is `(hi >>> shift) - base`, hi the high word of the double just
   * below the value; -1 for explicit bounds (a search).
   */
  readonly base: number;
  /** The value being recorded, and its two 32-bit words. */
  readonly fbits = new Float64Array(1);
  readonly wbits = new Uint32Array(this.fbits.buffer);
  readonly moving: MovingWindow | null;

  constructor(label: string, at: Placement, layout: BucketLayout, moving: number) {
    super(label, at, Slot.BUCKETS + layout.bounds.length + (moving > 0 ? 1 : 0));
    this.bounds = layout.bounds;
    this.buckets = layout.bounds.length;
    this.explicit = layout.precision === 0;
    this.lowest = layout.lowest;
    this.highest = layout.highest;
    this.top = this.buckets - 1;
    this.shift = 20 - layout.precision;
    // (hi >>> shift) is (exponent + 1023) * 2^p plus the top p mantissa bits, and the
    // bucket of a value in range is 1 + (exponent - emin) * 2^p plus those bits.
    this.base = this.explicit ? -1 : ((1023 + layout.emin) << layout.precision) - 1;
    this.moving = moving > 0 ? new MovingWindow(moving) : null;
    if (this.moving) this.f64[Slot.BUCKETS + this.buckets] = NaN;
  }

  /**
   * Count `value` (NaN is ignored) in one seqlocked write of count, sum, min, max,
   * last and its bucket (by `recordHeld`). The bucket comes from the bits of the double just below the
   * value (its bit pattern minus one: only the high word matters, and it drops by one
   * exactly when the low word is zero): its exponent and top p mantissa bits, so that
   * a bound counts in its own bucket (le). (A closed field throws through the own
   * properties `markClosed` sets, so there is no check here.)
   */
  record(value: number): void {
    this.fbits[0] = value;
    this.recordHeld();
  }

  /** Record the value left in `fbits[0]` (see `record`). */
  recordHeld(): void {
    const value = this.fbits[0]!;
    if (value !== value) return;
    const f = this.f64;
    this.beginWrite();
    const c = f[Slot.COUNT]!;
    f[Slot.COUNT] = c + 1;
    f[Slot.SUM] += value;
    if (c === 0 || value < f[Slot.MIN]!) f[Slot.MIN] = value;
    if (c === 0 || value > f[Slot.MAX]!) f[Slot.MAX] = value;
    f[Slot.LAST] = value;
    const w = this.wbits;
    f[
      Slot.BUCKETS +
        (value <= this.lowest
          ? 0
          : value > this.highest
            ? this.top
            : this.base < 0
              ? this.search()
              : ((w[Word.HI]! - (w[Word.LO] === 0 ? 1 : 0)) >>> this.shift) - this.base)
    ] += 1;
    if (this.moving !== null) this.addMoving();
    this.endWrite();
  }

  /** The moving mean's share of a record (of `fbits[0]`), out of line: only timers have one by default. */
  addMoving(): void {
    const m = this.moving!;
    m.addHeld(this.fbits);
    this.f64[Slot.BUCKETS + this.buckets] = m.sum / m.n;
  }

  /** Where `recordHeld` takes its value from (a timer writes its durations there). */
  get input(): Float64Array {
    return this.fbits;
  }

  /** The bucket `v` would be counted in (for checks of the layout; not a hot path). */
  bucketOf(v: number): number {
    this.fbits[0] = v;
    if (!(v > this.lowest)) return 0;
    if (v > this.highest) return this.top;
    if (this.base < 0) return this.search();
    return ((this.wbits[Word.HI]! - (this.wbits[Word.LO] === 0 ? 1 : 0)) >>> this.shift) - this.base;
  }

  /** Bucket of `fbits[0]` among explicit bounds: a binary search (they are few). */
  search(): number {
    const v = this.fbits[0]!;
    const b = this.bounds;
    let lo = 0;
    let hi = b.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (v <= b[mid]!) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  reset(): void {
    if (this.closed) this.useAfterClose();
    this.beginWrite();
    this.f64.fill(0);
    if (this.moving) {
      this.moving.reset();
      this.f64[Slot.BUCKETS + this.buckets] = NaN;
    }
    this.endWrite();
  }

  get count(): number {
    if (this.closed) this.useAfterClose();
    return this.f64[Slot.COUNT]!;
  }
  get sum(): number {
    if (this.closed) this.useAfterClose();
    return this.f64[Slot.SUM]!;
  }
  get min(): number {
    if (this.closed) this.useAfterClose();
    return this.f64[Slot.MIN]!;
  }
  get max(): number {
    if (this.closed) this.useAfterClose();
    return this.f64[Slot.MAX]!;
  }
  get last(): number {
    if (this.closed) this.useAfterClose();
    return this.f64[Slot.LAST]!;
  }
  /** The moving mean when published, else the mean of every value (NaN before any). */
  get mean(): number {
    return this.moving ? this.movingMean : this.count > 0 ? this.sum / this.count : NaN;
  }
  get movingMean(): number {
    if (this.closed) this.useAfterClose();
    return this.moving ? this.f64[Slot.BUCKETS + this.buckets]! : NaN;
  }
}

/** Name of the extra value holding the moving mean, in histograms and timers. */
export const MOVING_MEAN = 'moving_mean';

/** The v2 layout of a histogram (kind HISTOGRAM or TIMER) with an optional moving mean. */
export function histogramLayout(layout: BucketLayout, kind: number, moving: number): V2Layout {
  const n = layout.bounds.length;
  const parts: PartMeta[] =
    moving > 0 ? [{ name: MOVING_MEAN, dataType: DataType.FLOAT64, offset: Seqlocked.PAYLOAD + (Slot.BUCKETS + n) * 8 }] : [];
  return {
    dataType: DataType.HISTOGRAM,
    kind,
    flags: RecordFlags.SEQLOCK,
    param: n,
    valueSize: histogramValueSize(n) + parts.length * 8,
    align: 8,
    parts,
    bounds: layout.bounds,
  };
}

/** Check a moving-mean size option: 0 (none) or a window size. */
export function checkMoving(moving: number | undefined, fallback: number): number {
  const m = moving ?? fallback;
  if (m !== 0) new MovingWindow(m); // throws a RangeError naming the bad size
  return m;
}

/** A histogram (v2 only: format 1 has no way to store buckets). */
export class HistogramSpec extends FieldSpec<HistogramField> {
  readonly typeName = 'histogram';
  readonly layout: BucketLayout;
  readonly moving: number;
  constructor(options: HistogramOptions = {}) {
    super(options);
    this.layout = BucketLayout.from(options);
    this.moving = checkMoving(options.moving, 0);
  }
  v2(): V2Layout {
    return histogramLayout(this.layout, Kind.HISTOGRAM, this.moving);
  }
  v1(): V1Layout | undefined {
    return undefined;
  }
  create(label: string, at: Placement): HistogramField {
    return new V2Histogram(label, at, this.layout, this.moving);
  }
}
