/**
 * prom-client's AggregatorRegistry: `aggregate` and `setRegistries` as prom-client's.
 * `clusterMetrics()` is meant to read the workers' mmstats files instead of
 * messaging them; until the metrics live in those files it refuses with a clear
 * error rather than fall back to IPC (docs/MIGRATING.md).
 */
import { MmstatsError } from '../../errors.js';
import { aggregators } from './aggregators.js';
import { globalRegistry, Registry } from './registry.js';
import type { OpenMetricsContentType, PrometheusContentType, RegistryContentType } from './types.js';

let registries: Registry<any>[] = [globalRegistry];

/** A registry that combines the metrics of a cluster's workers. */
export class AggregatorRegistry<T extends RegistryContentType> extends Registry<T> {
  /** The workers' metrics, combined by each metric's aggregator. */
  clusterMetrics(): Promise<string> {
    return Promise.reject(
      new MmstatsError(
        'ERR_MMSTATS_UNSUPPORTED',
        'AggregatorRegistry.clusterMetrics() is not supported yet: scrape the workers with `mmstats serve`',
      ),
    );
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
