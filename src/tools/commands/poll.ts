/**
 * `mmstats poll` (alias `pollstats`): like vmstat, one line every DELAY seconds
 * with chosen fields combined over every matching file.
 *
 * Per kind (the rule of src/reader/aggregate.ts): counters (and the untyped
 * numbers of v1 files, as the original did) show their change since the previous
 * line, summed over writers; a writer that restarts or leaves never makes that
 * change negative. Gauges show their value, combined by `--aggr`. Timers and
 * histograms show percentiles of the values recorded during the interval, from
 * the writers' histograms merged bucket by bucket. Files that appear or vanish
 * between lines are picked up or dropped.
 */
import { aggregateFields, combineParts, mergeHistograms, reduce, writerKey, type GaugeMode } from '../../reader/aggregate.js';
import { percentile } from '../../reader/histogram.js';
import { type FieldValue, type HistogramValue, type Snapshot } from '../../reader/index.js';
import { collect, whereLooked } from '../snapshots.js';
import { Exit, UsageError, choiceOption, numberOption, PATH_OPTION, parse, readPatterns } from '../args.js';
import { matchesLabels, parseSelector, splitSelectors, type Selector } from '../selector.js';
import { Painter, formatNumber, guardPipes, isHistogram, padStart, sanitize, useColor, warn, write } from '../term.js';

/** One line for `mmstats --help`. */
export const summary = 'print chosen fields every few seconds, like vmstat';

const HELP = `Usage: mmstats poll [options] FIELDS [PATH|GLOB...]
       pollstats [options] FIELDS [PATH|GLOB...]

Every DELAY seconds, print one line with each field of FIELDS (a comma-separated
list of labels) combined over every matching stats file:
  counters (and v1 numbers)  change since the previous line, summed over writers
  gauges                     current value, combined by --aggr
  timers and histograms      percentiles of the values recorded in the interval
A labelled family is one column, its children summed (histograms merged);
name{label="value",other!="x"} keeps the children whose labels match, and
--by LABEL makes one column per value of LABEL.

Options:
  -p, --prefix PREFIX    prepended to every label of FIELDS
  -d, --delay SECONDS    time between lines (default 1; fractions allowed)
  -c, --count N          stop after N lines (default: run until interrupted)
  -n, --headers N        repeat the column headers every N lines (default 20; 0: once)
  -f, --filter FILTER    keep only files with a label starting with FILTER, or,
                         for KEY=VALUE, whose field KEY has the value VALUE
                         (repeatable; KEY=VALUE filters must all match)
      --aggr MODE        gauges over writers: sum (of live writers), avg, min, max
                         (default sum)
      --percentiles LIST percentiles for timers and histograms (default 50,99)
      --by LABEL         a family's children summed per value of LABEL, one
                         column each (name{LABEL="value"})
      --per-second       counters as change per second instead of per line
      --json             one JSON object per line
      --path DIR         a stats directory, file or glob to read (repeatable);
                         the same as a PATH argument
  -h, --help             show this help

Exit status: 0 done, 1 failure, 2 usage error. Interrupting (Ctrl-C) is a normal end.
`;

/** A percentile column: its name (p50) and how to compute it. */
export interface Quantile {
  readonly name: string;
  /** The percentile (0-100). */
  readonly p: number;
  of(h: HistogramValue): number | null;
}

/** Parse a comma-separated percentile list such as `50,90,99.9`; a usage error names a bad entry. */
export function percentileColumns(raw: string | undefined, fallback: readonly number[]): Quantile[] {
  const list = raw === undefined ? fallback : raw.split(',').map((s) => s.trim());
  return list.map((entry) => {
    const p = typeof entry === 'number' ? entry : Number(entry.replace(/^p/i, ''));
    if ((typeof entry === 'string' && entry === '') || !Number.isFinite(p) || p < 0 || p > 100) {
      throw new UsageError(`--percentiles takes numbers from 0 to 100 separated by commas; ${JSON.stringify(entry)} is not one`);
    }
    return { name: `p${p}`, p, of: (h: HistogramValue) => finite(percentile(h, p)) };
  });
}

/** NaN (an empty histogram) as null. */
function finite(n: number): number | null {
  return Number.isFinite(n) ? n : null;
}

type Aggr = 'sum' | 'avg' | 'min' | 'max';

interface Filters {
  readonly prefixes: readonly string[];
  readonly equals: readonly { key: string; value: string }[];
}

