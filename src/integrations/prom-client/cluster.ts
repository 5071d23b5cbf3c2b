/**
 * prom-client's AggregatorRegistry. `clusterMetrics()` reads the workers' mmstats
 * files instead of messaging them: no IPC, no timeout, no worker left out because
 * it was busy. Each worker's file is turned into what prom-client's worker would
 * have sent (`getMetricsAsJSON()`), and `aggregate` combines them by each metric's
 * aggregator (sum, first, min, max, average, omit), read from the file.
 */
import cluster from 'node:cluster';
import { percentiles } from '../../reader/histogram.js';
import { readAll } from '../../reader/find.js';
import type { FieldValue, HistogramValue, Snapshot } from '../../reader/reader.js';
import { aggregators } from './aggregators.js';
import { META_LABEL } from './storage-file.js';
import { DEFAULT_PERCENTILES } from './summary.js';
import { globalRegistry, Registry } from './registry.js';
import type { OpenMetricsContentType, PrometheusContentType, RegistryContentType } from './types.js';

let registries: Registry<any>[] = [globalRegistry];

/** A registry that combines the metrics of a cluster's workers. */
export class AggregatorRegistry<T extends RegistryContentType> extends Registry<T> {
  /**
   * The metrics of every live cluster worker (each of its threads), read from their
   * mmstats files and combined by each metric's aggregator, in the Prometheus text
   * format (as prom-client). Call it in the primary; '' when there is no worker.
   */
  async clusterMetrics(): Promise<string> {
    const pids = new Set<number>();
    for (const w of Object.values(cluster.workers ?? {})) if (w && w.isConnected() && w.process.pid !== undefined) pids.add(w.process.pid);
    if (pids.size === 0) return '';
    const { snapshots } = readAll();
    const workers = snapshots.filter((s) => pids.has(s.writer.pid) && s.writer.alive && /-PromClient-/.test(s.path)).map(metricsOf);
    return AggregatorRegistry.aggregate(workers).metrics();
  }

  /**
   * A registry of the metrics of several `getMetricsAsJSON()` results, each metric
   * combined by its `aggregator` (sum when unset), as prom-client.
   */
  static aggregate<T extends RegistryContentType>(
    metricsArr: Array<object>,
    registryType: RegistryContentType = Registry.PROMETHEUS_CONTENT_TYPE,
  ): Registry<T> {
    const aggregated = new Registry<any>();
    const byName = new Map<string, any[]>();
    aggregated.setContentType(registryType);
    for (const metrics of metricsArr as any[][]) {
      for (const metric of metrics) {
        const list = byName.get(metric.name);
        if (list) list.push(metric);
        else byName.set(metric.name, [metric]);
      }
    }
    for (const metrics of byName.values()) {
      const aggregatorName = metrics[0].aggregator;
      const fn = aggregators[aggregatorName];
      if (typeof fn !== 'function') throw new Error(`'${aggregatorName}' is not a defined aggregator.`);
      const metric = fn(metrics);
      // 'omit' returns undefined.
      if (metric) aggregated.registerMetric(Object.assign({ get: () => metric }, metric));
    }
    return aggregated;
  }

  /** The registries a worker's metrics come from (default: the default registry). */
  static setRegistries(
    regs:
      | Array<Registry<PrometheusContentType> | Registry<OpenMetricsContentType>>
      | Registry<PrometheusContentType>
      | Registry<OpenMetricsContentType>,
  ): void {
    const list = Array.isArray(regs) ? regs : [regs];
    for (const reg of list) if (!(reg instanceof Registry)) throw new TypeError(`Expected Registry, got ${typeof reg}`);
    registries = list;
  }

  /** @internal The registries set by `setRegistries`. */
  static get registries(): Registry<any>[] {
    return registries;
  }
}

type Child = FieldValue & { family?: string; labels?: Readonly<Record<string, string>> };

/** A label set as prom-client would have kept it: a label left out is stored as '' in the file. */
function labelsOf(f: Child): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(f.labels ?? {})) if (v !== '') out[k] = v;
  return out;
}

