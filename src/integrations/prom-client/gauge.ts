/** prom-client's Gauge over mmstats cells. */
import { BaseMetric, metricStorage, renderNumbers, type Series } from './metric.js';
import type { CellFamily, NumberCell } from './storage.js';
import type { CollectFunction, LabelValues, MetricConfiguration, MetricObjectWithValues, MetricValue } from './types.js';
import { isObject, notANumber, validateLabel } from './validation.js';

export interface GaugeConfiguration<T extends string> extends MetricConfiguration<T> {
  collect?: CollectFunction<Gauge<T>>;
}

interface GaugeSeries extends Series {
  readonly cell: NumberCell;
  /** The label object `set` was last given (its copy is `labels`). */
  given?: object;
}

// eslint-disable-next-line @typescript-eslint/no-namespace
export declare namespace Gauge {
  interface Internal<T extends string> {
    inc(value?: number): void;
    dec(value?: number): void;
    set(value: number): void;
    setToCurrentTime(): void;
    startTimer(): (labels?: LabelValues<T>) => number;
  }
}

/** A value that goes up and down (prom-client's `Gauge`). */
export class Gauge<T extends string = string> extends BaseMetric<T, GaugeSeries> {
  declare readonly type: 'gauge';
  private readonly cells: CellFamily<NumberCell>;

  constructor(configuration: GaugeConfiguration<T>) {
    super(configuration);
    (this as { type: string }).type = 'gauge';
    this.cells = metricStorage().gauge(this.name, this.help, this.labelNames);
    this.reset();
    this.register();
  }

  /** Set to `value`. */
  set(labels: LabelValues<T>, value: number): void;
  set(value: number): void;
  set(labels: any, value?: any): void {
    if (isObject(labels)) {
      if (typeof value !== 'number') throw notANumber(value);
      this.setSeries(labels, value);
    } else {
      if (typeof labels !== 'number') throw notANumber(labels);
      (this.bare() ?? this.create({})).cell.value = labels;
    }
  }

  private setSeries(labels: Record<string, any>, value: number): void {
    let s = this.find(labels);
    if (s === undefined) s = this.create(labels);
    // prom-client stores a new entry: the labels of this call are the ones exported.
    else if (s.given !== labels) s.labels = { ...labels };
    s.given = labels;
    s.cell.value = value;
  }

  /** Increment by `value` (default 1). */
  inc(labels: LabelValues<T>, value?: number): void;
  inc(value?: number): void;
  inc(labels?: any, value?: any): void {
    if (isObject(labels)) this.add(labels, value === undefined ? 1 : value);
    else this.addBare(labels === undefined ? 1 : labels);
  }

  /** Decrement by `value` (default 1). */
  dec(labels: LabelValues<T>, value?: number): void;
  dec(value?: number): void;
  dec(labels?: any, value?: any): void {
    if (isObject(labels)) this.add(labels, -(value === undefined ? 1 : value));
    else this.addBare(-(labels === undefined ? 1 : labels));
  }

  private add(labels: Record<string, any>, delta: any): void {
    if (typeof delta !== 'number') throw notANumber(delta, 'Delta');
    (this.find(labels) ?? this.create(labels)).cell.incr(delta);
  }

  private addBare(delta: any): void {
    if (typeof delta !== 'number') throw notANumber(delta, 'Delta');
    (this.bare() ?? this.create({})).cell.incr(delta);
  }

  /** Set to the current time in seconds since the epoch. */
  setToCurrentTime(labels?: LabelValues<T>): void {
    const now = Date.now() / 1000;
    if (labels === undefined) this.set(now);
    else this.set(labels, now);
  }

  /** Start a timer: the function returned sets the gauge to the seconds elapsed, and returns them. */
  startTimer(labels?: LabelValues<T>): (labels?: LabelValues<T>) => number {
    const start = performance.now();
    return (endLabels) => {
      const value = (performance.now() - start) / 1000;
      this.set(Object.assign({}, labels, endLabels), value);
      return value;
    };
  }

  /** Remove every label set (an unlabelled gauge goes back to 0). */
  reset(): void {
    this.dropAll();
    if (this.labelNames.length === 0) this.create({});
  }

  async get(): Promise<MetricObjectWithValues<MetricValue<T>>> {
    await this.runCollect();
    const values: any[] = [];
    for (const s of this.order) values.push({ value: s.cell.value, labels: s.labels });
    return { help: this.help, name: this.name, type: this.type, values, aggregator: this.aggregator } as any;
  }

  /** @internal prom-client's `_getValue`: the value of a label set (0 if unknown). */
  _getValue(labels?: LabelValues<T>): number {
    return this.find(labels ?? {})?.cell.value ?? 0;
  }

  /** A child bound to one label set (positional values or an object). */
  labels(...values: string[]): Gauge.Internal<T>;
  labels(labels: LabelValues<T>): Gauge.Internal<T>;
  labels(...args: any[]): Gauge.Internal<T> {
    return this.childOf(args, (labels) => {
      validateLabel(this.labelNames, labels);
      return new GaugeChild(this, labels);
    });
  }

  /** @internal The sample lines, as the registry renders them. */
  renderSeries(lines: string[], name: string, _openMetrics: boolean, defaults: Record<string, unknown> | null): void {
    renderNumbers(this.order, lines, name, defaults);
  }

  protected makeSeries(labels: Record<string, any>, keys: unknown[]): GaugeSeries {
    return { labels, keys, live: true, cell: this.cells.child(this.valuesOf(labels)) };
  }

  protected dropCell(s: GaugeSeries): void {
    this.cells.remove(this.valuesOf(s.labels), s.cell);
  }
}

class GaugeChild<T extends string> implements Gauge.Internal<T> {
  constructor(
    private readonly metric: Gauge<T>,
    private readonly labels: LabelValues<T>,
  ) {}
  inc(value?: number): void {
    this.metric.inc(this.labels, value);
  }
  dec(value?: number): void {
    this.metric.dec(this.labels, value);
  }
  set(value: number): void {
    this.metric.set(this.labels, value);
  }
  setToCurrentTime(): void {
    this.metric.setToCurrentTime(this.labels);
  }
  startTimer(): (labels?: LabelValues<T>) => number {
    return this.metric.startTimer(this.labels);
  }
}
