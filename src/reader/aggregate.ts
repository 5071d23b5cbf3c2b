/**
 * Aggregation across writers: one rule per kind, used alike by `poll`, the JSON
 * API, the dashboard and `/metrics`.
 *
 * - counter: summed over writers. A CounterTracker remembers what writers that
 *   left (or restarted from zero) had counted, so a total never goes backwards.
 * - gauge (and untyped numbers): one mode, `sum` of live writers by default, or
 *   `max`, `min`, `avg`, `latest` (the most recently created writer's value).
 * - histogram, timer: merged bucket by bucket, so percentiles come from the
 *   merged data and are never averaged.
 * - average (a struct with count and sum): counts and sums added, mean recomputed.
 * - info, strings, other structs: listed per writer.
 */
import type { FieldValue, HistogramValue, Snapshot, WriterIdentity } from './reader.js';

/** The original mmash reductions of a list of values. */
export type Reduction = 'avg' | 'one' | 'max' | 'min' | 'sum' | 'nonzero-min' | 'nonzero-avg';
export const REDUCTIONS: readonly Reduction[] = ['avg', 'one', 'max', 'min', 'sum', 'nonzero-min', 'nonzero-avg'];

/** How gauges from several writers combine. */
export type GaugeMode = 'sum' | 'max' | 'min' | 'avg' | 'latest';

/**
 * The largest of `values` (`empty` when there is none). A loop, never
 * `Math.max(...values)`: a spread puts every value on the stack, which overflows
 * at about 130,000 values.
 */
export function maxOf(values: Iterable<number>, empty = -Infinity): number {
  let m = empty;
  let first = true;
  for (const v of values) {
    if (first || v > m || Number.isNaN(v)) m = v;
    first = false;
    if (Number.isNaN(m)) return m;
  }
  return m;
}

/** The smallest of `values` (`empty` when there is none); see maxOf. */
export function minOf(values: Iterable<number>, empty = Infinity): number {
  let m = empty;
  let first = true;
  for (const v of values) {
    if (first || v < m || Number.isNaN(v)) m = v;
    first = false;
    if (Number.isNaN(m)) return m;
  }
  return m;
}

/** Reduce numbers the way the original `?aggr=` did; null for an empty list. */
export function reduce(values: readonly number[], aggr: Reduction): number | null {
  const list = aggr.startsWith('nonzero-') ? values.filter((v) => v !== 0) : values;
  if (list.length === 0) return null;
  switch (aggr) {
    case 'one':
      return list[0]!;
    case 'max':
      return maxOf(list);
    case 'min':
    case 'nonzero-min':
      return minOf(list);
    case 'sum':
      return list.reduce((a, b) => a + b, 0);
    case 'avg':
    case 'nonzero-avg':
      return list.reduce((a, b) => a + b, 0) / list.length;
  }
}

/** A stable name for a writer: which process and thread, started when. */
export function writerKey(s: Snapshot): string {
  return `${s.path}#${s.writer.pid}:${s.writer.threadId}:${s.writer.startToken}:${s.writer.createdMs}`;
}

/** A short human name for a writer. */
export function writerName(w: WriterIdentity): string {
  return `pid ${w.pid}${w.threadId ? ` tid ${w.threadId}` : ''}`;
}

function asNumber(v: FieldValue['value']): number | undefined {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'boolean') return v ? 1 : 0;
  return undefined;
}

const MAX_GONE = 10_000;

/**
 * Counter totals that never go backwards: when a writer leaves, or its counter
 * drops (a restart), what it had counted is kept in a retired sum.
 */
export class CounterTracker {
  private readonly last = new Map<string, Map<string, number>>();
  /** Writers not seen in the last update, with what they had counted: one may only have failed a read. */
  private readonly gone = new Map<string, Map<string, number>>();
  private readonly retired = new Map<string, number>();
  private readonly current = new Map<string, number>();

