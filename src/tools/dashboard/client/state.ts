/**
 * What the page remembers: the writers of the last update with their field
 * metadata, and a bounded history of every value on one shared time axis, from
 * which the charts derive rates and windowed percentiles. The history starts
 * with what the server kept (the `history` event) and grows with each update.
 * Histograms are kept as deltas from the writer's previous point, as the server
 * keeps them: a window's distribution is the sum of its points.
 */
import {
  bucketQuantile,
  histogramDelta,
  isWireHistogram,
  type WireField,
  type WireHistory,
  type WireUpdate,
  type WireValue,
  type WireWriter,
} from '../protocol.js';
import { numeric } from '../format.js';

/** Points kept per series when the server keeps no history: an hour at one update a second. */
export const DEFAULT_MAX_POINTS = 3600;
/** Points a percentile window spans. */
export const QUANTILE_WINDOW = 5;

/** One writer as the page knows it. */
export interface WriterState {
  writer: WireWriter;
  fields: readonly WireField[];
  /** label → index into `fields` and `values`. */
  index: Map<string, number>;
  /** chart key (a family's name, else the label) → indexes of its fields. */
  charts: Map<string, number[]>;
  /** The values as last read (histograms whole): what the fields table shows. */
  values: readonly WireValue[];
  /** label → values on the shared time axis (undefined where the writer had none; histograms as deltas). */
  history: Map<string, (WireValue | undefined)[]>;
}

/** The page's memory of the stream. */
export class History {
  /** Update times in seconds (uPlot's time unit). */
  readonly times: number[] = [];
  readonly writers = new Map<string, WriterState>();
  paths: readonly string[] = [];
  /** Points kept: as many as the server keeps, at least an hour's worth at one a second. */
  maxPoints = DEFAULT_MAX_POINTS;

  /** Take in one update; returns whether the set of writers or their layouts changed. */
  apply(u: WireUpdate): boolean {
    return this.push(u, false);
  }

  /**
   * Start again from the server's history (sent when the stream opens, again
   * after a reconnect): the ticks replayed in order, then each writer's values
   * as last read.
   */
  applyHistory(h: WireHistory): void {
    this.times.length = 0;
    this.writers.clear();
    this.maxPoints = Math.max(DEFAULT_MAX_POINTS, Math.ceil(h.keepMs / Math.max(1, h.intervalMs)) + 1);
    const layoutOf = new Map<string, number>();
    for (const tick of h.ticks) {
      const writers: WireWriter[] = [];
      for (const [key, generation, alive, state, values] of tick.w) {
        const info = h.writers[key];
        if (!info) continue;
        const fields = layoutOf.get(key) === generation ? undefined : h.layouts[`${key}/${generation}`];
        if (fields) layoutOf.set(key, generation);
        writers.push({ ...info, generation, alive: alive === 1, state, values, ...(fields ? { fields } : {}) });
      }
      this.push({ t: tick.t, paths: h.paths, writers }, true);
    }
    for (const [key, values] of Object.entries(h.last)) {
      const s = this.writers.get(h.writers[key]?.id ?? '');
      if (s && values.length === s.fields.length) s.values = values;
    }
    this.paths = h.paths;
  }

