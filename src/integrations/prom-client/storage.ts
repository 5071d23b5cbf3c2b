/**
 * Where the drop-in keeps its values: the one place that knows the storage. Each
 * metric asks for a family of cells (one per label set); a cell is mmstats's own
 * field (a number, or a histogram with explicit or log-linear bounds), in the
 * process's mmstats file (storage-file.ts) or over a buffer of its own (here). The
 * metric classes keep prom-client's own bookkeeping (label objects, export order)
 * and only read and write cells.
 */
import { HistogramSlot } from '../../format/v2.js';
import type { Field, FieldSpec } from '../../writer/field.js';
import { field } from '../../writer/fields/index.js';
import type { V2Histogram } from '../../writer/fields/histogram.js';

/** A number cell: a counter's or a gauge's value (a float64). */
export interface NumberCell {
  value: number;
  incr(n: number): void;
}

/**
 * A histogram cell: mmstats's histogram field (count, sum, min, max, last, then one
 * count per bucket in `f64`, from `HistogramSlot.BUCKETS`; the last bucket is +Inf).
 */
export interface HistogramCell {
  record(v: number): void;
  reset(): void;
  readonly f64: Float64Array;
}

/** A log-linear histogram cell (a Summary's window slot). */
export type LogHistogramCell = V2Histogram;

/** The layout of a Summary's slots: 2^-20 (about 1e-6) to 2^30 (about 1e9), buckets 2^-7 (0.78%) wide. */
export const SUMMARY_LAYOUT = { lowest: 2 ** -20, highest: 2 ** 30, precision: 7 } as const;

/** The cells of one metric, one per label set (values in the order of the metric's label names). */
export interface CellFamily<C> {
  child(values: readonly string[]): C;
  remove(values: readonly string[], cell: C): void;
}

/** What a metric needs of the storage. */
export interface MetricStorage {
  counter(name: string, help: string, labelNames: readonly string[]): CellFamily<NumberCell>;
  gauge(name: string, help: string, labelNames: readonly string[]): CellFamily<NumberCell>;
  /** `bounds`: ascending finite upper bounds; a +Inf bucket follows them. */
  histogram(name: string, help: string, labelNames: readonly string[], bounds: readonly number[]): CellFamily<HistogramCell>;
  /** A Summary's slots: log-linear histograms (SUMMARY_LAYOUT), one per label set and age slot (the last label). */
  summary(name: string, help: string, labelNames: readonly string[]): CellFamily<LogHistogramCell>;
  /** Record what a reader of the file needs to aggregate a metric as prom-client does (when not the defaults). */
  describe?(name: string, meta: MetricMeta): void;
}

/** A metric's aggregator and a Summary's percentiles, for `AggregatorRegistry.clusterMetrics()`. */
export interface MetricMeta {
  readonly aggregator?: string;
  readonly percentiles?: readonly number[];
}

/** A field over a buffer of its own: the same code as in a file. */
function inMemory<F extends Field>(spec: FieldSpec<F>): F {
  return spec.create('', { format: 2, buffer: new ArrayBuffer(spec.v2().valueSize), offset: 0, writeBufferOffset: 0, copySize: 0 });
}

/**
 * A histogram over bounds in any order, as prom-client accepts them: a value counts
 * in the first bound it is at or below, as prom-client's linear scan finds it.
 */
class AnyOrderHistogram implements HistogramCell {
  readonly f64: Float64Array;
  constructor(private readonly bounds: readonly number[]) {
    this.f64 = new Float64Array(HistogramSlot.BUCKETS + bounds.length + 1);
  }
  record(v: number): void {
    const b = this.bounds;
    let i = 0;
    while (i < b.length && !(v <= b[i]!)) i++;
    this.f64[HistogramSlot.BUCKETS + i]! += 1;
    this.f64[HistogramSlot.COUNT]! += 1;
    this.f64[HistogramSlot.SUM]! += v;
  }
  reset(): void {
    this.f64.fill(0);
  }
}

function ascendingFinite(b: readonly number[]): boolean {
  return b.length > 0 && b.every((v, i) => Number.isFinite(v) && (i === 0 || v > b[i - 1]!));
}

class MemoryCells<C> implements CellFamily<C> {
  constructor(private readonly make: () => C) {}
  child(): C {
    return this.make();
  }
  remove(): void {}
}

/** Cells in the process's memory only (what prom-client does). */
export const memoryStorage: MetricStorage = {
  counter: () => new MemoryCells(() => inMemory(field.counter())),
  gauge: () => new MemoryCells(() => inMemory(field.gauge())),
  histogram: (_n, _h, _l, bounds) =>
    new MemoryCells<HistogramCell>(
      ascendingFinite(bounds) ? () => inMemory(field.histogram({ buckets: bounds })) as V2Histogram : () => new AnyOrderHistogram(bounds),
    ),
  summary: () => new MemoryCells(() => inMemory(field.histogram(SUMMARY_LAYOUT)) as V2Histogram),
};

export { ascendingFinite };
