/**
 * Where the drop-in keeps its values: the one place that knows the storage. Each
 * metric asks for a family of cells (one per label set); a cell is a number
 * (counter, gauge) or a histogram with explicit bounds. The metric classes keep
 * prom-client's own bookkeeping (label objects, export order) and only read and
 * write cells, so the storage can change without touching them.
 */
import type { Field, FieldSpec } from '../../writer/field.js';
import { HistogramSpec, type V2Histogram } from '../../writer/fields/histogram.js';

/** A number cell: a counter's or a gauge's value. */
export interface NumberCell {
  value: number;
  incr(n: number): void;
  set(v: number): void;
}

/** A histogram cell: counts per bucket of its bounds (the last bucket is +Inf), count and sum. */
export interface HistogramCell {
  record(v: number): void;
  reset(): void;
  readonly count: number;
  readonly sum: number;
  /** The count of bucket `i` alone (not cumulative). */
  bucket(i: number): number;
}

/** The cells of one metric, one per label set (values in the order of the metric's label names). */
export interface CellFamily<C> {
  child(values: readonly string[]): C;
  remove(values: readonly string[], cell: C): void;
}

/** A log-linear histogram cell (a Summary's window slot): mmstats's own histogram field. */
export type LogHistogramCell = V2Histogram;

/** The layout of a Summary's slots: 2^-20 (about 1e-6) to 2^30 (about 1e9), buckets 2^-7 (0.78%) wide. */
export const SUMMARY_LAYOUT = { lowest: 2 ** -20, highest: 2 ** 30, precision: 7 } as const;

/** What a metric needs of the storage. */
export interface MetricStorage {
  counter(name: string, help: string, labelNames: readonly string[]): CellFamily<NumberCell>;
  gauge(name: string, help: string, labelNames: readonly string[]): CellFamily<NumberCell>;
  /** `bounds`: ascending finite upper bounds; a +Inf bucket follows them. */
  histogram(name: string, help: string, labelNames: readonly string[], bounds: readonly number[]): CellFamily<HistogramCell>;
  /** A Summary's slots: log-linear histograms (SUMMARY_LAYOUT), one per label set and age slot (the last label). */
  summary(name: string, help: string, labelNames: readonly string[]): CellFamily<LogHistogramCell>;
}

class MemoryNumber implements NumberCell {
  value = 0;
  incr(n: number): void {
    this.value += n;
  }
  set(v: number): void {
    this.value = v;
  }
}

class MemoryHistogram implements HistogramCell {
  count = 0;
  sum = 0;
  readonly counts: Float64Array;
  constructor(readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length + 1);
  }
  record(v: number): void {
    const b = this.bounds;
    let i = 0;
    while (i < b.length && !(v <= b[i]!)) i++;
    this.counts[i]! += 1;
    this.count += 1;
    this.sum += v;
  }
  reset(): void {
    this.counts.fill(0);
    this.count = 0;
    this.sum = 0;
  }
  bucket(i: number): number {
    return this.counts[i]!;
  }
}

class MemoryFamily<C> implements CellFamily<C> {
  constructor(private readonly make: () => C) {}
  child(): C {
    return this.make();
  }
  remove(): void {}
}

/** A field over a buffer of its own (the same code as in a file). */
function inMemory<F>(spec: FieldSpec<F & Field>): F {
  return spec.create('', { format: 2, buffer: new ArrayBuffer(spec.v2().valueSize), offset: 0, writeBufferOffset: 0, copySize: 0 });
}

/** Cells in the process's memory only (what prom-client does). */
export const memoryStorage: MetricStorage = {
  counter: () => new MemoryFamily(() => new MemoryNumber()),
  gauge: () => new MemoryFamily(() => new MemoryNumber()),
  histogram: (_n, _h, _l, bounds) => new MemoryFamily(() => new MemoryHistogram(bounds)),
  summary: () => new MemoryFamily(() => inMemory(new HistogramSpec(SUMMARY_LAYOUT)) as V2Histogram),
};
