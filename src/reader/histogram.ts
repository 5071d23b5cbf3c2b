/**
 * What readers derive from a histogram or a timer: count, sum, min, max, mean and
 * any percentile; and `expandValues`, the one place that turns a field of several
 * values (timer, histogram, average, compound) into the named values every tool
 * shows (`count`, `mean`, `p99`...).
 *
 * Percentiles interpolate linearly inside the bucket that holds the wanted rank,
 * between the bucket's bounds clamped to the observed min and max. The exact
 * nearest-rank percentile lies in that same bucket, so the error is at most the
 * bucket's width: for the log-linear layout at precision p, at most 2^-p of the
 * value (p = 7, the default: 0.78%); for explicit bounds, the width of the bucket.
 * Values beyond the layout's range land in the first or the +Infinity bucket, where
 * the bound is the observed min or max instead.
 */
import type { FieldValue, HistogramValue } from './reader.js';

/** The percentiles tools show by default. */
export const DEFAULT_PERCENTILES: readonly number[] = [50, 90, 99, 99.9];

/** Summary figures of a histogram. NaN where undefined (an empty histogram). */
export interface HistogramSummary {
  readonly count: number;
  readonly sum: number;
  readonly mean: number;
  readonly min: number;
  readonly max: number;
  readonly last: number;
}

/** True if `v` is a histogram value as the reader returns it. */
export function isHistogramValue(v: unknown): v is HistogramValue {
  return (
    typeof v === 'object' && v !== null && Array.isArray((v as HistogramValue).buckets) && typeof (v as HistogramValue).count === 'number'
  );
}

/** Count, sum, mean, min, max and last of a histogram (NaN for mean, min, max, last when empty). */
export function summarize(h: HistogramValue): HistogramSummary {
  const empty = !(h.count > 0);
  return {
    count: h.count,
    sum: h.sum,
    mean: empty ? NaN : h.sum / h.count,
    min: empty ? NaN : h.min,
    max: empty ? NaN : h.max,
    last: empty ? NaN : h.last,
  };
}

/**
 * The `q`th percentile (0 to 100) of a histogram, interpolated inside its bucket;
 * NaN when the histogram is empty. q = 0 gives the min, q = 100 the max.
 */
export function percentile(h: HistogramValue, q: number): number {
  return percentiles(h, [q])[0]!;
}

/** Several percentiles (each 0 to 100) in one pass over the buckets, in the order asked. */
export function percentiles(h: HistogramValue, qs: readonly number[]): number[] {
  for (const q of qs) if (!(q >= 0 && q <= 100)) throw new RangeError(`a percentile must be from 0 to 100, not ${q}`);
  const buckets = h.buckets;
  let total = 0;
  for (const b of buckets) total += b.count > 0 ? b.count : 0;
  if (!(total > 0)) return qs.map(() => NaN);
  const order = qs.map((q, i) => ({ q, i })).sort((a, b) => a.q - b.q);
  const out = new Array<number>(qs.length);
  let cum = 0;
  let k = 0;
  for (let i = 0; i < buckets.length && k < order.length; i++) {
    const c = buckets[i]!.count;
    if (!(c > 0)) continue;
    while (k < order.length) {
      const { q, i: at } = order[k]!;
      if (q === 0) out[at] = h.min;
      else if (q === 100) out[at] = h.max;
      else {
        const rank = (q / 100) * total;
        if (rank > cum + c) break;
        const lo = i === 0 ? h.min : Math.max(buckets[i - 1]!.le, h.min);
        const hi = Math.min(buckets[i]!.le, h.max);
        out[at] = hi > lo ? lo + ((hi - lo) * (rank - cum)) / c : hi;
      }
      k++;
    }
    cum += c;
  }
  // Ranks past the last counted bucket (only through rounding): the max.
  for (; k < order.length; k++) out[order[k]!.i] = h.max;
  return out;
}

/** Suffix of a percentile: `p50`, `p99`, `p99.9`. */
export function percentileSuffix(q: number): string {
  return `p${q}`;
}

/** One of the values a field exposes. */
export interface ExpandedValue {
  /** Appended to the label with a dot (`web.latency.p99`); empty for a plain value. */
  readonly suffix: string;
  readonly value: number | bigint | boolean | string;
}

/**
 * The values a field shows in tools: a plain value as itself (suffix ''); a
 * struct (average, compound, memory...) as one value per part; a histogram or
 * timer as `count`, `sum`, `mean`, `min`, `max`, `last`, one `pNN` per percentile
 * asked (default 50, 90, 99, 99.9) and its extra values (a timer's `moving_mean`).
 * A field without a value (it kept changing while read) exposes nothing.
 */
export function expandValues(field: Pick<FieldValue, 'value'>, options: { percentiles?: readonly number[] } = {}): ExpandedValue[] {
  const v = field.value;
  if (v === null || v === undefined) return [];
  if (typeof v !== 'object') return [{ suffix: '', value: v }];
  if (isHistogramValue(v)) {
    const s = summarize(v);
    const qs = options.percentiles ?? DEFAULT_PERCENTILES;
    const ps = percentiles(v, qs);
    const out: ExpandedValue[] = [
      { suffix: 'count', value: s.count },
      { suffix: 'sum', value: s.sum },
      { suffix: 'mean', value: s.mean },
      { suffix: 'min', value: s.min },
      { suffix: 'max', value: s.max },
      { suffix: 'last', value: s.last },
    ];
    qs.forEach((q, i) => out.push({ suffix: percentileSuffix(q), value: ps[i]! }));
    for (const [name, value] of Object.entries(v.extra ?? {})) out.push({ suffix: name, value });
    return out;
  }
  return Object.entries(v as Readonly<Record<string, number>>).map(([suffix, value]) => ({ suffix, value }));
}