  private push(u: WireUpdate, deltas: boolean): boolean {
    let changed = false;
    this.paths = u.paths;
    this.times.push(u.t / 1000);
    if (this.times.length > this.maxPoints) this.times.shift();
    const seen = new Set<string>();
    for (const w of u.writers) {
      seen.add(w.id);
      let s = this.writers.get(w.id);
      if (!s) {
        s = { writer: w, fields: [], index: new Map(), charts: new Map(), values: [], history: new Map() };
        this.writers.set(w.id, s);
        changed = true;
      }
      if (s.writer.alive !== w.alive || s.writer.state !== w.state || s.writer.error !== w.error) changed = true;
      s.writer = w;
      const before = s.values;
      const beforeIndex = s.index;
      if (w.fields) {
        s.fields = w.fields;
        s.index = new Map(w.fields.map((f, i) => [f.label, i]));
        s.charts = new Map();
        w.fields.forEach((f, i) => {
          const key = chartKey(f);
          const list = s!.charts.get(key);
          if (list) list.push(i);
          else s!.charts.set(key, [i]);
        });
        changed = true;
      }
      s.values = w.values;
      for (const [label, i] of s.index) {
        // Write-once fields never change: no history to keep (the table shows their value).
        if (s.fields[i]!.static) continue;
        let arr = s.history.get(label);
        if (!arr) s.history.set(label, (arr = new Array<WireValue | undefined>(this.times.length - 1).fill(undefined)));
        let v = w.values[i];
        if (!deltas && isWireHistogram(v)) {
          const j = beforeIndex.get(label);
          v = histogramDelta(j === undefined ? undefined : before[j], v);
        }
        arr.push(v);
      }
    }
    for (const [id, s] of this.writers) {
      if (!seen.has(id)) {
        this.writers.delete(id);
        changed = true;
        continue;
      }
      // Keep every series aligned with the time axis; a family child that went has no series left.
      for (const [label, arr] of s.history) {
        if (!s.index.has(label)) {
          s.history.delete(label);
          continue;
        }
        while (arr.length < this.times.length) arr.push(undefined);
        while (arr.length > this.times.length) arr.shift();
      }
    }
    return changed;
  }
}

/** The chart a field is drawn in: its family's (one chart per family), else its own. */
export function chartKey(f: WireField): string {
  return f.family ?? f.label;
}

/** A counter's rate per second between points, from index `from`; a drop (a restart) leaves a gap. */
export function rates(f: WireField, times: readonly number[], values: readonly (WireValue | undefined)[], from = 0): (number | null)[] {
  const out: (number | null)[] = [];
  for (let i = from; i < times.length; i++) {
    const a = i > 0 ? numeric(f, values[i - 1]) : null;
    const b = numeric(f, values[i]);
    const dt = times[i]! - times[i - 1]!;
    out.push(a === null || b === null || b < a || !(dt > 0) ? null : (b - a) / dt);
  }
  return out;
}

/** A gauge's values as numbers from index `from` (gaps where absent). */
export function numbers(f: WireField, values: readonly (WireValue | undefined)[], from = 0, to = values.length): (number | null)[] {
  const out: (number | null)[] = [];
  for (let i = from; i < to; i++) out.push(numeric(f, values[i]));
  return out;
}

/**
 * Percentile lines of histograms merged over writers, from index `from`: at
 * each point, the bucket counts of the last QUANTILE_WINDOW points' deltas,
 * summed bucket by bucket over the writers (never averaged), then the
 * quantiles of that.
 */
export function windowQuantiles(
  le: readonly (number | null)[],
  from: number,
  length: number,
  series: readonly (readonly (WireValue | undefined)[])[],
  qs: readonly number[],
): (number | null)[][] {
  const out = qs.map(() => [] as (number | null)[]);
  const merged = new Map<number, number>();
  for (let i = from; i < length; i++) {
    merged.clear();
    let min = Number.POSITIVE_INFINITY;
    let max = Number.NEGATIVE_INFINITY;
    for (const values of series) {
      for (let k = Math.max(0, i - QUANTILE_WINDOW + 1); k <= i; k++) {
        const d = values[k];
        if (!isWireHistogram(d) || d.count <= 0) continue;
        d.idx.forEach((b, j) => merged.set(b, (merged.get(b) ?? 0) + d.counts[j]!));
        min = Math.min(min, d.min);
        max = Math.max(max, d.max);
      }
    }
    const idx = [...merged.keys()].sort((a, b) => a - b);
    const counts = idx.map((b) => merged.get(b)!);
    qs.forEach((q, k) => out[k]!.push(bucketQuantile(q, le, idx, counts, min, max)));
  }
  return out;
}

/** True when a series shows something between `from` and its end: a counter that moved, a gauge not 0, a histogram with observations. */
export function isActive(f: WireField, values: readonly (WireValue | undefined)[], from: number): boolean {
  let first: number | null = null;
  for (let i = values.length - 1; i >= from; i--) {
    const v = values[i];
    if (isWireHistogram(v)) {
      if (v.count > 0) return true;
      continue;
    }
    const x = numeric(f, v);
    if (x === null) continue;
    if (f.kind !== 'counter') {
      if (x !== 0) return true;
    } else if (first === null) first = x;
    else if (x !== first) return true;
  }
  return false;
}
