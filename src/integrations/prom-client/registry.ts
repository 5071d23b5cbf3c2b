/**
 * prom-client's Registry: the set of metrics a `/metrics` route renders, and the
 * renderer. The text is prom-client's byte for byte, in both content types
 * (test/prom-client-differential.test.ts runs the same programs through both).
 */
import type { Metric } from './metric-type.js';
import type {
  MetricObject,
  MetricObjectWithValues,
  MetricValue,
  OpenMetricsContentType,
  PrometheusContentType,
  RegistryContentType,
} from './types.js';
import { valueString } from './validation.js';

const PROMETHEUS: PrometheusContentType = 'text/plain; version=0.0.4; charset=utf-8';
const OPENMETRICS: OpenMetricsContentType = 'application/openmetrics-text; version=1.0.0; charset=utf-8';

/** Anything a registry can render: the metric classes, or an aggregated metric (`get` only). */
interface Renderable {
  name: string;
  type?: string;
  get(): any;
  getForPromString?(): any;
  reset?(): void;
}

/** A set of metrics and their rendering in the Prometheus text format or OpenMetrics. */
export class Registry<BoundRegistryContentType extends RegistryContentType = PrometheusContentType> {
  static get PROMETHEUS_CONTENT_TYPE(): PrometheusContentType {
    return PROMETHEUS;
  }
  static get OPENMETRICS_CONTENT_TYPE(): OpenMetricsContentType {
    return OPENMETRICS;
  }

  private _metrics = new Map<string, Renderable>();
  private _defaultLabels: Record<string, any> = {};
  private _contentType: BoundRegistryContentType;

  constructor(regContentType: BoundRegistryContentType = PROMETHEUS as BoundRegistryContentType) {
    if (regContentType !== PROMETHEUS && regContentType !== OPENMETRICS)
      throw new TypeError(`Content type ${regContentType} is unsupported`);
    this._contentType = regContentType;
  }

  /** The registered metrics, in registration order. */
  getMetricsAsArray(): MetricObject[] {
    return [...this._metrics.values()] as unknown as MetricObject[];
  }

  /** One metric rendered: HELP, TYPE and its samples. */
  async getMetricsAsString(metrics: any): Promise<string> {
    if (typeof metrics.renderSeries === 'function' && !metrics.enableExemplars) return this.renderOwn(metrics);
    const metric = typeof metrics.getForPromString === 'function' ? await metrics.getForPromString() : await metrics.get();
    const name = escapeString(metric.name);
    const values = [`# HELP ${name} ${escapeString(metric.help)}`, `# TYPE ${name} ${metric.type}`];
    const defaultLabels = Object.keys(this._defaultLabels).length > 0 ? this._defaultLabels : null;
    const isOpenMetrics = this._contentType === OPENMETRICS;
    for (const val of metric.values || []) {
      let { metricName = name, labels = {} } = val;
      const { sharedLabels = {} } = val;
      if (isOpenMetrics && metric.type === 'counter') metricName = `${metricName}_total`;
      if (defaultLabels) labels = { ...labels, ...defaultLabels, ...labels };
      // Flattened apart so that a label in both sets appears once (as prom-client).
      const parts = [...formatLabels(labels, sharedLabels), flattenSharedLabels(sharedLabels)].filter(Boolean);
      let line = `${metricName}${parts.length ? `{${parts.join(',')}}` : ''} ${valueString(val.value)}`;
      const { exemplar } = val;
      if (exemplar && isOpenMetrics) {
        line += ` # {${formatLabels(exemplar.labelSet).join(',')}} ${valueString(exemplar.value)} ${exemplar.timestamp}`;
      }
      values.push(line);
    }
    return values.join('\n');
  }

  /**
   * The same text for this module's counters, gauges and histograms, built from
   * each series' label block, formatted once (by the code above's rules) and kept
   * while the series' labels and the registry's default labels stay.
   */
  private async renderOwn(metric: any): Promise<string> {
    await metric.runCollect();
    const name = escapeString(metric.name);
    const values = [`# HELP ${name} ${escapeString(metric.help)}`, `# TYPE ${name} ${metric.type}`];
    const defaults = Object.keys(this._defaultLabels).length > 0 ? this._defaultLabels : null;
    metric.renderSeries(values, name, this._contentType === OPENMETRICS, defaults);
    return values.join('\n');
  }