  /**
   * Take in the writers' current values. With `groups` (one name per snapshot, such
   * as the exposition's writer labels), totals are kept per group: a writer counts
   * toward its own group's totals only (see `key`).
   */
  update(snapshots: readonly Snapshot[], groups?: readonly string[]): void {
    const seen = new Set<string>();
    this.current.clear();
    for (const [i, s] of snapshots.entries()) {
      const key = writerKey(s);
      seen.add(key);
      let mine = this.last.get(key);
      const back = this.gone.get(key);
      if (!mine && back) {
        // A writer that only missed a read: take back what was retired for it.
        for (const [label, v] of back) this.retire(label, -v);
        this.gone.delete(key);
        mine = back;
        this.last.set(key, mine);
      }
      if (!mine) this.last.set(key, (mine = new Map()));
      const group = groups ? groups[i] + '\u0000' : '';
      for (const f of s.fields) {
        if (f.kind !== 'counter') continue;
        const v = asNumber(f.value);
        if (v === undefined) continue;
        const label = group + f.label;
        const before = mine.get(label);
        if (before !== undefined && v < before) this.retire(label, before);
        mine.set(label, v);
        this.current.set(label, (this.current.get(label) ?? 0) + v);
      }
    }
    for (const [key, values] of this.last) {
      if (seen.has(key)) continue;
      for (const [label, v] of values) this.retire(label, v);
      this.last.delete(key);
      this.gone.set(key, values);
    }
    // Remember only the most recent departures; an older one is gone for good.
    for (const key of this.gone.keys()) {
      if (this.gone.size <= MAX_GONE) break;
      this.gone.delete(key);
    }
  }

  private retire(label: string, v: number): void {
    this.retired.set(label, (this.retired.get(label) ?? 0) + v);
  }

  /** The total of a counter label: live writers plus what departed writers counted. */
  total(label: string): number {
    return (this.current.get(label) ?? 0) + (this.retired.get(label) ?? 0);
  }

  /** What writers that left (or restarted from zero) had counted of a counter label: `total` less the live writers' values. */
  retiredOf(label: string): number {
    return this.retired.get(label) ?? 0;
  }

  /** What to ask `total` or `retiredOf` for a label in one group (when updated with groups). */
  static key(label: string, group: string): string {
    return `${group}\u0000${label}`;
  }

  /** Every counter label seen. */
  labels(): string[] {
    return [...new Set([...this.current.keys(), ...this.retired.keys()])];
  }
}

function sameBounds(a: HistogramValue, b: HistogramValue): boolean {
  return a.buckets.length === b.buckets.length && a.buckets.every((x, i) => x.le === b.buckets[i]!.le);
}

/**
 * Merge histograms bucket by bucket. Histograms whose bucket bounds differ from
 * the first one's cannot be merged exactly and are left out (null if none).
 */
export function mergeHistograms(values: readonly HistogramValue[]): HistogramValue | null {
  const first = values[0];
  if (!first) return null;
  const buckets = first.buckets.map((b) => ({ le: b.le, count: 0 }));
  let count = 0;
  let sum = 0;
  let min = Infinity;
  let max = -Infinity;
  let last = first.last;
  for (const h of values) {
    if (!sameBounds(first, h)) continue;
    h.buckets.forEach((b, i) => (buckets[i]!.count += b.count));
    count += h.count;
    sum += h.sum;
    if (h.count > 0) {
      min = Math.min(min, h.min);
      max = Math.max(max, h.max);
      last = h.last;
    }
  }
  return { ...first, count, sum, min: count > 0 ? min : 0, max: count > 0 ? max : 0, last, buckets };
}

/** A field combined over every writer that has it. */
export interface AggregatedField {
  readonly label: string;
  readonly kind: string;
  readonly type: string;
  readonly unit: string;
  readonly help: string;
  /** How many writers have the field. */
  readonly writers: number;
  /** A child of a labelled family: the family's name; `label` is `family{a="x"}`. */
  readonly family?: string;
  /** A child of a labelled family: its labels. */
  readonly labels?: Readonly<Record<string, string>>;
  readonly value: number | HistogramValue | Readonly<Record<string, number>> | { writer: string; value: unknown }[] | null;
}

function isHistogram(v: unknown): v is HistogramValue {
  return typeof v === 'object' && v !== null && Array.isArray((v as HistogramValue).buckets);
}

/** One writer's value of a field, to be combined with other writers'. */
export interface WriterValue {
  readonly value: FieldValue['value'];
  readonly writer: WriterIdentity;
}

/**
 * Combine one field's values over writers, by the rule of its kind (see the module
 * comment). `counted` is a counter's total as a CounterTracker keeps it (departed
 * writers included); without it, a counter is the sum of the values given.
 */