/** What a prom-client worker's `getMetricsAsJSON()` would have sent, from its file. */
function metricsOf(snap: Snapshot): any[] {
  const fields = snap.fields as Child[];
  let meta: Record<string, { aggregator?: string; percentiles?: number[] }> = {};
  const metaField = fields.find((f) => f.label === META_LABEL);
  try {
    if (typeof metaField?.value === 'string' && metaField.value) meta = JSON.parse(metaField.value);
  } catch {
    // torn or cut: every metric sums
  }
  const byName = new Map<string, Child[]>();
  for (const f of fields) {
    if (f.label === META_LABEL || f.label.startsWith('sys.') || f.label.startsWith('org.') || f.value === null) continue;
    const name = f.family ?? f.label;
    const list = byName.get(name);
    if (list) list.push(f);
    else byName.set(name, [f]);
  }
  const out: any[] = [];
  for (const [name, children] of byName) {
    const first = children[0]!;
    const m = meta[name] ?? {};
    const base = { help: first.help, name, aggregator: m.aggregator ?? 'sum' };
    if (first.kind === 'counter' || first.kind === 'gauge') {
      out.push({ ...base, type: first.kind, values: children.map((c) => ({ value: c.value as number, labels: labelsOf(c) })) });
    } else if (first.kind === 'histogram' && first.labels && 'window_slot' in first.labels) {
      out.push({ ...base, type: 'summary', values: summaryValues(name, children, m.percentiles ?? DEFAULT_PERCENTILES) });
    } else if (first.kind === 'histogram') {
      const values: any[] = [];
      for (const c of children) {
        const h = c.value as HistogramValue;
        const labels = labelsOf(c);
        let acc = 0;
        for (const b of h.buckets) {
          acc += b.count;
          values.push({ value: acc, metricName: `${name}_bucket`, labels: { le: b.le === Infinity ? '+Inf' : b.le, ...labels } });
        }
        values.push({ value: h.sum, metricName: `${name}_sum`, labels }, { value: h.count, metricName: `${name}_count`, labels });
      }
      out.push({ ...base, type: 'histogram', values });
    }
  }
  return out;
}

/** A Summary's samples from its window slots (log-linear histograms, merged per label set). */
function summaryValues(name: string, slots: Child[], qs: readonly number[]): any[] {
  const bySet = new Map<
    string,
    {
      labels: Record<string, string>;
      h: { buckets: { le: number; count: number }[]; count: number; sum: number; min: number; max: number; last: number };
    }
  >();
  for (const c of slots) {
    const labels = labelsOf(c);
    delete labels.window_slot;
    const key = JSON.stringify(labels);
    const h = c.value as HistogramValue;
    let set = bySet.get(key);
    if (!set)
      bySet.set(
        key,
        (set = {
          labels,
          h: { buckets: h.buckets.map((b) => ({ le: b.le, count: 0 })), count: 0, sum: 0, min: Infinity, max: -Infinity, last: 0 },
        }),
      );
    if (!(h.count > 0)) continue;
    h.buckets.forEach((b, i) => (set.h.buckets[i]!.count += b.count));
    set.h.count += h.count;
    set.h.sum += h.sum;
    set.h.min = Math.min(set.h.min, h.min);
    set.h.max = Math.max(set.h.max, h.max);
  }
  const values: any[] = [];
  for (const { labels, h } of bySet.values()) {
    const ps =
      h.count > 0
        ? percentiles(
            h as unknown as HistogramValue,
            qs.map((q) => Math.min(100, Math.max(0, q * 100))),
          )
        : qs.map(() => 0);
    qs.forEach((q, i) => values.push({ labels: { quantile: q, ...labels }, value: ps[i] ? ps[i] : 0 }));
    values.push({ metricName: `${name}_sum`, labels, value: h.sum }, { metricName: `${name}_count`, labels, value: h.count });
  }
  return values;
}
