/**
 * prom-client's Summary, with quantiles over a sliding window computed from
 * log-linear histograms (mmstats's own histogram field) instead of t-digests.
 *
 * The window is `ageBuckets` slots of `maxAgeSeconds / ageBuckets` each: a value is
 * counted in the current slot, a rotation empties the oldest slot and makes it
 * current, and a quantile is read from the sum of every slot. That is the span
 * prom-client's window covers (between maxAge minus one slot and maxAge). Without
 * `maxAgeSeconds` and `ageBuckets` there is one slot, never emptied, as in prom-client.
 *
 * Accuracy (docs/MIGRATING.md): the quantile is interpolated inside the bucket that
 * holds its rank, between the bucket's bounds clamped to the window's min and max.
 * Buckets are 2^-7 (0.78%) of their value wide from 2^-20 (about 1e-6) to 2^30
 * (about 1e9), so the result is within 0.78% of the exact quantile of the window's
 * values there; values at or below 2^-20 (zero and negatives included) share the
 * first bucket and values above 2^30 the last, where only the min and max bound it.
 * prom-client's t-digest has no fixed bound (it is most exact near 0 and 1).
 */
import { HistogramSlot as Slot } from '../../format/v2.js';
import { BaseMetric, metricStorage, type Series } from './metric.js';
import type { CellFamily, LogHistogramCell, MetricMeta } from './storage.js';
import type { CollectFunction, LabelValues, MetricConfiguration, MetricObjectWithValues, MetricValueWithName } from './types.js';
import { getLabels, isObject, notANumber, validateLabel } from './validation.js';

export interface SummaryConfiguration<T extends string> extends MetricConfiguration<T> {
  percentiles?: number[];
  maxAgeSeconds?: number;
  ageBuckets?: number;
  pruneAgedBuckets?: boolean;
  compressCount?: number;
  collect?: CollectFunction<Summary<T>>;
}

// eslint-disable-next-line @typescript-eslint/no-namespace
export declare namespace Summary {
  interface Internal<T extends string> {
    observe(value: number): void;
    startTimer(): (labels?: LabelValues<T>) => number;
  }
  interface Config {
    percentiles?: number[];
  }
}

/** prom-client's default percentiles. */
export const DEFAULT_PERCENTILES = [0.01, 0.05, 0.5, 0.9, 0.95, 0.99, 0.999];

/** The sliding window of one label set. */
export class Window {
  current = 0;
  lastRotate = Date.now();
  readonly rotateMs: number;
  constructor(
    readonly slots: LogHistogramCell[],
    maxAgeSeconds: number | undefined,
    ageBuckets: number | undefined,
  ) {
    this.rotateMs = maxAgeSeconds && ageBuckets ? (maxAgeSeconds * 1000) / ageBuckets : Infinity;
  }

  /** Empty the slots whose time is over (lazily, as prom-client rotates). */
  rotate(): void {
    let since = Date.now() - this.lastRotate;
    if (!(since > this.rotateMs)) return;
    const n = this.slots.length;
    for (let k = 0; since > this.rotateMs && k < n; k++) {
      this.current = (this.current + 1) % n;
      this.slots[this.current]!.reset();
      since -= this.rotateMs;
      this.lastRotate += this.rotateMs;
    }
    // A window idle for longer than its span: every slot is empty now.
    if (since > this.rotateMs) this.lastRotate += Math.floor(since / this.rotateMs) * this.rotateMs;
  }

  push(v: number): void {
    this.rotate();
    this.slots[this.current]!.record(v);
  }

  /** Values in the window. */
  size(): number {
    this.rotate();
    let n = 0;
    for (const s of this.slots) n += s.count;
    return n;
  }

  reset(): void {
    for (const s of this.slots) s.reset();
  }

  /** The quantiles `qs` (each 0 to 1, any order) of the window's values; NaN when it is empty. */
  quantiles(qs: readonly number[]): number[] {
    this.rotate();
    const slots = this.slots;
    const first = slots[0]!;
    const nb = first.buckets;
    const bounds = first.bounds;
    let total = 0;
    let min = Infinity;
    let max = -Infinity;
    for (const s of slots) {
      const c = s.f64[Slot.COUNT]!;
      if (c > 0) {
        total += c;
        min = Math.min(min, s.f64[Slot.MIN]!);
        max = Math.max(max, s.f64[Slot.MAX]!);
      }
    }
    const out = qs.map(() => NaN);
    if (!(total > 0)) return out;
    const order = qs.map((q, i) => ({ q, i })).sort((a, b) => a.q - b.q);
    let k = 0;
    let cum = 0;
    for (let i = 0; i < nb && k < order.length; i++) {
      let c = 0;
      for (const s of slots) c += s.f64[Slot.BUCKETS + i]!;
      if (!(c > 0)) continue;
      while (k < order.length) {
        const { q, i: at } = order[k]!;
        const rank = q * total;
        if (q <= 0) out[at] = min;
        else if (q >= 1) out[at] = max;
        else {
          if (rank > cum + c) break;
          const lo = i === 0 ? min : Math.max(bounds[i - 1]!, min);
          const hi = Math.min(bounds[i]!, max);
          out[at] = hi > lo ? lo + ((hi - lo) * (rank - cum)) / c : hi;
        }
        k++;
      }
      cum += c;
    }
    for (; k < order.length; k++) out[order[k]!.i] = max;
    return out;
  }
}

