/**
 * What every prom-client metric class shares: its configuration and checks, and its
 * series. A series is one label set: the label object prom-client exports (first
 * seen, copied), its cell in the storage, and its place in the export order
 * (prom-client's: first use first; a removed label set comes back last).
 *
 * Lookup walks a trie of Maps, one level per label name in sorted order, keyed by
 * the value as a string (undefined for a label left out, as prom-client keys a
 * partial label set apart): a hit builds no string and allocates nothing. Unknown
 * label names are found by counting the object's keys against the names matched,
 * and only then reported with prom-client's message.
 */
import { globalRegistry, labelBlock, Registry } from './registry.js';
import type { MetricMeta, MetricStorage } from './storage.js';
import { fileStorage } from './storage-file.js';
import type { Aggregator, CollectFunction, LabelValues, MetricConfiguration } from './types.js';
import { getLabels, isObject, validateLabel, valueString, validateLabelName, validateMetricName } from './validation.js';

/** One label set of a metric. */
export interface Series {
  /** The labels exported (prom-client's label object: key order as first given). */
  labels: Record<string, any>;
  /** False once removed or reset away: a cached child then looks its label set up again. */
  live: boolean;
  /** The lookup keys, one per sorted label name. */
  readonly keys: readonly unknown[];
  /** The rendered label block(s) (registry.ts renderOwn), for these labels and default labels. */
  text?: any;
  textLabels?: object;
  textDefaults?: object | null;
}

let storage: MetricStorage = fileStorage;

/** @internal The storage new metrics use. */
export function metricStorage(): MetricStorage {
  return storage;
}

/** @internal Switch the storage of metrics created from now on (tests, and the file backing). */
export function setMetricStorage(s: MetricStorage): void {
  storage = s;
}

const EMPTY: Record<string, any> = Object.freeze({});

function keyOf(v: unknown): unknown {
  return typeof v === 'string' ? v : v === undefined ? undefined : String(v);
}

/** Base of Counter, Gauge, Histogram and Summary. */
export abstract class BaseMetric<T extends string, S extends Series> {
  name: string;
  help: string;
  labelNames: T[];
  registers: Registry<any>[];
  aggregator: Aggregator;
  collect?: CollectFunction<any>;
  enableExemplars: boolean;
  /** The label names in sorted order (lookup order). */
  readonly sortedLabelNames: string[];
  /** prom-client's type name. */
  declare readonly type: 'counter' | 'gauge' | 'histogram' | 'summary';
  /** The series in export order. */
  protected order = new Set<S>();
  /** Trie root (a Map per level); the series itself when there are no label names. */
  private root: any;
  /** Children made by positional `labels(...)`, by their values: a hit allocates no child. */
  private children = new Map<unknown, any>();
  /** The series of the empty label set, kept for calls without labels. */
  protected bareSeries: S | undefined = undefined;

  constructor(config: MetricConfiguration<T>) {
    if (!isObject(config)) throw new TypeError('constructor expected a config object');
    this.labelNames = (config.labelNames ?? []) as T[];
    this.registers = config.registers ?? [globalRegistry];
    this.aggregator = config.aggregator ?? 'sum';
    this.enableExemplars = config.enableExemplars ?? false;
    this.help = config.help;
    this.name = config.name;
    if (!this.help) throw new Error('Missing mandatory help parameter');
    if (!this.name) throw new Error('Missing mandatory name parameter');
    if (!validateMetricName(this.name)) throw new Error('Invalid metric name');
    if (!validateLabelName(this.labelNames)) throw new Error('Invalid label name');
    if (config.collect && typeof config.collect !== 'function') throw new Error('Optional "collect" parameter must be a function');
    this.collect = config.collect;
    this.sortedLabelNames = [...this.labelNames].sort();
    this.root = this.sortedLabelNames.length === 0 ? undefined : new Map();
  }

  /** Register with every registry of the configuration (called last by each constructor). */
  protected register(): void {
    const meta = this.meta();
    if (meta !== undefined) storage.describe?.(this.name, meta);
    for (const reg of this.registers) {
      if (this.enableExemplars && reg.contentType === Registry.PROMETHEUS_CONTENT_TYPE)
        throw new TypeError('Exemplars are supported only on OpenMetrics registries');
      reg.registerMetric(this as any);
    }
  }

  /** What readers of the file need to aggregate this metric, when not the defaults. */
  protected meta(): MetricMeta | undefined {
    return this.aggregator === 'sum' ? undefined : { aggregator: this.aggregator };
  }

  /** Set every series back (each class as prom-client does). */
  abstract reset(): void;

  /** Make the series of a new label set (its cell included). */
  protected abstract makeSeries(labels: Record<string, any>, keys: unknown[]): S;

  /** Release a series' cell in the storage. */
  protected abstract dropCell(s: S): void;

