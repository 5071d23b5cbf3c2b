/**
 * Derived values of a histogram or timer for the JSON API: count, sum, min, max,
 * mean and percentiles, always computed from (merged) bucket data, never averaged.
 */
import type { HistogramValue } from '../../reader/reader.js';

/** What `/api/fields` shows for a histogram or timer. */
export interface HistogramSummary {
  readonly count: number;
  readonly sum: number;
  readonly min: number;
  readonly max: number;
  readonly mean: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly p999: number;
}

/** The percentiles shown, as [name, quantile]. */
export const PERCENTILES: readonly (readonly [keyof HistogramSummary, number])[] = [
  ['p50', 0.5],
  ['p90', 0.9],
  ['p99', 0.99],
  ['p999', 0.999],
];

/**
 * The `q` quantile (0..1) of a histogram: the bucket holding the rank, linearly
 * interpolated inside it, clamped to the observed min and max.
 */
export function quantile(h: HistogramValue, q: number): number {
  if (h.count <= 0) return 0;
  const rank = q * h.count;
  let seen = 0;
  let lower = h.min;
  for (const b of h.buckets) {
    if (b.count > 0 && seen + b.count >= rank) {
      const upper = Number.isFinite(b.le) ? Math.min(b.le, h.max) : h.max;
      const lo = Math.max(lower, h.min);
      const v = lo + ((rank - seen) / b.count) * (upper - lo);
      return Math.min(Math.max(v, h.min), h.max);
    }
    seen += b.count;
    if (Number.isFinite(b.le)) lower = b.le;
  }
  return h.max;
}

/** Count, sum, min, max, mean and p50/p90/p99/p99.9 of a histogram. */
export function summarizeHistogram(h: HistogramValue): HistogramSummary {
  const out: Record<string, number> = {
    count: h.count,
    sum: h.sum,
    min: h.min,
    max: h.max,
    mean: h.count > 0 ? h.sum / h.count : 0,
  };
  for (const [name, q] of PERCENTILES) out[name] = quantile(h, q);
  return out as unknown as HistogramSummary;
}