interface SummarySeries extends Series {
  readonly window: Window;
  readonly slotValues: string[][];
  count: number;
  sum: number;
}

/** Quantiles over a sliding window, with count and sum (prom-client's `Summary`). */
export class Summary<T extends string = string> extends BaseMetric<T, SummarySeries> {
  declare readonly type: 'summary';
  readonly percentiles: number[];
  readonly maxAgeSeconds: number | undefined;
  readonly ageBuckets: number | undefined;
  readonly pruneAgedBuckets: boolean;
  readonly compressCount: number;
  private readonly cells: CellFamily<LogHistogramCell>;

  constructor(configuration: SummaryConfiguration<T>) {
    super(configuration);
    (this as { type: string }).type = 'summary';
    for (const label of this.labelNames) if (label === 'quantile') throw new Error('quantile is a reserved label keyword');
    this.percentiles = configuration.percentiles ?? DEFAULT_PERCENTILES;
    this.maxAgeSeconds = configuration.maxAgeSeconds;
    this.ageBuckets = configuration.ageBuckets;
    this.pruneAgedBuckets = configuration.pruneAgedBuckets ?? false;
    this.compressCount = configuration.compressCount ?? 1000;
    this.cells = metricStorage().summary(this.name, this.help, this.labelNames);
    if (this.labelNames.length === 0) this.create({});
    this.register();
  }

  protected override meta(): MetricMeta | undefined {
    const defaults = this.percentiles === DEFAULT_PERCENTILES;
    if (this.aggregator === 'sum' && defaults) return undefined;
    return { aggregator: this.aggregator, ...(defaults ? {} : { percentiles: this.percentiles }) };
  }

  /** Count `value`. */
  observe(value: number): void;
  observe(labels: LabelValues<T>, value: number): void;
  observe(labels: any, value?: any): void {
    labels = labels === 0 ? 0 : labels || {};
    let at = labels;
    if (value === undefined) {
      value = labels;
      at = {};
    }
    if (at !== labels && isObject(labels)) validateLabel(this.labelNames, labels);
    const s = this.find(at);
    if (!Number.isFinite(value)) throw notANumber(value);
    this.record(s ?? this.create(at), value);
  }

  private record(s: SummarySeries, value: number): void {
    s.window.push(value);
    s.count++;
    s.sum += value;
  }

  async get(): Promise<MetricObjectWithValues<MetricValueWithName<T>>> {
    await this.runCollect();
    const values: any[] = [];
    for (const s of [...this.order]) {
      if (this.pruneAgedBuckets && s.window.size() === 0) {
        this.drop(s);
        continue;
      }
      const qs = s.window.quantiles(this.percentiles);
      for (let i = 0; i < qs.length; i++) {
        const v = qs[i]!;
        values.push({ labels: Object.assign({ quantile: this.percentiles[i] }, s.labels), value: v ? v : 0 });
      }
      values.push({ metricName: `${this.name}_sum`, labels: s.labels, value: s.sum });
      values.push({ metricName: `${this.name}_count`, labels: s.labels, value: s.count });
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator } as any;
  }

  /** Set every label set's window, count and sum back to empty (the label sets stay). */
  reset(): void {
    for (const s of this.order) {
      s.window.reset();
      s.count = 0;
      s.sum = 0;
    }
  }

  /** Start a timer: the function returned observes the seconds elapsed, and returns them. */
  startTimer(labels?: LabelValues<T>): (labels?: LabelValues<T>) => number {
    const start = performance.now();
    return (endLabels) => {
      const value = (performance.now() - start) / 1000;
      this.observe(Object.assign({}, labels, endLabels), value);
      return value;
    };
  }

  /** A child bound to one label set (positional values or an object). */
  labels(...values: string[]): Summary.Internal<T>;
  labels(labels: LabelValues<T>): Summary.Internal<T>;
  labels(...args: any[]): Summary.Internal<T> {
    const labels = getLabels(this.labelNames, args);
    validateLabel(this.labelNames, labels);
    return {
      observe: (value: number) => this.observe(labels, value),
      startTimer: () => this.startTimer(labels),
    };
  }

  protected makeSeries(labels: Record<string, any>, keys: unknown[]): SummarySeries {
    const values = this.valuesOf(labels);
    const n = this.maxAgeSeconds && this.ageBuckets ? this.ageBuckets : 1;
    const slotValues = Array.from({ length: n }, (_, i) => [...values, String(i)]);
    const window = new Window(
      slotValues.map((v) => this.cells.child(v)),
      this.maxAgeSeconds,
      this.ageBuckets,
    );
    return { labels, keys, live: true, window, slotValues, count: 0, sum: 0 };
  }

  protected dropCell(s: SummarySeries): void {
    s.window.slots.forEach((cell, i) => this.cells.remove(s.slotValues[i]!, cell));
  }
}