  /** @internal Run the `collect` callback (awaiting it if it returns a promise). */
  async runCollect(): Promise<void> {
    if (this.collect) {
      const v = this.collect();
      if (v instanceof Promise) await v;
    }
  }

  /** The series of `labels`, or undefined; throws prom-client's error for an unknown label name. */
  protected find(labels: Record<string, any>): S | undefined {
    const names = this.sortedLabelNames;
    let node = this.root;
    let defined = 0;
    for (let i = 0; i < names.length; i++) {
      const v = labels[names[i]!];
      if (v !== undefined) defined++;
      node = node.get(keyOf(v));
      if (node === undefined) {
        validateLabel(this.labelNames, labels);
        return undefined;
      }
    }
    let n = 0;
    // eslint-disable-next-line @typescript-eslint/no-unused-vars
    for (const _ in labels) n++;
    if (n !== defined) validateLabel(this.labelNames, labels);
    return node;
  }

  /** `labels(...args)`'s child: kept per positional values (it finds its series again after a remove or reset). */
  protected childOf<C>(args: unknown[], make: (labels: any) => C): C {
    const n = this.labelNames.length;
    if (n === 0 || args.length !== n || typeof args[0] === 'object') return make(getLabels(this.labelNames, args));
    let node = this.children;
    for (let i = 0; i < n - 1; i++) {
      let next = node.get(args[i]);
      if (next === undefined) node.set(args[i], (next = new Map()));
      node = next;
    }
    let c = node.get(args[n - 1]);
    if (c === undefined) node.set(args[n - 1], (c = make(getLabels(this.labelNames, args))));
    return c;
  }

  /** Remove one label set. */
  remove(...values: string[]): void;
  remove(labels: LabelValues<T>): void;
  remove(...args: any[]): void {
    // prom-client's Counter alone reads `remove(null)` as the empty label set.
    const labels = getLabels(this.labelNames, args) ?? (this.type === 'counter' ? {} : args[0]);
    validateLabel(this.labelNames, labels);
    const s = this.find(labels);
    if (s) this.drop(s);
  }

  /** The series of the empty label set (calls without labels), or undefined if it is not there. */
  protected bare(): S | undefined {
    const s = this.bareSeries;
    if (s !== undefined && s.live) return s;
    return (this.bareSeries = this.find(EMPTY));
  }

  /** The series of `labels`, made if new (labels already checked). */
  protected create(labels: Record<string, any>): S {
    const names = this.sortedLabelNames;
    const keys = names.map((n) => keyOf(labels[n]));
    const s = this.makeSeries({ ...labels }, keys);
    if (names.length === 0) this.root = s;
    else {
      let node = this.root as Map<unknown, any>;
      for (let i = 0; i < keys.length - 1; i++) {
        let next = node.get(keys[i]);
        if (next === undefined) node.set(keys[i], (next = new Map()));
        node = next;
      }
      node.set(keys[keys.length - 1], s);
    }
    this.order.add(s);
    return s;
  }

  /** The series of `labels`, made if new. */
  protected resolve(labels: Record<string, any>): S {
    return this.find(labels) ?? this.create(labels);
  }

  /** Remove one series (no-op if it is gone). */
  protected drop(s: S): void {
    if (!s.live) return;
    s.live = false;
    this.children = new Map();
    this.order.delete(s);
    this.dropCell(s);
    if (this.sortedLabelNames.length === 0) {
      this.root = undefined;
      return;
    }
    const path: Map<unknown, any>[] = [this.root];
    for (let i = 0; i < s.keys.length - 1; i++) path.push(path[i]!.get(s.keys[i]));
    for (let i = s.keys.length - 1; i >= 0; i--) {
      path[i]!.delete(s.keys[i]);
      if (path[i]!.size > 0 || i === 0) break;
    }
  }

  /** Remove every series. */
  protected dropAll(): void {
    for (const s of this.order) {
      s.live = false;
      this.dropCell(s);
    }
    this.order = new Set();
    this.root = this.sortedLabelNames.length === 0 ? undefined : new Map();
    this.children = new Map();
  }

  /** Label values in the order of `labelNames`, as strings ('' for a label left out). */
  protected valuesOf(labels: Record<string, any>): string[] {
    return this.labelNames.map((n) => (labels[n] === undefined ? '' : String(labels[n])));
  }
}

const NO_SHARED: Record<string, unknown> = {};

/** @internal The sample lines of counter or gauge series: `name{labels} value`. */
export function renderNumbers(
  order: Iterable<Series & { readonly cell: { readonly value: number } }>,
  lines: string[],
  name: string,
  defaults: Record<string, unknown> | null,
): void {
  for (const s of order) {
    if (s.textLabels !== s.labels || s.textDefaults !== defaults) {
      s.text = labelBlock(s.labels, NO_SHARED, defaults);
      s.textLabels = s.labels;
      s.textDefaults = defaults;
    }
    lines.push(`${name}${s.text} ${valueString(s.cell.value)}`);
  }
}