function parseFilters(list: readonly string[]): Filters {
  const prefixes: string[] = [];
  const equals: { key: string; value: string }[] = [];
  for (const f of list) {
    const i = f.indexOf('=');
    if (i > 0) equals.push({ key: f.slice(0, i), value: f.slice(i + 1) });
    else if (i === 0) throw new UsageError(`filter ${JSON.stringify(f)} has no key before "="`);
    else prefixes.push(f);
  }
  return { prefixes, equals };
}

function valueText(v: FieldValue['value']): string {
  return typeof v === 'string' ? v : typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v);
}

/** Whether a file takes part: it has a wanted label, and every KEY=VALUE filter matches. */
export function keepFile(snap: Snapshot, labels: readonly string[], filters: Filters): boolean {
  const starts = [...labels, ...filters.prefixes];
  if (!snap.fields.some((f) => starts.some((p) => f.label.startsWith(p)))) return false;
  return filters.equals.every(({ key, value }) => snap.fields.some((f) => f.label === key && valueText(f.value) === value));
}

function toNumber(v: FieldValue['value']): number | undefined {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'boolean') return v ? 1 : 0;
  return undefined;
}

/** What is kept of a histogram between lines: its bucket counts, compactly (a log-linear histogram has thousands). */
interface Counts {
  readonly count: number;
  readonly sum: number;
  readonly buckets: Float64Array;
}

/** The merged change of one histogram label over writers, summed bucket by bucket. */
class HistogramSum {
  count = 0;
  sum = 0;
  min = Infinity;
  max = -Infinity;
  last = 0;
  readonly counts: Float64Array;
  constructor(readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length);
  }

  /** Add `cur` minus `prev` (all of `cur` when the writer restarted); false if the buckets differ. */
  add(cur: HistogramValue, prev: Counts | undefined): boolean {
    const b = cur.buckets;
    if (b.length !== this.bounds.length || b.some((x, i) => x.le !== this.bounds[i])) return false;
    let restarted = !prev || prev.buckets.length !== b.length || cur.count < prev.count;
    for (let i = 0; !restarted && i < b.length; i++) if (b[i]!.count < prev!.buckets[i]!) restarted = true;
    for (let i = 0; i < b.length; i++) this.counts[i]! += b[i]!.count - (restarted ? 0 : prev!.buckets[i]!);
    this.count += cur.count - (restarted ? 0 : prev!.count);
    this.sum += cur.sum - (restarted ? 0 : prev!.sum);
    // The interval's own min and max are unknown: bound them by the whole run's.
    if (cur.count > 0) {
      this.min = Math.min(this.min, cur.min);
      this.max = Math.max(this.max, cur.max);
      this.last = cur.last;
    }
    return true;
  }

  value(): HistogramValue {
    const empty = this.count <= 0;
    const buckets = this.bounds.map((le, i) => ({ le, count: this.counts[i]! }));
    return { count: this.count, sum: this.sum, min: empty ? 0 : this.min, max: empty ? 0 : this.max, last: this.last, buckets };
  }
}

/** Per label, the writers' changes since the previous line. */
interface Changes {
  readonly numbers: Map<string, number[]>;
  readonly histograms: Map<string, HistogramValue>;
}

/** The change of counters and histograms per writer between two samples. */
class Deltas {
  private last = new Map<string, Map<string, number | Counts>>();
  private first = true;
  private numbers = new Map<string, number[]>();
  private sums = new Map<string, HistogramSum>();
  private next = new Map<string, Map<string, number | Counts>>();

  /** Start a sample: then `add` each snapshot and `end`. */
  begin(): void {
    this.numbers = new Map();
    this.sums = new Map();
    this.next = new Map();
  }

  /** Take in one writer's snapshot (one at a time, so that large histograms are not all held at once). */
  add(s: Snapshot): void {
    const { numbers, sums, next } = this;
    const key = writerKey(s);
    // A writer seen for the first time after the start began counting from zero during the run.
    const prev = this.last.get(key) ?? (this.first ? undefined : new Map());
    const mine = new Map<string, number | Counts>();
    for (const f of s.fields) {
      if (f.static) continue;
      if (isHistogram(f.value)) {
        const h = f.value;
        mine.set(f.label, { count: h.count, sum: h.sum, buckets: Float64Array.from(h.buckets, (b) => b.count) });
        if (!prev) continue;
        let acc = sums.get(f.label);
        if (!acc) sums.set(f.label, (acc = new HistogramSum(h.buckets.map((b) => b.le))));
        const p = prev.get(f.label);
        // Histograms with other bucket bounds cannot be merged exactly: left out, as in mergeHistograms.
        acc.add(h, typeof p === 'object' ? p : undefined);
        continue;
      }
      const v = toNumber(f.value);
      if (v === undefined) continue;
      mine.set(f.label, v);
      if (!prev) continue;
      const p = prev.get(f.label);
      let list = numbers.get(f.label);
      if (!list) numbers.set(f.label, (list = []));
      list.push(typeof p === 'number' && v >= p ? v - p : v);
    }
    next.set(key, mine);
  }

