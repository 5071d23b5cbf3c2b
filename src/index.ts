/**
 * mmstats: publish live metrics in memory-mapped files; read them from other processes.
 * @packageDocumentation
 */
// The public types name Node's (NodeJS.ProcessEnv, Disposable...): load them for consumers
// whose compiler does not (TypeScript 6 and later default "types" to none).
/// <reference types="node" preserve="true" />
export { defineModel, openStats, Model, Stats, type OpenOptions, type Schema, type FieldsOf } from './writer/model.js';
export { field } from './writer/fields/index.js';
export { Field, FieldSpec, type FieldOptions, type FormatVersion } from './writer/field.js';
export type { NumberField, CounterField, GaugeField, BoolField } from './writer/fields/scalar.js';
export type { BigIntField, StringField, CompoundField } from './writer/fields/wide.js';
export type { StaticField } from './writer/fields/static.js';
export { MmstatsError, isMmstatsError, type MmstatsErrorCode } from './errors.js';
export { defaultStatsDir, defaultStatsDirs, defaultGlob, defaultGlobs } from './platform/paths.js';
export * from './reader/index.js';
export type { AverageField } from './writer/fields/average.js';
export type { TimerField, TimerScope, TimeUnit } from './writer/fields/timer.js';
export type { HistogramField, HistogramOptions } from './writer/fields/histogram.js';
export type { SamplingCounterField, MinMaxField } from './writer/fields/compound.js';
export type { MemoryUsageField, MemoryMark, ProcessMemoryField } from './writer/fields/memory.js';
export {
  Family,
  FamilySpec,
  DEFAULT_MAX_SERIES,
  type LabelOptions,
  type LabelSet,
  type LabelValue,
  type LabelValues,
  type Labelled,
} from './writer/family.js';
export {
  expandValues,
  percentile,
  percentiles,
  percentileSuffix,
  summarize,
  isHistogramValue,
  DEFAULT_PERCENTILES,
  type ExpandedValue,
  type HistogramSummary,
} from './reader/histogram.js';
export { startRuntimeMetrics, type RuntimeMetrics, type RuntimeMetricsOptions } from './integrations/runtime.js';
export type { SharedScope } from './writer/shared.js';
export {
  instrumentHttpServer,
  instrumentHttp,
  hasHttpServerChannels,
  setRoute,
  HTTP_METHODS,
  HTTP_LABELS,
  HTTP_DURATION_BUCKETS,
  type HttpMetrics,
  type HttpMetricsOptions,
} from './integrations/http.js';
