/** prom-client's Counter over mmstats cells. */
import { Exemplar } from './exemplar.js';
import { BaseMetric, metricStorage, renderNumbers, type Series } from './metric.js';
import type { CellFamily, NumberCell } from './storage.js';
import type {
  CollectFunction,
  IncreaseDataWithExemplar,
  LabelValues,
  MetricConfiguration,
  MetricObjectWithValues,
  MetricValue,
} from './types.js';
import { notANumber } from './validation.js';

export interface CounterConfiguration<T extends string> extends MetricConfiguration<T> {
  collect?: CollectFunction<Counter<T>>;
}

interface CounterSeries extends Series {
  readonly cell: NumberCell;
  exemplar?: Exemplar;
}

// eslint-disable-next-line @typescript-eslint/no-namespace
export declare namespace Counter {
  interface Internal {
    inc(value?: number): void;
  }
}

const NO_EXEMPLAR_LABELS = {};

/** A count that only goes up (prom-client's `Counter`). */
export class Counter<T extends string = string> extends BaseMetric<T, CounterSeries> {
  declare readonly type: 'counter';
  private readonly cells: CellFamily<NumberCell>;

  constructor(configuration: CounterConfiguration<T>) {
    super(configuration);
    (this as { type: string }).type = 'counter';
    this.cells = metricStorage().counter(this.name, this.help, this.labelNames);
    this.reset();
    this.register();
  }

  /** Increment by `value` (default 1), for `labels` or the unlabelled series. */
  inc(labels: LabelValues<T>, value?: number): void;
  inc(value?: number): void;
  inc(incData: IncreaseDataWithExemplar<T>): void;
  inc(labels?: any, value?: any): void {
    // The most common call, inc(), in the fewest steps.
    if (labels === undefined) {
      const bare = this.bareSeries;
      if (bare !== undefined && bare.live && !this.enableExemplars) return bare.cell.incr(1);
    }
    if (this.enableExemplars) return this.incWithExemplar(labels);
    this.incBy(labels, value);
  }

  private incBy(labels: any, value: any): CounterSeries {
    let s: CounterSeries | undefined;
    if (typeof labels === 'object' && labels !== null) s = this.find(labels);
    else {
      value = labels;
      labels = {};
      s = this.bare();
    }
    if (value === undefined || value === null) value = 1;
    else {
      if (value && !Number.isFinite(value)) throw notANumber(value);
      if (value < 0) throw new Error('It is not possible to decrease a counter');
    }
    if (s === undefined) s = this.create(labels);
    s.cell.incr(value);
    return s;
  }

  private incWithExemplar({ labels = {}, value = 1, exemplarLabels = NO_EXEMPLAR_LABELS }: IncreaseDataWithExemplar<T> = {}): void {
    const s = this.incBy(labels, value);
    if (exemplarLabels === NO_EXEMPLAR_LABELS) return;
    const ex = (s.exemplar ??= new Exemplar());
    ex.validateExemplarLabelSet(exemplarLabels);
    ex.labelSet = exemplarLabels;
    ex.value = value ? value : 1;
    ex.timestamp = Date.now() / 1000;
  }

  /** Remove every label set (an unlabelled counter goes back to 0). */
  reset(): void {
    this.dropAll();
    if (this.labelNames.length === 0) this.create({});
  }

  async get(): Promise<MetricObjectWithValues<MetricValue<T>>> {
    await this.runCollect();
    const values: any[] = [];
    for (const s of this.order)
      values.push(s.exemplar ? { value: s.cell.value, labels: s.labels, exemplar: s.exemplar } : { value: s.cell.value, labels: s.labels });
    return { help: this.help, name: this.name, type: this.type, values, aggregator: this.aggregator } as any;
  }

  /** A child bound to one label set (positional values or an object). */
  labels(...values: string[]): Counter.Internal;
  labels(labels: LabelValues<T>): Counter.Internal;
  labels(...args: any[]): Counter.Internal {
    return this.childOf(args, (labels) => new CounterChild(this, labels || {}));
  }

  /** @internal The sample lines, as the registry renders them. */
  renderSeries(lines: string[], name: string, openMetrics: boolean, defaults: Record<string, unknown> | null): void {
    renderNumbers(this.order, lines, openMetrics ? `${name}_total` : name, defaults);
  }

  protected makeSeries(labels: Record<string, any>, keys: unknown[]): CounterSeries {
    return { labels, keys, live: true, cell: this.cells.child(this.valuesOf(labels)) };
  }

  protected dropCell(s: CounterSeries): void {
    this.cells.remove(this.valuesOf(s.labels), s.cell);
  }

  /** @internal The child's path: the series kept while it lives. */
  incSeries(child: CounterChild, value: any): void {
    if (value && !Number.isFinite(value)) throw notANumber(value);
    if (value < 0) throw new Error('It is not possible to decrease a counter');
    let s = child.series;
    if (s === undefined || !s.live) s = child.series = this.resolve(child.labels);
    s.cell.incr(value === null || value === undefined ? 1 : value);
  }
}

/** `counter.labels(...)`: keeps its series, so an increment is a check and a store. */
class CounterChild implements Counter.Internal {
  series: CounterSeries | undefined = undefined;
  constructor(
    private readonly metric: Counter<any>,
    readonly labels: Record<string, any>,
  ) {}
  inc(value?: number): void {
    if (this.metric.enableExemplars) return this.metric.inc(this.labels as any, value);
    this.metric.incSeries(this, value);
  }
}
