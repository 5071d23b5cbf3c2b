/** prom-client's Histogram over mmstats histogram cells. */
import { Exemplar } from './exemplar.js';
import { BaseMetric, metricStorage, type Series } from './metric.js';
import { HistogramSlot as Slot } from '../../format/v2.js';
import { ascendingFinite, memoryStorage, type CellFamily, type HistogramCell } from './storage.js';
import type {
  CollectFunction,
  LabelValues,
  MetricConfiguration,
  MetricObjectWithValues,
  MetricValueWithName,
  ObserveDataWithExemplar,
} from './types.js';
import { labelBlock } from './registry.js';
import { notANumber, validateLabel, valueString } from './validation.js';

export interface HistogramConfiguration<T extends string> extends MetricConfiguration<T> {
  buckets?: number[];
  collect?: CollectFunction<Histogram<T>>;
}

interface HistogramSeries extends Series {
  readonly cell: HistogramCell;
  /** Per bucket (the last for values above every bound), with exemplars enabled. */
  exemplars?: (Exemplar | null)[];
}

// eslint-disable-next-line @typescript-eslint/no-namespace
export declare namespace Histogram {
  interface Internal<T extends string> {
    observe(value: number): void;
    startTimer(): (labels?: LabelValues<T>) => void;
  }
  interface Config {
    buckets?: number[];
  }
}

