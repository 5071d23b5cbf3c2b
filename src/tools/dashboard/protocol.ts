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
  /**
   * Layout of the metadata below: the file's generation, or a larger number that
   * also changes when family children come or go (stream.ts, layoutOf).
   */
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
  /** A child of a labelled family: the family's name (`label` is then `family{a="x"}`). */
  readonly family?: string;
  /** A child of a labelled family: its labels. */
  readonly labels?: Readonly<Record<string, string>>;
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

/**
 * The part of a histogram added since `prev` (the same field's previous value):
 * the counts and sum observed in between, with the lifetime min and max kept as
 * bounds. The whole value when there is no previous one or the writer restarted
 * (its count went down). Both the server's history and the page store
 * histograms this way: a window's distribution is then the sum of its ticks'
 * deltas, and a tick costs only the buckets that changed.
 */
export function histogramDelta(prev: WireValue | undefined, cur: WireHistogram): WireHistogram {
  if (!isWireHistogram(prev) || prev.count > cur.count) return cur;
  const idx: number[] = [];
  const counts: number[] = [];
  let j = 0;
  for (let k = 0; k < cur.idx.length; k++) {
    const b = cur.idx[k]!;
    while (j < prev.idx.length && prev.idx[j]! < b) j++;
    const before = j < prev.idx.length && prev.idx[j] === b ? prev.counts[j]! : 0;
    const d = cur.counts[k]! - before;
    if (d > 0) {
      idx.push(b);
      counts.push(d);
    }
  }
  return { count: cur.count - prev.count, sum: cur.sum - prev.sum, min: cur.min, max: cur.max, idx, counts };
}

/** A writer's identity in the history (a WireWriter without what changes per tick). */
export type WireWriterInfo = Omit<WireWriter, 'fields' | 'values' | 'generation' | 'alive' | 'state'>;

/**
 * One tick of history: per writer its key (see WireHistory.writers), layout
 * generation, liveness (1 or 0), state, and values in that layout's order, with
 * histograms as deltas from the writer's previous tick (histogramDelta).
 */
export interface WireTick {
  readonly t: number;
  readonly w: readonly (readonly [key: string, generation: number, alive: 0 | 1, state: string, values: readonly WireValue[]])[];
}

/**
 * The `history` event, sent once to a page as it connects, before any update:
 * the ticks the server kept, oldest first.
 */
export interface WireHistory {
  /** Milliseconds between ticks. */
  readonly intervalMs: number;
  /** How far back the server keeps ticks (ms), memory allowing. */
  readonly keepMs: number;
  /** Identity of every writer in the ticks, by key. */
  readonly writers: Readonly<Record<string, WireWriterInfo>>;
  /** Field metadata by `key/generation`. */
  readonly layouts: Readonly<Record<string, readonly WireField[]>>;
  /** Each writer's values as last read (histograms whole), in its last tick's layout. */
  readonly last: Readonly<Record<string, readonly WireValue[]>>;
  /** The stats paths served. */
  readonly paths: readonly string[];
  readonly ticks: readonly WireTick[];
}
