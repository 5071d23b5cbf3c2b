/**
 * The dashboard's wire format: what `/api/stream` pushes as Server-Sent Events.
 * Shared by the server side (routes.ts, stream.ts) and the browser client, so it
 * holds types and pure functions only (no Node or DOM APIs).
 *
 * Each `update` event carries every writer the server sees. A writer's field
 * metadata travels once per connection and again only when its layout
 * generation changes; values travel on every tick, in metadata order.
 */

/** A writer as the page shows it. */
export interface WireWriter {
  /** Stable per file and writer incarnation (path, pid, thread, start). */
  readonly id: string;
  /** The stats file's base name. */
  readonly file: string;
  /** The command line from `sys.cmd`, else the command part of the file name. */
  readonly cmd: string;
  readonly pid: number;
  /** worker_threads.threadId (0 = main thread). */
  readonly tid: number;
  readonly osTid: number;
  /** The writer still holds its file; false means the file is stale. */
  readonly alive: boolean;
  /** `ready`, or `closed` when the writer closed it cleanly. */
  readonly state: string;
  readonly createdMs: number;
  /** Set when the file could not be read: the row shows this instead of fields. */
  readonly error?: string;
  /** Layout generation of the metadata below. */
  readonly generation: number;
  /** Field metadata: present when new to this connection or changed. */
  readonly fields?: readonly WireField[];
  /** One value per field, in metadata order. */
  readonly values: readonly WireValue[];
}

/** A field's metadata. */
export interface WireField {
  readonly label: string;
  readonly kind: string;
  readonly type: string;
  readonly unit: string;
  readonly help: string;
  readonly static: boolean;
  /** Histograms and timers: every bucket's upper bound, ascending (null = +Infinity). */
  readonly le?: readonly (number | null)[];
}

/**
 * A histogram or timer value, sparse: only the buckets that hold observations
 * (a log-linear histogram has thousands of buckets, few of them used).
 */
export interface WireHistogram {
  readonly count: number;
  readonly sum: number;
  readonly min: number;
  readonly max: number;
  /** Indexes of the non-empty buckets, ascending. */
  readonly idx: readonly number[];
  /** Their counts. */
  readonly counts: readonly number[];
}

/** A value on the wire: numbers (bigints past 2^53 as decimal strings), text, parts, histograms. */
export type WireValue = number | string | boolean | null | WireHistogram | { readonly [part: string]: number };

/** One `update` event. */
export interface WireUpdate {
  /** Server time (ms since the epoch) when the files were read. */
  readonly t: number;
  /** The stats paths served, for the page's header. */
  readonly paths: readonly string[];
  readonly writers: readonly WireWriter[];
}

/** True for a histogram value on the wire. */
export function isWireHistogram(v: WireValue | undefined): v is WireHistogram {
  return typeof v === 'object' && v !== null && Array.isArray((v as WireHistogram).idx) && Array.isArray((v as WireHistogram).counts);
}

/**
 * The q-quantile (0..1) of a bucketed distribution given sparsely (bucket
 * indexes ascending, their counts; `le` the upper bound of every bucket),
 * linearly interpolated inside the bucket it falls in, as Prometheus'
 * histogram_quantile does. The first bucket starts at 0 (or at its own bound when
 * that is negative); the +Infinity bucket ends at `max`. `min` and `max` may be
 * lifetime figures: they bound any window's values too, so they narrow the
 * interpolation. Null when there is no observation.
 */
export function bucketQuantile(
  q: number,
  le: readonly (number | null)[],
  idx: readonly number[],
  counts: readonly number[],
  min = Number.NEGATIVE_INFINITY,
  max = Number.POSITIVE_INFINITY,
): number | null {
  let total = 0;
  for (const c of counts) total += c > 0 ? c : 0;
  if (!(total > 0)) return null;
  const rank = Math.min(Math.max(q, 0), 1) * total;
  let seen = 0;
  for (let k = 0; k < counts.length; k++) {
    const c = counts[k]!;
    if (!(c > 0)) continue;
    if (seen + c >= rank) {
      const i = idx[k]!;
      const upper = le[i] ?? Number.POSITIVE_INFINITY;
      let lo = i === 0 ? (upper > 0 ? 0 : upper) : (le[i - 1] ?? upper);
      let hi = Number.isFinite(upper) ? upper : Number.isFinite(max) ? Math.max(max, lo) : lo;
      if (Number.isFinite(min)) lo = Math.max(lo, Math.min(min, hi));
      if (Number.isFinite(max)) hi = Math.min(hi, Math.max(max, lo));
      return lo + (hi - lo) * ((rank - seen) / c);
    }
    seen += c;
  }
  return null;
}