  /** Every metric rendered in the registry's content type. */
  async metrics(): Promise<string> {
    const isOpenMetrics = this._contentType === OPENMETRICS;
    const rendered = await Promise.all(
      [...this._metrics.values()].map((metric) => {
        // OpenMetrics names a counter without _total and adds it to each sample (as prom-client).
        if (isOpenMetrics && metric.type === 'counter') metric.name = metric.name.replace(/_total$/, '');
        return this.getMetricsAsString(metric);
      }),
    );
    return isOpenMetrics ? `${rendered.join('\n')}\n# EOF\n` : `${rendered.join('\n\n')}\n`;
  }

  registerMetric<T extends string>(metric: Metric<T>): void {
    const m = metric as unknown as Renderable;
    const known = this._metrics.get(m.name);
    if (known !== undefined && known !== m) throw new Error(`A metric with the name ${m.name} has already been registered.`);
    this._metrics.set(m.name, m);
  }

  clear(): void {
    this._metrics = new Map();
    this._defaultLabels = {};
  }

  async getMetricsAsJSON(): Promise<MetricObjectWithValues<MetricValue<string>>[]> {
    const defaultLabelNames = Object.keys(this._defaultLabels);
    const items = await Promise.all([...this._metrics.values()].map((m) => m.get()));
    for (const item of items) {
      if (item.values && defaultLabelNames.length > 0) {
        for (const val of item.values) {
          val.labels = Object.assign({}, val.labels);
          for (const labelName of defaultLabelNames) val.labels[labelName] = val.labels[labelName] || this._defaultLabels[labelName];
        }
      }
    }
    return items;
  }

  removeSingleMetric(name: string): void {
    this._metrics.delete(name);
  }

  getSingleMetricAsString(name: string): Promise<string> {
    return this.getMetricsAsString(this._metrics.get(name));
  }

  getSingleMetric<T extends string>(name: string): Metric<T> | undefined {
    return this._metrics.get(name) as unknown as Metric<T> | undefined;
  }

  setDefaultLabels(labels: object): void {
    this._defaultLabels = labels as Record<string, any>;
  }

  resetMetrics(): void {
    for (const metric of this._metrics.values()) metric.reset?.();
  }

  get contentType(): BoundRegistryContentType {
    return this._contentType;
  }

  setContentType(metricsContentType: BoundRegistryContentType): void {
    if (metricsContentType !== OPENMETRICS && metricsContentType !== PROMETHEUS)
      throw new Error(`Content type ${metricsContentType} is unsupported`);
    this._contentType = metricsContentType;
  }

  /** A registry of every metric of `registers` (same content type; a name twice is an error). */
  static merge(registers: Registry<any>[]): Registry<any> {
    const regType = registers[0]!.contentType;
    for (const reg of registers) {
      if (reg.contentType !== regType) throw new Error('Registers can only be merged if they have the same content type');
    }
    const merged = new Registry(regType);
    for (const reg of registers) for (const m of reg._metrics.values()) merged.registerMetric(m as any);
    return merged;
  }
}

/**
 * The label block of one sample, `{...}` or '': its own labels (with the default
 * labels added, its own winning), then the series' labels (`shared`), as
 * `getMetricsAsString` builds it.
 */
export function labelBlock(
  labels: Record<string, unknown>,
  shared: Record<string, unknown>,
  defaults: Record<string, unknown> | null,
): string {
  if (defaults) labels = { ...labels, ...defaults, ...labels };
  const parts = [...formatLabels(labels, shared), flattenSharedLabels(shared)].filter(Boolean);
  return parts.length ? `{${parts.join(',')}}` : '';
}

function formatLabels(labels: Record<string, unknown>, exclude?: Record<string, unknown>): string[] {
  const formatted: string[] = [];
  for (const [name, value] of Object.entries(labels)) {
    if (!exclude || !Object.prototype.hasOwnProperty.call(exclude, name)) formatted.push(`${name}="${escapeLabelValue(value)}"`);
  }
  return formatted;
}

const sharedLabelCache = new WeakMap<object, string>();
function flattenSharedLabels(labels: Record<string, unknown>): string {
  const cached = sharedLabelCache.get(labels);
  if (cached !== undefined) return cached;
  const flattened = formatLabels(labels).join(',');
  sharedLabelCache.set(labels, flattened);
  return flattened;
}

function escapeLabelValue(value: unknown): unknown {
  return typeof value === 'string' ? escapeString(value).replace(/"/g, '\\"') : value;
}

function escapeString(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

/** The default registry. */
export const globalRegistry = new Registry();
