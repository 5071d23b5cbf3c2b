/**
 * The reader side of mmstats: open stats files read-only, snapshot them, find them.
 * @packageDocumentation
 */
// The public types name Node's (NodeJS.ProcessEnv, Disposable...): load them for consumers
// whose compiler does not (TypeScript 6 and later default "types" to none).
/// <reference types="node" preserve="true" />
export {
  StatsReader,
  type FieldValue,
  type ReadLimits,
  type HistogramValue,
  type Snapshot,
  type Value,
  type WriterIdentity,
} from './reader.js';
export { findFiles, readAll, type ReadAllResult } from './find.js';
export {
  aggregateFields,
  mergeHistograms,
  reduce,
  writerKey,
  writerName,
  CounterTracker,
  REDUCTIONS,
  type AggregatedField,
  type GaugeMode,
  type Reduction,
} from './aggregate.js';
export {
  DEFAULT_PERCENTILES,
  expandValues,
  isHistogramValue,
  percentile,
  percentiles,
  percentileSuffix,
  summarize,
  type ExpandedValue,
  type HistogramSummary,
} from './histogram.js';
