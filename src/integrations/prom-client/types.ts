/**
 * The public types of prom-client 15 (its index.d.ts), so that a TypeScript program
 * written against prom-client compiles unchanged against `mmstats/prom-client`.
 */
import type { Registry } from './registry.js';

export type Charset = 'utf-8';
export type PrometheusMIME = 'text/plain';
export type PrometheusMetricsVersion = '0.0.4';
export type OpenMetricsMIME = 'application/openmetrics-text';
export type OpenMetricsVersion = '1.0.0';
export type OpenMetricsContentType = `${OpenMetricsMIME}; version=${OpenMetricsVersion}; charset=${Charset}`;
export type PrometheusContentType = `${PrometheusMIME}; version=${PrometheusMetricsVersion}; charset=${Charset}`;
export type RegistryContentType = PrometheusContentType | OpenMetricsContentType;

/** How `AggregatorRegistry` combines a metric's values across workers. */
export type Aggregator = 'omit' | 'sum' | 'first' | 'min' | 'max' | 'average';

/** Metric types (declared by prom-client's typings). */
export enum MetricType {
  Counter,
  Gauge,
  Histogram,
  Summary,
}

export type Collector = () => void;
export type CollectFunction<T> = (this: T) => void | Promise<void>;

export type LabelValues<T extends string> = Partial<Record<T, string | number>>;

export interface MetricObject {
  name: string;
  help: string;
  type: MetricType;
  aggregator: Aggregator;
  collect: CollectFunction<any>;
}

export interface MetricObjectWithValues<T extends MetricValue<string>> extends MetricObject {
  values: T[];
}

export type MetricValue<T extends string> = {
  value: number;
  labels: LabelValues<T>;
};

export type MetricValueWithName<T extends string> = MetricValue<T> & {
  metricName?: string;
};

export interface MetricConfiguration<T extends string> {
  name: string;
  help: string;
  labelNames?: T[] | readonly T[];
  registers?: (Registry<PrometheusContentType> | Registry<OpenMetricsContentType>)[];
  aggregator?: Aggregator;
  collect?: CollectFunction<any>;
  enableExemplars?: boolean;
}

export interface IncreaseDataWithExemplar<T extends string> {
  value?: number;
  labels?: LabelValues<T>;
  exemplarLabels?: LabelValues<T>;
}

export interface ObserveDataWithExemplar<T extends string> {
  value: number;
  labels?: LabelValues<T>;
  exemplarLabels?: LabelValues<T>;
}
