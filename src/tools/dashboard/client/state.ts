/**
 * What the page remembers: the writers of the last update with their field
 * metadata, and a bounded history of every value on one shared time axis, from
 * which the charts derive rates and windowed percentiles.
 */
import { bucketQuantile, isWireHistogram, type WireField, type WireUpdate, type WireValue, type WireWriter } from '../protocol.js';
import { numeric } from './format.js';

/** Points kept per series: five minutes at one update a second. */
export const MAX_POINTS = 300;
/** Updates a percentile window spans. */
export const QUANTILE_WINDOW = 5;

/** One writer as the page knows it. */
export interface WriterState {
  writer: WireWriter;
  fields: readonly WireField[];
  /** label → index into `fields` and `values`. */
  index: Map<string, number>;
  values: readonly WireValue[];
  /** label → values on the shared time axis (undefined where the writer had none). */
  history: Map<string, (WireValue | undefined)[]>;
}

/** The page's memory of the stream. */
export class History {
  /** Update times in seconds (uPlot's time unit). */
  readonly times: number[] = [];
  readonly writers = new Map<string, WriterState>();
  paths: readonly string[] = [];

  /** Take in one update; returns whether the set of writers changed. */
  apply(u: WireUpdate): boolean {
    let changed = false;
    this.paths = u.paths;
    this.times.push(u.t / 1000);
    const drop = this.times.length > MAX_POINTS;
    if (drop) this.times.shift();
    const seen = new Set<string>();
    for (const w of u.writers) {
      seen.add(w.id);
      let s = this.writers.get(w.id);
      if (!s) {
        s = { writer: w, fields: [], index: new Map(), values: [], history: new Map() };
        this.writers.set(w.id, s);
        changed = true;
      }
      if (s.writer.alive !== w.alive || s.writer.state !== w.state || s.writer.error !== w.error) changed = true;
      s.writer = w;
      if (w.fields) {
        s.fields = w.fields;
        s.index = new Map(w.fields.map((f, i) => [f.label, i]));
        changed = true;
      }
      s.values = w.values;
      for (const [label, i] of s.index) {
        // Write-once fields never change: no history to keep (the table shows their value).
        if (s.fields[i]!.static) continue;
        let arr = s.history.get(label);
        if (!arr) s.history.set(label, (arr = new Array<WireValue | undefined>(this.times.length - 1).fill(undefined)));
        arr.push(w.values[i]);
      }
    }
    for (const [id, s] of this.writers) {
      if (!seen.has(id)) {
        this.writers.delete(id);
        changed = true;
        continue;
      }
      // Keep every series aligned with the time axis.
      for (const arr of s.history.values()) {
        while (arr.length < this.times.length) arr.push(undefined);
        while (arr.length > this.times.length) arr.shift();
      }
    }
    return changed;
  }
}

/** A counter's rate per second between updates; a drop (a restart) leaves a gap. */
export function rates(f: WireField, times: readonly number[], values: readonly (WireValue | undefined)[]): (number | null)[] {
  const out: (number | null)[] = [null];
  for (let i = 1; i < times.length; i++) {
    const a = numeric(f, values[i - 1]);
    const b = numeric(f, values[i]);
    const dt = times[i]! - times[i - 1]!;
    out.push(a === null || b === null || b < a || dt <= 0 ? null : (b - a) / dt);
  }
  return out;
}

/** A gauge's values as numbers (gaps where absent). */
export function numbers(f: WireField, values: readonly (WireValue | undefined)[]): (number | null)[] {
  return values.map((v) => numeric(f, v));
}

/**
 * Percentile lines of histograms merged over writers: at each update, the
 * bucket counts added over the last QUANTILE_WINDOW updates, summed bucket by
 * bucket over the writers (never averaged), then the quantiles of that.
 */
export function windowQuantiles(
  le: readonly (number | null)[],
  length: number,
  series: readonly (readonly (WireValue | undefined)[])[],
  qs: readonly number[],
): (number | null)[][] {
  const out = qs.map(() => [] as (number | null)[]);
  for (let i = 0; i < length; i++) {
    const merged = new Map<number, number>();
    let min = Number.POSITIVE_INFINITY;
    let max = Number.NEGATIVE_INFINITY;
    for (const values of series) {
      const cur = values[i];
      if (!isWireHistogram(cur)) continue;
      const back = values[Math.max(0, i - QUANTILE_WINDOW)];
      // A window that starts before the writer did, or across its restart, counts all it has.
      const prev = isWireHistogram(back) && back.count <= cur.count ? back : undefined;
      cur.idx.forEach((b, k) => merged.set(b, (merged.get(b) ?? 0) + cur.counts[k]!));
      prev?.idx.forEach((b, k) => merged.set(b, (merged.get(b) ?? 0) - prev.counts[k]!));
      if (cur.count > 0) {
        min = Math.min(min, cur.min);
        max = Math.max(max, cur.max);
      }
    }
    const idx = [...merged.keys()].filter((b) => merged.get(b)! > 0).sort((a, b) => a - b);
    const counts = idx.map((b) => merged.get(b)!);
    qs.forEach((q, k) => out[k]!.push(bucketQuantile(q, le, idx, counts, min, max)));
  }
  return out;
}