  /**
   * End the sample: per label, the writers' changes since the previous one. Writers of
   * files in `unreadable` are remembered: a file that fails one read (busy, being
   * grown) must not count its whole total again when it reads next time.
   */
  end(unreadable: ReadonlySet<string>): Changes {
    const { numbers, sums, next } = this;
    for (const [key, values] of this.last) {
      if (!next.has(key) && unreadable.has(key.slice(0, key.lastIndexOf('#')))) next.set(key, values);
    }
    this.last = next;
    this.first = false;
    return { numbers, histograms: new Map([...sums].map(([label, acc]) => [label, acc.value()])) };
  }
}

/** Escape a label value as in `name{label="value"}`. */
function quoteLabel(v: string): string {
  return `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;
}

/** The column a child goes to: the selector itself, or with --by one column per value of that label. */
function columnOf(sel: Selector, labels: Readonly<Record<string, string>>, by: string | undefined): string {
  if (by === undefined) return sel.text;
  const value = Object.hasOwn(labels, by) ? labels[by]! : '';
  const matchers = sel.matchers
    .filter((m) => m.name !== by || m.negated)
    .map((m) => `${m.name}${m.negated ? '!=' : '='}${quoteLabel(m.value)}`);
  return `${sel.name}{${[...matchers, `${by}=${quoteLabel(value)}`].join(',')}}`;
}

/** Children of one writer that fall in one column, as one field: numbers summed, histograms merged, structs part by part. */
function combineChildren(column: string, kids: readonly FieldValue[], writer: Snapshot['writer']): FieldValue {
  const first = kids[0]!;
  let value: FieldValue['value'] = first.value;
  if (kids.length > 1) {
    if (isHistogram(first.value)) value = mergeHistograms(kids.flatMap((k) => (isHistogram(k.value) ? [k.value] : [])));
    else if (toNumber(first.value) !== undefined) value = kids.reduce((a, k) => a + (toNumber(k.value) ?? 0), 0);
    else if (typeof first.value === 'object' && first.value !== null) {
      value = combineParts(
        kids.flatMap((k) =>
          typeof k.value === 'object' && k.value !== null ? [{ value: k.value as Record<string, number>, writer }] : [],
        ),
      );
    }
  }
  return { ...first, label: column, family: undefined, labels: undefined, value } as FieldValue;
}

/**
 * The fields of a snapshot that poll shows: plain fields named by a selector (or
 * by a KEY=VALUE filter), and for each selector of a family its matching children
 * combined into one field per column. The columns found are added to `columns`
 * (by selector).
 */
export function selectFields(
  s: Snapshot,
  selectors: readonly Selector[],
  by: string | undefined,
  keys: ReadonlySet<string>,
  columns: Map<Selector, Set<string>>,
): Snapshot {
  const fields: FieldValue[] = [];
  const byColumn = new Map<string, FieldValue[]>();
  for (const f of s.fields) {
    if (f.family === undefined) {
      if (keys.has(f.label) || selectors.some((sel) => !sel.braces && sel.name === f.label)) fields.push(f);
      continue;
    }
    // A family that could not be read is one field with no labels: nothing to show.
    if (f.labels === undefined) continue;
    for (const sel of selectors) {
      if (sel.name !== f.family || !matchesLabels(sel, f.labels)) continue;
      const column = columnOf(sel, f.labels, by);
      let kids = byColumn.get(column);
      if (!kids) byColumn.set(column, (kids = []));
      kids.push(f);
      let set = columns.get(sel);
      if (!set) columns.set(sel, (set = new Set()));
      set.add(column);
    }
  }
  for (const [column, kids] of byColumn) fields.push(combineChildren(column, kids, s.writer));
  return { ...s, fields };
}

/** A column of output. */
interface Column {
  readonly header: string;
  readonly label: string;
  readonly quantile?: Quantile;
}

function columnsFor(labels: readonly string[], histograms: ReadonlySet<string>, quantiles: readonly Quantile[]): Column[] {
  const cols: Column[] = [];
  for (const label of labels) {
    if (histograms.has(label)) for (const q of quantiles) cols.push({ header: `${label}:${q.name}`, label, quantile: q });
    else cols.push({ header: label, label });
  }
  return cols;
}

/** Run `mmstats poll`. */
export async function run(argv: string[]): Promise<number> {
  guardPipes();
  const { values: opts, positionals } = parse(argv, {
    prefix: { type: 'string', short: 'p' },
    delay: { type: 'string', short: 'd' },
    count: { type: 'string', short: 'c' },
    headers: { type: 'string', short: 'n' },
    filter: { type: 'string', short: 'f', multiple: true },
    aggr: { type: 'string' },
    percentiles: { type: 'string' },
    'per-second': { type: 'boolean' },
    json: { type: 'boolean' },
    by: { type: 'string' },
    ...PATH_OPTION,
  });
  if (opts.help) {
    await write(HELP);
    return Exit.OK;
  }
  const [fieldList, ...rest] = positionals;
  const patterns = readPatterns(opts, rest);
  if (fieldList === undefined || fieldList.trim() === '') throw new UsageError('FIELDS is missing: give a comma-separated list of labels');
  const prefix = (opts.prefix as string | undefined) ?? '';
  const selectors = splitSelectors(fieldList).map((s) => parseSelector(prefix + s));
  const by = opts.by as string | undefined;
  if (by !== undefined && (by === '' || ![...by].every((c, i) => /[A-Za-z_]/.test(c) || (i > 0 && /[0-9]/.test(c))))) {
    throw new UsageError(`--by takes a label name such as status, not ${JSON.stringify(by)}`);
  }
  // The columns each family selector gave (with --by, one per label value), as last seen.
  let found = new Map<Selector, Set<string>>();
  const names = selectors.map((s) => s.name);
  const delayMs = numberOption('--delay', opts.delay as string | undefined, 1, 0.01) * 1000;
  const count = numberOption('--count', opts.count as string | undefined, Infinity, 1, true);
  const headerEvery = numberOption('--headers', opts.headers as string | undefined, 20, 0, true);
  const aggr = choiceOption<Aggr>('--aggr', opts.aggr as string | undefined, ['sum', 'avg', 'min', 'max'], 'sum');
  const quantiles = percentileColumns(opts.percentiles as string | undefined, [50, 99]);
  const filters = parseFilters((opts.filter as string[] | undefined) ?? []);
  const perSecond = opts['per-second'] === true;
  const json = opts.json === true;
  const paint = new Painter(useColor(process.stdout));

  const deltas = new Deltas();
  const reported = new Set<string>();
  let failing = new Set<string>();
  // Only the wanted fields are kept: the others (large histograms included) are never processed or held.
  const filterKeys = new Set(filters.equals.map((e) => e.key));
  const histogramLabels = new Set<string>();
  // Each file goes into the deltas as it is read; what is kept of it has no histogram
  // data (only the label's presence and metadata), so memory stays flat with many files.
  const sample = (): { snaps: Snapshot[]; changes: Changes; found: number } => {
    deltas.begin();
    found = new Map();
    const {
      items,
      errors,
      found: filesFound,
    } = collect(patterns, (s) => {
      if (!keepFile(s, names, filters)) return undefined;
      const mine = selectFields(s, selectors, by, filterKeys, found);
      deltas.add(mine);
      const fields = mine.fields.map((f) => {
        if (!isHistogram(f.value)) return f;
        histogramLabels.add(f.label);
        return { ...f, value: null };
      });
      return { ...mine, fields };
    });
    failing = new Set(errors.map((e) => e.path));
    for (const e of errors) {
      if (reported.has(e.path)) continue;
      reported.add(e.path);
      warn(`mmstats poll: ${e.path}: ${e.error.code}: ${e.error.message.replace(`${e.path}: `, '')}`);
    }
    // A file that reads again and later fails again is reported again.
    for (const p of reported) if (!failing.has(p)) reported.delete(p);
    return { snaps: items, changes: deltas.end(failing), found: filesFound };
  };

  let stop = false;
  let wake: (() => void) | undefined;
  const onSignal = () => {
    stop = true;
    wake?.();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    const first = sample();
    let snaps = first.snaps;
    warnUnmatched(first.found, snaps, selectors, found, patterns);
    let columns: Column[] = [];
    let headerKey = '';
    const started = performance.now();
    let lastAt = started;
    for (let line = 0; line < count && !stop; line++) {
      // Lines keep to the schedule: a slow read does not make the next line late.
      const due = started + (line + 1) * delayMs;
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, Math.max(0, due - performance.now()));
      });
      if (stop) break;
      let changes: Changes;
      ({ snaps, changes } = sample());
      const now = performance.now();
      const seconds = (now - lastAt) / 1000;
      lastAt = now;
      const gauges = new Map(aggregateFields(snaps, { gauge: aggr as GaugeMode }).map((f) => [f.label, f]));

      // v1 files carry no kinds: their numbers show change per line, as the original's pollstats did.
      const fromV1 = new Set(snaps.filter((s) => s.format === 1).flatMap((s) => s.fields.map((f) => f.label)));
      const values: Record<string, number | string | null> = {};
      // A family's selector is its columns found (several with --by); any other is its own column.
      const labels = selectors.flatMap((sel) => {
        const cols = found.get(sel);
        return cols && cols.size > 0 ? [...cols].sort() : [sel.text];
      });
      const cols = columnsFor(labels, histogramLabels, quantiles);
      for (const col of cols) {
        const f = gauges.get(col.label);
        let v: number | string | null = null;
        if (f === undefined) v = null;
        else if (col.quantile) {
          const merged = changes.histograms.get(col.label);
          v = merged ? col.quantile.of(merged) : null;
        } else if (f.kind === 'counter' || (f.kind === 'untyped' && fromV1.has(col.label))) {
          const list = changes.numbers.get(col.label) ?? [];
          if (list.length > 0 || typeof f.value === 'number') {
            const total = list.length > 0 ? reduce(list, aggr) : 0;
            v = total === null ? null : perSecond && seconds > 0 ? total / seconds : total;
          } else v = Array.isArray(f.value) ? summariseList(f.value) : null;
        } else if (typeof f.value === 'number') v = f.value;
        else if (Array.isArray(f.value)) v = summariseList(f.value);
        else if (f.value !== null && 'mean' in f.value) v = (f.value as Record<string, number>).mean ?? null;
        values[col.header] = v;
      }

      if (json) {
        await write(
          JSON.stringify({ time: new Date().toISOString(), seconds: Number(seconds.toFixed(3)), files: snaps.length, values }) + '\n',
        );
        continue;
      }
      const key = cols.map((c) => c.header).join('\0');
      if (key !== headerKey || (headerEvery > 0 && line > 0 && line % headerEvery === 0) || line === 0) {
        columns = cols;
        headerKey = key;
        const head = ['files', ...columns.map((c) => c.header)].map((h, i) => padStart(sanitize(h), widthOf(columns, i)));
        await write(paint.paint('bold', head.join('  ')) + '\n');
      }
      const row = [String(snaps.length), ...columns.map((c) => cell(values[c.header] ?? null))].map((t, i) =>
        padStart(t, widthOf(columns, i)),
      );
      await write(row.join('  ') + '\n');
    }
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
  return Exit.OK;
}

/** Say when there is nothing to show: no file at all, or a field no file has (a typo shows as '-' forever). */
function warnUnmatched(
  filesFound: number,
  snaps: readonly Snapshot[],
  selectors: readonly Selector[],
  columns: ReadonlyMap<Selector, ReadonlySet<string>>,
  patterns: readonly string[],
): void {
  if (filesFound === 0) {
    warn(`mmstats poll: no stats files in ${whereLooked(patterns)}; waiting for writers`);
    return;
  }
  const present = new Set(snaps.flatMap((s) => s.fields.map((f) => f.label)));
  for (const sel of selectors) {
    if (present.has(sel.name) || (columns.get(sel)?.size ?? 0) > 0) continue;
    warn(`mmstats poll: no field ${sanitize(sel.name)} in the ${filesFound} files read; it shows as - (mmstats slurp lists the labels)`);
  }
}

function widthOf(columns: readonly Column[], i: number): number {
  return i === 0 ? 5 : Math.max(10, sanitize(columns[i - 1]!.header).length);
}

function cell(v: number | string | null): string {
  if (v === null) return '-';
  return typeof v === 'number' ? formatNumber(v) : sanitize(v);
}

/** Per-writer values (strings, info): the value when all agree, else how many differ. */
function summariseList(list: readonly { writer: string; value: unknown }[]): string | null {
  const texts = [...new Set(list.map((x) => valueText(x.value as FieldValue['value'])))];
  if (texts.length === 0) return null;
  return texts.length === 1 ? texts[0]! : `(${texts.length} values)`;
}