export function combineValues(
  field: Pick<FieldValue, 'kind' | 'value'> & { readonly static?: boolean },
  group: readonly WriterValue[],
  gauge: GaugeMode = 'sum',
  counted?: number,
): AggregatedField['value'] {
  const values = group.map((g) => g.value);
  if (isHistogram(field.value)) return mergeHistograms(values.filter(isHistogram));
  if (field.kind === 'counter' && asNumber(field.value) !== undefined) {
    return (
      counted ??
      reduce(
        values.map(asNumber).filter((v) => v !== undefined),
        'sum',
      )
    );
  }
  if (
    field.kind === 'average' &&
    typeof field.value === 'object' &&
    field.value !== null &&
    'count' in field.value &&
    'sum' in field.value
  ) {
    let count = 0;
    let sum = 0;
    for (const v of values as Record<string, number>[]) {
      count += v?.count ?? 0;
      sum += v?.sum ?? 0;
    }
    return { count, sum, mean: count > 0 ? sum / count : 0 };
  }
  if (field.kind !== 'info' && !field.static && asNumber(field.value) !== undefined) {
    const live = group.filter((g) => g.writer.alive || gauge !== 'sum');
    const nums = (live.length > 0 ? live : group).map((g) => asNumber(g.value)).filter((v) => v !== undefined);
    if (gauge === 'latest') {
      const newest = [...group].sort((a, b) => b.writer.createdMs - a.writer.createdMs)[0]!;
      return asNumber(newest.value) ?? null;
    }
    return reduce(nums, gauge);
  }
  return group.map((g) => ({ writer: writerName(g.writer), value: g.value }));
}

/**
 * Combine structs of float parts (compound, minMax, samplingCounter, memory
 * usage...) part by part, for a consumer that needs one value (the exposition):
 * a part named `min`/`*_min` takes the smallest, `max`/`*_max` the largest,
 * `last`/`*_last` the most recently started writer's, `mean`/`*_mean` the mean
 * weighted by the `count` part (plain mean without one); every other part is summed.
 */
export function combineParts(
  group: readonly { readonly value: Readonly<Record<string, number>>; readonly writer: WriterIdentity }[],
): Record<string, number> {
  const out: Record<string, number> = {};
  const newest = group.reduce((a, b) => (b.writer.createdMs > a.writer.createdMs ? b : a), group[0]!);
  const weights = group.map((g) => (typeof g.value.count === 'number' ? g.value.count : 1));
  const weight = weights.reduce((a, b) => a + b, 0);
  for (const part of Object.keys(group[0]?.value ?? {})) {
    const nums = group.map((g) => g.value[part] ?? 0);
    const role = /(?:^|_)(min|max|last|mean)$/.exec(part)?.[1];
    if (role === 'min') out[part] = minOf(nums);
    else if (role === 'max') out[part] = maxOf(nums);
    else if (role === 'last') out[part] = newest.value[part] ?? 0;
    else if (role === 'mean') out[part] = weight > 0 ? nums.reduce((a, v, i) => a + v * weights[i]!, 0) / weight : 0;
    else out[part] = nums.reduce((a, b) => a + b, 0);
  }
  return out;
}

/**
 * Combine every field over the given snapshots, one rule per kind (see the module
 * comment). Children of labelled families combine per family and label set.
 */
export function aggregateFields(
  snapshots: readonly Snapshot[],
  opts: { gauge?: GaugeMode; counters?: CounterTracker } = {},
): AggregatedField[] {
  const gauge = opts.gauge ?? 'sum';
  const groups = new Map<string, { field: FieldValue; snap: Snapshot }[]>();
  for (const snap of snapshots) {
    for (const field of snap.fields) {
      let g = groups.get(field.label);
      if (!g) groups.set(field.label, (g = []));
      g.push({ field, snap });
    }
  }
  const out: AggregatedField[] = [];
  for (const [label, group] of groups) {
    const f0 = group[0]!.field;
    const base = {
      label,
      kind: f0.kind,
      type: f0.type,
      unit: f0.unit,
      help: f0.help,
      writers: group.length,
      // A family child's label is its family and label set: grouping by label combines per (family, label set).
      ...(f0.family !== undefined && { family: f0.family, labels: f0.labels }),
    };
    const values = group.map((g) => ({ value: g.field.value, writer: g.snap.writer }));
    const counted = opts.counters && f0.kind === 'counter' ? opts.counters.total(label) : undefined;
    const value = combineValues(f0, values, gauge, counted);
    out.push({ ...base, value });
  }
  return out;
}
