/**
 * `mmstats/prom-client`: prom-client 15's API, names and exposition, with values in
 * mmstats cells. Change the import and the program runs as before:
 *
 * ```ts
 * import client from 'mmstats/prom-client'; // was: import client from 'prom-client'
 * const requests = new client.Counter({ name: 'http_requests_total', help: 'requests', labelNames: ['method'] });
 * requests.inc({ method: 'GET' });
 * res.end(await client.register.metrics());
 * ```
 *
 * docs/MIGRATING.md says what differs.
 */
import { AggregatorFactory, aggregators } from './aggregators.js';
import { exponentialBuckets, linearBuckets } from './buckets.js';
import { AggregatorRegistry } from './cluster.js';
import { Counter } from './counter.js';
import { collectDefaultMetrics } from './default-metrics.js';
import { Gauge } from './gauge.js';
import { Histogram } from './histogram.js';
import { Pushgateway } from './pushgateway.js';
import { Registry, globalRegistry } from './registry.js';
import { Summary } from './summary.js';
import { MetricType, type OpenMetricsContentType, type PrometheusContentType, type RegistryContentType } from './types.js';
import { validateMetricName } from './validation.js';

export { Registry, Counter, Gauge, Histogram, Summary, Pushgateway, linearBuckets, exponentialBuckets, validateMetricName };
export { aggregators, AggregatorFactory, AggregatorRegistry, collectDefaultMetrics };
export type { DefaultMetricsCollectorConfiguration } from './default-metrics.js';
export type { CounterConfiguration } from './counter.js';
export type { GaugeConfiguration } from './gauge.js';
export type { HistogramConfiguration } from './histogram.js';
export type { SummaryConfiguration } from './summary.js';
export * from './types.js';
export type { Metric } from './metric-type.js';

/** The default registry. */
export const register: Registry = globalRegistry;
/** The default registry's content type when the module was loaded (the default object's `contentType` follows it live). */
export const contentType: RegistryContentType = globalRegistry.contentType;
/** `text/plain; version=0.0.4; charset=utf-8` */
export const prometheusContentType: PrometheusContentType = Registry.PROMETHEUS_CONTENT_TYPE;
/** `application/openmetrics-text; version=1.0.0; charset=utf-8` */
export const openMetricsContentType: OpenMetricsContentType = Registry.OPENMETRICS_CONTENT_TYPE;

/** The module as one object, for `import client from 'mmstats/prom-client'` (prom-client's CommonJS export). */
const client = {
  register,
  Registry,
  prometheusContentType,
  openMetricsContentType,
  validateMetricName,
  Counter,
  Gauge,
  Histogram,
  Summary,
  Pushgateway,
  linearBuckets,
  exponentialBuckets,
  aggregators,
  AggregatorFactory,
  AggregatorRegistry,
  collectDefaultMetrics,
  MetricType,
  /** The default registry's content type; setting it sets the registry's. */
  get contentType(): RegistryContentType {
    return register.contentType;
  },
  set contentType(value: RegistryContentType) {
    register.setContentType(value as any);
  },
};
export default client;
