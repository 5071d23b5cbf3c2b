/**
 * Derived values of a histogram or timer for the JSON API: count, sum, min, max,
 * mean, last and percentiles, always computed from (merged) bucket data by the
 * readers' own rules (src/reader/histogram.ts), never averaged.
 */
import { DEFAULT_PERCENTILES, percentiles, summarize } from '../../reader/histogram.js';
import type { HistogramValue } from '../../reader/reader.js';

/** What the JSON API shows for a histogram or timer; null where undefined (no values yet). */
export interface HistogramSummary {
  readonly count: number;
  readonly sum: number;
  readonly min: number | null;
  readonly max: number | null;
  readonly mean: number | null;
  readonly last: number | null;
  /** p50, p90, p99 and p99.9 (keys `p50`, `p90`, `p99`, `p99.9`). */
  readonly percentiles: Readonly<Record<string, number | null>>;
}

const orNull = (v: number): number | null => (Number.isFinite(v) ? v : null);

/** Count, sum, min, max, mean, last and p50/p90/p99/p99.9 of a histogram. */
export function summarizeHistogram(h: HistogramValue): HistogramSummary {
  const s = summarize(h);
  const ps = h.count > 0 ? percentiles(h, DEFAULT_PERCENTILES) : DEFAULT_PERCENTILES.map(() => NaN);
  const named: Record<string, number | null> = {};
  DEFAULT_PERCENTILES.forEach((q, i) => (named[`p${q}`] = orNull(ps[i]!)));
  return {
    count: s.count,
    sum: s.sum,
    min: orNull(s.min),
    max: orNull(s.max),
    mean: orNull(s.mean),
    last: orNull(s.last),
    percentiles: named,
  };
}