const DEFAULT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Counts of values in cumulative buckets, with their sum (prom-client's `Histogram`). */
export class Histogram<T extends string = string> extends BaseMetric<T, HistogramSeries> {
  declare readonly type: 'histogram';
  readonly buckets: number[];
  readonly upperBounds: readonly number[];
  private readonly cells: CellFamily<HistogramCell>;

  constructor(configuration: HistogramConfiguration<T>) {
    super(configuration);
    (this as { type: string }).type = 'histogram';
    for (const label of this.labelNames) if (label === 'le') throw new Error('le is a reserved label keyword');
    this.buckets = configuration.buckets ?? DEFAULT_BUCKETS;
    this.upperBounds = Object.freeze([...this.buckets]);
    // The file keeps ascending finite bounds; any other list prom-client accepts stays in memory.
    const store = ascendingFinite(this.upperBounds) ? metricStorage() : memoryStorage;
    this.cells = store.histogram(this.name, this.help, this.labelNames, this.upperBounds);
    if (this.labelNames.length === 0) this.create({});
    this.register();
  }

  /** Count `value`. */
  observe(value: number): void;
  observe(labels: LabelValues<T>, value: number): void;
  observe(observeData: ObserveDataWithExemplar<T>): void;
  observe(labels: any, value?: any): void {
    if (this.enableExemplars) return this.observeWithExemplar(labels);
    this.observeIn(labels === 0 ? 0 : labels || {}, value);
  }

  private observeIn(labels: any, value: any): HistogramSeries {
    let s: HistogramSeries | undefined;
    if (typeof labels === 'object' && labels !== null) s = this.find(labels);
    else {
      value = labels;
      labels = {};
      s = this.bare();
    }
    if (!Number.isFinite(value)) throw notANumber(value);
    return this.record(s ?? this.create(labels), value);
  }

  private record(s: HistogramSeries, value: number): HistogramSeries {
    s.cell.record(value);
    return s;
  }

  private observeWithExemplar({ labels = {}, value, exemplarLabels = {} }: ObserveDataWithExemplar<T> = {} as any): void {
    const s = this.observeIn(labels === 0 ? 0 : labels || {}, value);
    if (Object.keys(exemplarLabels).length === 0) return;
    const b = this.upperBounds;
    let i = 0;
    while (i < b.length && !(value <= b[i]!)) i++;
    const slots = (s.exemplars ??= new Array(b.length + 1).fill(null));
    const ex = (slots[i] ??= new Exemplar());
    ex.validateExemplarLabelSet(exemplarLabels);
    ex.labelSet = exemplarLabels;
    ex.value = value;
    ex.timestamp = Date.now() / 1000;
  }

  async get(): Promise<MetricObjectWithValues<MetricValueWithName<T>>> {
    const data = await this.getForPromString();
    data.values = data.values.map(({ sharedLabels, labels, ...bucket }: any) => {
      for (const label of Object.keys(sharedLabels)) labels[label] = sharedLabels[label];
      bucket.labels = labels;
      return bucket;
    });
    return data;
  }

  /** @internal What the registry renders: each sample with the series' labels apart. */
  async getForPromString(): Promise<any> {
    await this.runCollect();
    const name = `${this.name}_bucket`;
    const values: any[] = [];
    const b = this.upperBounds;
    for (const s of this.order) {
      const { cell, labels } = s;
      const ex = s.exemplars;
      let acc = 0;
      for (let i = 0; i < b.length; i++) {
        acc += cell.f64[Slot.BUCKETS + i]!;
        values.push({ labels: { le: b[i] }, sharedLabels: labels, value: acc, metricName: name, exemplar: ex ? ex[i] : null });
      }
      const count = cell.f64[Slot.COUNT]!;
      values.push(
        { labels: { le: '+Inf' }, sharedLabels: labels, value: count, metricName: name, exemplar: ex ? ex[b.length] : null },
        { labels: {}, sharedLabels: labels, value: cell.f64[Slot.SUM]!, metricName: `${this.name}_sum`, exemplar: undefined },
        { labels: {}, sharedLabels: labels, value: count, metricName: `${this.name}_count`, exemplar: undefined },
      );
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  /** @internal The sample lines, as the registry renders them. */
  renderSeries(lines: string[], _name: string, _openMetrics: boolean, defaults: Record<string, unknown> | null): void {
    const b = this.upperBounds;
    const bucketName = `${this.name}_bucket`;
    const sumName = `${this.name}_sum`;
    const countName = `${this.name}_count`;
    for (const s of this.order) {
      if (s.textLabels !== s.labels || s.textDefaults !== defaults) {
        const t = b.map((le) => labelBlock({ le }, s.labels, defaults));
        t.push(labelBlock({ le: '+Inf' }, s.labels, defaults), labelBlock({}, s.labels, defaults));
        s.text = t;
        s.textLabels = s.labels;
        s.textDefaults = defaults;
      }
      const t = s.text as string[];
      const cell = s.cell;
      let acc = 0;
      for (let i = 0; i < b.length; i++) {
        acc += cell.f64[Slot.BUCKETS + i]!;
        lines.push(`${bucketName}${t[i]} ${valueString(acc)}`);
      }
      const count = valueString(cell.f64[Slot.COUNT]!);
      lines.push(
        `${bucketName}${t[b.length]} ${count}`,
        `${sumName}${t[b.length + 1]} ${valueString(cell.f64[Slot.SUM]!)}`,
        `${countName}${t[b.length + 1]} ${count}`,
      );
    }
  }

  /** Remove every label set (prom-client exports none, not even the unlabelled one, until the next observation). */
  reset(): void {
    this.dropAll();
  }

  /** Make (or set back) the series of `labels` with every count at zero. */
  zero(labels: LabelValues<T>): void {
    const s = this.find(labels);
    if (s === undefined) this.create(labels);
    else {
      s.cell.reset();
      s.labels = { ...labels };
      s.exemplars = undefined;
    }
  }

  /** Start a timer: the function returned observes the seconds elapsed, and returns them. */
  startTimer(labels?: LabelValues<T>): (labels?: LabelValues<T>) => number;
  startTimer(
    labels?: LabelValues<T>,
    exemplarLabels?: LabelValues<T>,
  ): (labels?: LabelValues<T>, exemplarLabels?: LabelValues<T>) => number;
  startTimer(
    labels?: LabelValues<T>,
    exemplarLabels?: LabelValues<T>,
  ): (labels?: LabelValues<T>, exemplarLabels?: LabelValues<T>) => number {
    const start = performance.now();
    return (endLabels, endExemplarLabels) => {
      const value = (performance.now() - start) / 1000;
      const all = Object.assign({}, labels, endLabels);
      if (this.enableExemplars) this.observe({ labels: all, value, exemplarLabels: Object.assign({}, exemplarLabels, endExemplarLabels) });
      else this.observe(all, value);
      return value;
    };
  }

  /** A child bound to one label set (positional values or an object). */
  labels(...values: string[]): Histogram.Internal<T>;
  labels(labels: LabelValues<T>): Histogram.Internal<T>;
  labels(...args: any[]): Histogram.Internal<T> {
    return this.childOf(args, (labels) => {
      validateLabel(this.labelNames, labels);
      return new HistogramChild(this, labels);
    });
  }

  protected makeSeries(labels: Record<string, any>, keys: unknown[]): HistogramSeries {
    return { labels, keys, live: true, cell: this.cells.child(this.valuesOf(labels)) };
  }

  protected dropCell(s: HistogramSeries): void {
    this.cells.remove(this.valuesOf(s.labels), s.cell);
  }

  /** @internal The child's path: the series kept while it lives. */
  observeSeries(child: HistogramChild<T>, value: number): void {
    if (!Number.isFinite(value)) throw notANumber(value);
    let s = child.series;
    if (s === undefined || !s.live) s = child.series = this.find(child.labels) ?? this.create(child.labels);
    s.cell.record(value);
  }
}

class HistogramChild<T extends string> implements Histogram.Internal<T> {
  series: HistogramSeries | undefined = undefined;
  constructor(
    private readonly metric: Histogram<T>,
    readonly labels: Record<string, any>,
  ) {}
  observe(value: number): void {
    if (this.metric.enableExemplars) return this.metric.observe({ labels: this.labels, value } as any);
    this.metric.observeSeries(this, value);
  }
  startTimer(): (labels?: LabelValues<T>) => number {
    return this.metric.startTimer(this.labels as LabelValues<T>);
  }
}
