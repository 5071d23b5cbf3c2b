/**
 * Prometheus exposition of stats files: the text format 0.0.4 and OpenMetrics
 * 1.0.0, from one model so both say the same thing.
 *
 * - Series are labelled with the writer labels chosen (`writerLabels`, default
 *   `cmd` and `model`; `host`, `pid`, `tid` and `file` when asked), taken from each
 *   file's own fields (`sys.program`, `sys.model`, `sys.hostname`) and header. Files
 *   whose labels coincide are one series, combined by the rules of aggregate.ts
 *   (counters summed and never going backwards, gauges summed over live writers,
 *   histograms merged bucket by bucket...), so a restart does not make new series.
 * - A labelled family is one metric family: its children are series with their
 *   own labels after the writer labels.
 * - Identity fields (`sys.pid`, `sys.tid`, `sys.uid`, `sys.gid`, `sys.program`,
 *   `sys.model`) are labels, not measurements: left out unless `identityFields`.
 * - A file whose writer is gone leaves the exposition `staleAfterMs` after the
 *   server first saw it gone, so Prometheus marks its series stale.
 * - Names are snake_case (`requestCount` → `request_count`, `TCPSocketWrap` →
 *   `tcp_socket_wrap`; every character outside `[A-Za-z0-9_]` becomes `_`, a leading
 *   digit gets a `_` before it) with the unit in base units appended (`_seconds`,
 *   `_bytes`; a value in milliseconds is shown in seconds), unless the name already
 *   ends with it; a unit that is a count (`requests`, `descriptors`) is not part of
 *   the name. Counters are exposed as `<name>_total`, info and strings as
 *   `<name>_info{value="..."} 1`, histograms and timers as cumulative
 *   `_bucket{le=...}`, `_sum` and `_count`. When two labels give the same name
 *   (`a.b` and `a_b`), or a name that another family's samples use, the later one
 *   (in label order) gets `_2`, `_3`... before its unit.
 * - A file that cannot be read never breaks a scrape: it becomes a
 *   `mmstats_file_error{file,code} 1` series (and a comment in the text format).
 */
import { CounterTracker, combineParts, combineValues, mergeHistograms } from '../../reader/aggregate.js';
import type { FieldValue, HistogramValue, Snapshot } from '../../reader/reader.js';
import { isHistogram, textField, writerNames, type FileRow, type StoreView } from './store.js';

/** Content type of the Prometheus text format. */
export const TEXT_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
/** Content type of OpenMetrics. */
export const OPENMETRICS_CONTENT_TYPE = 'application/openmetrics-text; version=1.0.0; charset=utf-8';

/** Labels that can name a writer in the exposition, in the order they are written. */
export const WRITER_LABELS = ['cmd', 'model', 'host', 'pid', 'tid', 'file'] as const;
/** A writer label: `cmd` (program), `model`, `host`, `pid`, `tid` (worker thread id), `file` (file name). */
export type WriterLabel = (typeof WRITER_LABELS)[number];
/** The writer labels by default: stable across restarts. */
export const DEFAULT_WRITER_LABELS: readonly WriterLabel[] = ['cmd', 'model'];
/** How long a gone writer's series stay, by default: 60 s. */
export const DEFAULT_STALE_AFTER_MS = 60_000;
/** Fields that say who a writer is: labels, not measurements (left out unless `identityFields`). */
export const IDENTITY_FIELDS: ReadonlySet<string> = new Set(['sys.pid', 'sys.tid', 'sys.uid', 'sys.gid', 'sys.program', 'sys.model']);

/** Options of the exposition. */
export interface ExpositionOptions {
  /** OpenMetrics 1.0.0 instead of the text format 0.0.4. */
  readonly openMetrics?: boolean;
  /**
   * Histograms with more buckets than this are shown with a subset of their own
   * bounds, evenly spaced on a log scale (exact cumulative counts at each kept
   * bound); default 40. The subset depends on the bounds only, so it is the same
   * at every scrape.
   */
  readonly maxBuckets?: number;
  /** The labels that name a writer (default `cmd`, `model`); writers that coincide on them are combined. */
  readonly writerLabels?: readonly WriterLabel[];
  /** Show the identity fields (IDENTITY_FIELDS) as series too (default false). */
  readonly identityFields?: boolean;
  /** A gone writer's series leave the exposition this long after the server first saw it gone (default 60 s; Infinity: never). */
  readonly staleAfterMs?: number;
}

/** True if an Accept header asks for OpenMetrics (with a non-zero quality). */
export function wantsOpenMetrics(accept: string | undefined): boolean {
  if (!accept) return false;
  return accept.split(',').some((part) => {
    const [type, ...params] = part.trim().split(';');
    if (type?.trim().toLowerCase() !== 'application/openmetrics-text') return false;
    const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    return q === undefined || Number(q.slice(2)) > 0;
  });
}

/**
 * `fn` with its results remembered, up to `max` inputs (then forgotten at once):
 * a scrape asks the same names, units and help texts every time.
 */
function remembered<T>(fn: (s: string) => T, max = 65_536): (s: string) => T {
  const seen = new Map<string, T>();
  return (s) => {
    let r = seen.get(s);
    if (r === undefined) {
      r = fn(s);
      if (seen.size >= max) seen.clear();
      seen.set(s, r);
    }
    return r;
  };
}

const isUpper = (c: string) => c >= 'A' && c <= 'Z';
const isLower = (c: string) => c >= 'a' && c <= 'z';
const isDigit = (c: string) => c >= '0' && c <= '9';

/**
 * A metric name from a field label, in snake_case: `web.requestCount` →
 * `web_request_count`, `TCPSocketWrap` → `tcp_socket_wrap`, `http2Stream` →
 * `http2_stream`, `status.2XX` → `status_2xx`. One pass over the characters (no
 * regular expression that could backtrack).
 */
export const metricName = remembered((label: string): string => {
  let out = '';
  for (let i = 0; i < label.length; i++) {
    let c = label[i]!;
    if (!(isUpper(c) || isLower(c) || isDigit(c))) c = '_';
    else if (isUpper(c) && i > 0) {
      const prev = label[i - 1]!;
      const next = label[i + 1] ?? '';
      // A word starts at an upper-case letter after a lower-case one, or at the last capital of a run before a lower-case letter.
      if (isLower(prev) || ((isUpper(prev) || isDigit(prev)) && isLower(next))) out += '_';
    }
    if (c === '_' && out.endsWith('_')) continue;
    out += c.toLowerCase();
  }
  if (out === '') out = '_';
  if (isDigit(out[0]!)) out = '_' + out;
  return out;
});

/** A unit as the exposition shows it: the base unit of its name suffix (empty: none) and how to convert to it. */
export interface BaseUnit {
  readonly suffix: string;
  /** A value in the base unit is `value * mul / div` (a division keeps `1.128` from becoming `1.1280000000000001`). */
  readonly mul: number;
  readonly div: number;
  /** Names and abbreviations of the original unit, which a name may hold (`latency_ms`): the unit is said once, by the suffix. */
  readonly abbreviations: readonly string[];
}

const BASE_UNITS: Readonly<Record<string, readonly [suffix: string, mul: number, div: number, ...abbreviations: string[]]>> = {
  seconds: ['seconds', 1, 1, 's', 'sec', 'secs', 'second'],
  milliseconds: ['seconds', 1, 1e3, 'ms', 'millis', 'millisecond'],
  microseconds: ['seconds', 1, 1e6, 'us', 'micros', 'microsecond'],
  nanoseconds: ['seconds', 1, 1e9, 'ns', 'nanos', 'nanosecond'],
  minutes: ['seconds', 60, 1, 'min', 'minute'],
  hours: ['seconds', 3600, 1, 'hour'],
  days: ['seconds', 86400, 1, 'day'],
  bytes: ['bytes', 1, 1, 'by', 'byte'],
  kilobytes: ['bytes', 1e3, 1, 'kb', 'kilobyte'],
  kibibytes: ['bytes', 1024, 1, 'kib', 'kibibyte'],
  megabytes: ['bytes', 1e6, 1, 'mb', 'megabyte'],
  mebibytes: ['bytes', 2 ** 20, 1, 'mib', 'mebibyte'],
  gigabytes: ['bytes', 1e9, 1, 'gb', 'gigabyte'],
  gibibytes: ['bytes', 2 ** 30, 1, 'gib', 'gibibyte'],
  ratio: ['ratio', 1, 1],
  percent: ['ratio', 1, 100, 'pct', '%'],
  meters: ['meters', 1, 1, 'meter', 'metres'],
  volts: ['volts', 1, 1, 'volt'],
  amperes: ['amperes', 1, 1, 'ampere', 'amps'],
  joules: ['joules', 1, 1, 'joule'],
  grams: ['grams', 1, 1, 'gram'],
  celsius: ['celsius', 1, 1],
};
const UNIT_BY_NAME = new Map<string, BaseUnit>();
for (const [name, [suffix, mul, div, ...abbreviations]] of Object.entries(BASE_UNITS)) {
  const unit = { suffix, mul, div, abbreviations: [name, ...abbreviations] };
  for (const n of unit.abbreviations) UNIT_BY_NAME.set(n, unit);
}
const NO_UNIT: BaseUnit = { suffix: '', mul: 1, div: 1, abbreviations: [] };

/**
 * The base unit of a field's unit (`milliseconds` → `seconds` / 1000, `KiB` →
 * `bytes` × 1024, `percent` → `ratio` / 100). A unit that is not a physical
 * quantity (`requests`, `descriptors`, `1`) has no suffix: a count needs none.
 */
export const baseUnit = remembered((unit: string): BaseUnit => UNIT_BY_NAME.get(unit.trim().toLowerCase()) ?? NO_UNIT);

/** A value in its base unit (`unit` from baseUnit); a value already in it is returned as it is (a bigint stays exact). */
export function inBaseUnit(v: number | bigint, unit: BaseUnit): number | bigint {
  return unit.mul === 1 && unit.div === 1 ? v : (Number(v) * unit.mul) / unit.div;
}

/** Labels as `a="x",b="y"`, values escaped. */
function labelPairs(labels: Readonly<Record<string, string>>): string {
  let out = '';
  for (const [k, v] of Object.entries(labels)) out += `${out ? ',' : ''}${k}="${escapeLabelValue(v)}"`;
  return out;
}

/** Escape a label value: backslash, double quote and newline. */
export function escapeLabelValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

const escapeHelpText = remembered((v: string): string => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n'));
const escapeHelpOpenMetrics = remembered((v: string): string => escapeHelpText(v).replace(/"/g, '\\"'));

/** Escape HELP text: backslash and newline (and, in OpenMetrics, double quote). */
export function escapeHelp(v: string, openMetrics: boolean): string {
  return openMetrics ? escapeHelpOpenMetrics(v) : escapeHelpText(v);
}

/** A sample value as Prometheus writes it: `+Inf`, `-Inf`, `NaN`, exact integers. */
export function formatValue(v: number | bigint): string {
  if (typeof v === 'bigint') return v.toString();
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

type FamilyType = 'counter' | 'gauge' | 'untyped' | 'info' | 'histogram';

/** A value's place in a StoreView: `files[file].snapshot.fields[field]` (and a histogram's extra value), or the writer's liveness when `field` is -1. */
interface ValueSource {
  readonly file: number;
  readonly field: number;
  readonly extra?: string;
}

/** How the sources of a numeric series make its value (the rules of aggregate.ts). */
type Combine = 'counter' | 'gauge' | 'latest' | 'mean' | 'alive';

/** The series of one label set of writers: one source per file. */
interface Series {
  /** Every label of the series: the writer labels, then a family child's own labels ('' for none). */
  readonly labels: string;
  /** The writer labels alone, `cmd="x",model="Y"`: the group the series combines. */
  readonly group: string;
  /** The field label its sources have (a child's `name{a="x"}`): what its counter total is kept by. */
  readonly field: string;
  readonly sources: ValueSource[];
}

interface Family {
  readonly label: string;
  readonly type: FamilyType;
  readonly unit: BaseUnit;
  readonly help: string;
  readonly combine: Combine;
  /** A struct (one sample per part) rather than a number. */
  readonly struct: boolean;
  readonly series: Map<string, Series>;
  base: string;
}

const SUFFIXES: Readonly<Record<FamilyType, readonly string[]>> = {
  counter: ['_total'],
  gauge: [''],
  untyped: [''],
  info: ['_info'],
  histogram: ['_bucket', '_sum', '_count'],
};

function familyType(kind: string, value: unknown): FamilyType {
  if (isHistogram(value)) return 'histogram';
  if (typeof value === 'string') return 'info';
  if (typeof value === 'object') return 'gauge'; // a struct: one series per part
  if (kind === 'counter') return 'counter';
  if (kind === 'untyped') return 'untyped';
  return 'gauge';
}

/** Choose a subset of bucket indexes (always the last) so at most `max` remain. */
function keptBuckets(bounds: readonly number[], max: number): number[] {
  const n = bounds.length;
  if (n <= max) return bounds.map((_, i) => i);
  const finite = bounds.map((b, i) => ({ b, i })).filter((x) => Number.isFinite(x.b));
  const positive = finite.filter((x) => x.b > 0);
  const keep = new Set<number>(finite.filter((x) => x.b <= 0).map((x) => x.i));
  if (positive.length > 0) {
    const lo = Math.log2(positive[0]!.b);
    const hi = Math.log2(positive[positive.length - 1]!.b);
    const slots = Math.max(1, max - 1 - keep.size);
    const step = (hi - lo) / slots;
    let next = lo;
    for (const x of positive) {
      if (Math.log2(x.b) >= next - 1e-9) {
        keep.add(x.i);
        next = Math.log2(x.b) + step;
      }
    }
    keep.add(positive[positive.length - 1]!.i);
  }
  keep.add(n - 1);
  return [...keep].sort((a, b) => a - b);
}

/** True if a file's writer has been gone for `staleAfterMs` at the time of the view: its series are left out. */
function isHidden(row: FileRow, at: number, staleAfterMs: number): boolean {
  return row.goneAt !== undefined && at - row.goneAt >= staleAfterMs;
}

/** The writer labels of a file, as `name="value"` pairs in WRITER_LABELS order. */
function writerLabelSet(row: FileRow, s: Snapshot, chosen: ReadonlySet<WriterLabel>): string {
  const parts: string[] = [];
  const names = chosen.has('cmd') || chosen.has('model') ? writerNames(row.path, s) : undefined;
  for (const l of WRITER_LABELS) {
    if (!chosen.has(l)) continue;
    let v: string | undefined;
    if (l === 'cmd') v = names!.cmd;
    else if (l === 'model') v = names!.model || undefined;
    else if (l === 'host') v = textField(s, 'sys.hostname') || undefined;
    else if (l === 'pid') v = String(s.writer.pid);
    else if (l === 'tid') v = String(s.writer.threadId);
    else v = row.name;
    if (v !== undefined) parts.push(`${l}="${escapeLabelValue(v)}"`);
  }
  return parts.join(',');
}

interface Collected {
  readonly families: Family[];
  /** `mmstats_writer_alive`, one series per label set of writers. */
  readonly alive: Series[];
  readonly errors: { readonly labels: string }[];
  /** The files shown (indexes into the view), and the label set of each. */
  readonly visible: number[];
  readonly groups: string[];
}

/** Build families from the files read, in label order, one series per label set of writers. */
function collect(view: StoreView, o: Required<Omit<ExpositionOptions, 'openMetrics' | 'maxBuckets'>>): Collected {
  const chosen = new Set(o.writerLabels);
  // Families by label, then by type and unit (a label has one family but for a writer that changed its type).
  const byLabel = new Map<string, Family[]>();
  const family = (label: string, type: FamilyType, unit: BaseUnit, help: string, combine: Combine, struct: boolean): Family => {
    let list = byLabel.get(label);
    if (!list) byLabel.set(label, (list = []));
    for (const fam of list) if (fam.type === type && fam.unit === unit && fam.struct === struct && fam.combine === combine) return fam;
    const fam: Family = { label, type, unit, help: help || `mmstats field ${label}`, combine, struct, series: new Map(), base: '' };
    list.push(fam);
    return fam;
  };
  const add = (fam: Family, group: string, f: FieldValue, from: ValueSource) => {
    // A family's child: its own labels after the writer's (the writer never uses these names).
    const own = f.labels ? labelPairs(f.labels) : '';
    const labels = group && own ? `${group},${own}` : group || own;
    let series = fam.series.get(labels);
    if (!series) fam.series.set(labels, (series = { labels, group, field: f.label, sources: [] }));
    series.sources.push(from);
  };
  const alive = new Map<string, Series>();
  const visible: number[] = [];
  const groups: string[] = [];
  for (const [file, row] of view.files.entries()) {
    const s = row.snapshot;
    if (!s || isHidden(row, view.at, o.staleAfterMs)) continue;
    const labels = writerLabelSet(row, s, chosen);
    visible.push(file);
    groups.push(labels);
    let a = alive.get(labels);
    if (!a) alive.set(labels, (a = { labels, group: labels, field: '', sources: [] }));
    a.sources.push({ file, field: -1 });
    for (const [field, f] of s.fields.entries()) {
      if (f.value === null || f.value === undefined) continue;
      if (!o.identityFields && IDENTITY_FIELDS.has(f.label)) continue;
      const type = familyType(f.kind, f.value);
      const unit = type === 'info' ? NO_UNIT : baseUnit(f.unit);
      const combine: Combine = type === 'counter' ? 'counter' : f.static ? 'latest' : 'gauge';
      // A labelled family is one family of the exposition, its children series of it.
      const name = f.family ?? f.label;
      add(family(name, type, unit, f.help, combine, typeof f.value === 'object' && type === 'gauge'), labels, f, { file, field });
      // A histogram's extra values (a timer's moving mean) are gauges of their own: `<label>.<name>`, averaged over writers.
      if (type === 'histogram') {
        for (const [extra, v] of Object.entries((f.value as HistogramValue).extra ?? {})) {
          if (typeof v !== 'number') continue;
          const of = f.family ?? f.label;
          const fam = family(`${of}.${extra}`, 'gauge', unit, `${extra.replace(/_/g, ' ')} of ${of}`, 'mean', false);
          add(fam, labels, f, { file, field, extra });
        }
      }
    }
  }
  const errors = view.files
    .filter((r) => r.error)
    .map((r) => ({ labels: `file="${escapeLabelValue(r.name)}",code="${escapeLabelValue(r.error!.code)}"` }));
  const families = [...byLabel.values()].flat().sort((a, b) => (a.label < b.label ? -1 : a.label > b.label ? 1 : a.type < b.type ? -1 : 1));
  return { families, alive: [...alive.values()], errors, visible, groups };
}

/** Give each family a base name that no other family's names or samples use. */
function assignNames(families: Family[], taken: Set<string>): void {
  for (const fam of families) {
    let stem = metricName(fam.label);
    if (fam.type === 'counter') stem = stem.replace(/_total$/, '') || stem;
    if (fam.type === 'info') stem = stem.replace(/_info$/, '') || stem;
    const unit = fam.unit.suffix ? `_${fam.unit.suffix}` : '';
    if (unit) {
      // `latency_ms` in milliseconds is `latency_seconds`, `latency_ms_moving_mean` is `latency_moving_mean_seconds`:
      // the unit is said once, at the end, in base units.
      const words = stem.split('_');
      const said = new Set([fam.unit.suffix, ...fam.unit.abbreviations].map((a) => metricName(a)));
      for (let i = words.length - 1; i > 0; i--) {
        if (said.has(words[i]!)) {
          words.splice(i, 1);
          break;
        }
      }
      stem = words.join('_');
    }
    for (let n = 1; ; n++) {
      const base = stem + (n > 1 ? `_${n}` : '') + unit;
      const names = [base, ...SUFFIXES[fam.type].map((s) => base + s)];
      if (names.some((x) => taken.has(x))) continue;
      for (const x of names) taken.add(x);
      fam.base = base;
      break;
    }
  }
}

function withLabels(labels: string, extra: string): string {
  if (!labels) return extra ? `{${extra}}` : '';
  return extra ? `{${labels},${extra}}` : `{${labels}}`;
}

/** Kept bucket indexes by layout: every series of a histogram field shares one layout. */
const keptCache = new Map<string, number[]>();

function keptFor(h: HistogramValue, maxBuckets: number): number[] {
  const b = h.buckets;
  const n = b.length;
  if (n <= maxBuckets) return b.map((_, i) => i);
  const key = `${maxBuckets}:${n}:${b[0]!.le}:${b[1]?.le}:${b[n >> 1]!.le}:${b[n - 2]?.le}:${b[n - 1]!.le}`;
  let keep = keptCache.get(key);
  if (!keep) {
    if (keptCache.size > 256) keptCache.clear();
    keep = keptBuckets(
      b.map((x) => x.le),
      maxBuckets,
    );
    keptCache.set(key, keep);
  }
  return keep;
}

function renderHistogram(out: string[], name: string, labels: string, h: HistogramValue, maxBuckets: number, om: boolean): void {
  const keep = keptFor(h, maxBuckets);
  let cumulative = 0;
  let next = 0;
  for (let i = 0; i < h.buckets.length; i++) {
    cumulative += h.buckets[i]!.count;
    if (keep[next] !== i) continue;
    next++;
    const le = formatValue(h.buckets[i]!.le);
    out.push(`${name}_bucket${withLabels(labels, `le="${le}"`)} ${formatValue(cumulative)}`);
  }
  if (h.buckets.length === 0 || h.buckets[h.buckets.length - 1]!.le !== Infinity) {
    out.push(`${name}_bucket${withLabels(labels, 'le="+Inf"')} ${formatValue(h.count)}`);
  }
  out.push(`${name}_count${withLabels(labels, '')} ${formatValue(h.count)}`);
  // OpenMetrics: a histogram's sum is a counter-like value and must not be negative.
  if (!om || h.sum >= 0) out.push(`${name}_sum${withLabels(labels, '')} ${formatValue(h.sum)}`);
}

/**
 * One step of a scrape's rendering: constant lines, or a value looked up in the view
 * being rendered (and combined over the files of one label set) and formatted after
 * a prefix made in advance. Constant parts are kept as UTF-8 bytes (each line with
 * its newline), so a scrape copies them into the response instead of building and
 * then encoding a string of every line.
 */
type Step =
  | { readonly kind: 'text'; readonly bytes: Buffer }
  | {
      readonly kind: 'number';
      readonly prefix: Buffer;
      readonly sources: readonly ValueSource[];
      readonly combine: Combine;
      readonly unit: BaseUnit;
      /** A counter's key in the renderer's CounterTracker (what writers that left had counted). */
      readonly key: string;
      /** What writers that left had counted, as of the tracker's last update (see setRetired). */
      retired: number;
    }
  | {
      readonly kind: 'info' | 'histogram' | 'struct';
      readonly name: string;
      readonly labels: string;
      readonly sources: readonly ValueSource[];
      readonly unit: BaseUnit;
    };

/** Everything of a scrape that depends on the layout only (files, fields, names, labels, help texts). */
interface Plan {
  readonly om: boolean;
  readonly maxBuckets: number;
  readonly steps: readonly Step[];
  /** The files shown and the label set of each: what the counter totals are kept by. */
  readonly visible: readonly number[];
  readonly groups: readonly string[];
  /** Bytes of the last rendering: where the next one starts its buffer. */
  lastSize: number;
}

/** The options with their defaults. */
function settled(options: ExpositionOptions): Required<ExpositionOptions> {
  return {
    openMetrics: options.openMetrics ?? false,
    maxBuckets: Math.max(2, options.maxBuckets ?? 40),
    writerLabels: options.writerLabels ?? DEFAULT_WRITER_LABELS,
    identityFields: options.identityFields ?? false,
    staleAfterMs: options.staleAfterMs ?? DEFAULT_STALE_AFTER_MS,
  };
}

/** Work out the plan of a scrape of `view`: families, names, headers and sample prefixes. */
function makePlan(view: StoreView, o: Required<ExpositionOptions>): Plan {
  const om = o.openMetrics;
  const { families, alive, errors, visible, groups } = collect(view, o);
  const own = ['mmstats_files', 'mmstats_file_error', 'mmstats_writer_alive', 'mmstats_skipped_files'];
  assignNames(families, new Set(own));
  const steps: Step[] = [];
  let text: string[] = [];
  const line = (l: string) => text.push(l);
  const flush = () => {
    if (text.length > 0) steps.push({ kind: 'text', bytes: Buffer.from(text.join('\n') + '\n') });
    text = [];
  };
  const step = (st: Step) => {
    flush();
    steps.push(st);
  };
  const header = (name: string, type: string, help: string, unit: string) => {
    line(`# HELP ${name} ${escapeHelp(help, om)}`);
    line(`# TYPE ${name} ${type}`);
    if (om && unit) line(`# UNIT ${name} ${unit}`);
  };
  const number = (sample: string, s: Series, combine: Combine, unit: BaseUnit) =>
    step({
      kind: 'number',
      prefix: Buffer.from(`${sample}${withLabels(s.labels, '')} `),
      sources: s.sources,
      combine,
      unit,
      key: CounterTracker.key(s.field, s.group),
      retired: 0,
    });
  header('mmstats_files', 'gauge', 'Stats files found, readable or not.', '');
  line(`mmstats_files ${view.files.length}`);
  if (view.skipped > 0) {
    header('mmstats_skipped_files', 'gauge', 'Stats files left out: more than the server tracks.', '');
    line(`mmstats_skipped_files ${view.skipped}`);
  }
  if (errors.length > 0) {
    header('mmstats_file_error', 'gauge', 'A stats file that could not be read, with the error code.', '');
    for (const e of errors) line(`mmstats_file_error{${e.labels}} 1`);
    if (!om) {
      for (const r of view.files) {
        if (r.error) line(`# mmstats: ${r.name}: ${r.error.code}: ${r.error.message}`.replace(/[\r\n]+/g, ' '));
      }
    }
  }
  if (alive.length > 0) {
    header('mmstats_writer_alive', 'gauge', 'Writers of the label set that still run (1 per writer; 0: all gone).', '');
    for (const a of alive) number('mmstats_writer_alive', a, 'alive', NO_UNIT);
  }
  for (const fam of families) {
    const name = fam.base;
    const unit = fam.unit;
    switch (fam.type) {
      case 'counter': {
        header(om ? name : `${name}_total`, 'counter', fam.help, fam.unit.suffix);
        for (const s of fam.series.values()) number(`${name}_total`, s, 'counter', unit);
        break;
      }
      case 'info':
        header(om ? name : `${name}_info`, om ? 'info' : 'gauge', fam.help, '');
        for (const s of fam.series.values()) step({ kind: 'info', name, labels: s.labels, sources: s.sources, unit });
        break;
      case 'histogram':
        header(name, 'histogram', fam.help, fam.unit.suffix);
        for (const s of fam.series.values()) step({ kind: 'histogram', name, labels: s.labels, sources: s.sources, unit });
        break;
      default:
        header(name, fam.type === 'untyped' ? (om ? 'unknown' : 'untyped') : 'gauge', fam.help, fam.unit.suffix);
        for (const s of fam.series.values()) {
          if (fam.struct) step({ kind: 'struct', name, labels: s.labels, sources: s.sources, unit });
          else number(name, s, fam.combine, unit);
        }
    }
  }
  if (om) line('# EOF');
  flush();
  return { om, maxBuckets: o.maxBuckets, steps, visible, groups, lastSize: 0 };
}

/** The snapshot a source reads. */
function snapshotOf(view: StoreView, from: ValueSource): Snapshot {
  return view.files[from.file]!.snapshot!;
}

/** The value a source shows, from the view being rendered (booleans as 0 and 1). */
function valueOf(view: StoreView, from: ValueSource): unknown {
  const s = snapshotOf(view, from);
  if (from.field < 0) return s.writer.alive ? 1 : 0;
  const v = s.fields[from.field]!.value;
  if (from.extra !== undefined) return (v as HistogramValue).extra![from.extra];
  return typeof v === 'boolean' ? (v ? 1 : 0) : v;
}

/** The values of several sources with their writers, for aggregate.ts. */
function writerValues<T>(view: StoreView, sources: readonly ValueSource[]): { value: T; writer: Snapshot['writer'] }[] {
  return sources.map((from) => ({ value: valueOf(view, from) as T, writer: snapshotOf(view, from).writer }));
}

/** A numeric series' value: one source's, or the sources combined by the rule of their kind. */
function numberOf(view: StoreView, st: Extract<Step, { kind: 'number' }>): number | bigint {
  const { sources, combine } = st;
  if (combine === 'counter') {
    // The live writers' values as read now, plus what writers that left had counted.
    const retired = st.retired;
    if (sources.length === 1 && retired === 0) return valueOf(view, sources[0]!) as number | bigint;
    let sum = retired;
    for (const from of sources) sum += Number(valueOf(view, from));
    return sum;
  }
  if (combine === 'alive') {
    let n = 0;
    for (const from of sources) n += snapshotOf(view, from).writer.alive ? 1 : 0;
    return n;
  }
  if (sources.length === 1) return valueOf(view, sources[0]!) as number | bigint;
  const gauge = combine === 'gauge' ? 'sum' : combine === 'latest' ? 'latest' : 'avg';
  const group = writerValues<number | bigint>(view, sources);
  const v = combineValues({ kind: 'gauge', value: group[0]!.value }, group, gauge);
  return typeof v === 'number' ? v : NaN;
}

/** A histogram in its base unit: bounds, sum, min, max and last converted (counts are counts). */
function histogramInBaseUnit(h: HistogramValue, unit: BaseUnit): HistogramValue {
  if (unit.mul === 1 && unit.div === 1) return h;
  const to = (v: number) => inBaseUnit(v, unit) as number;
  return {
    ...h,
    sum: to(h.sum),
    min: to(h.min),
    max: to(h.max),
    last: to(h.last),
    buckets: h.buckets.map((b) => ({ le: to(b.le), count: b.count })),
  };
}

/** A growing byte buffer for one response. */
class ResponseBytes {
  private buf: Buffer;
  size = 0;
  constructor(capacity: number) {
    this.buf = Buffer.allocUnsafe(Math.max(4096, capacity));
  }
  private room(n: number): void {
    if (this.size + n <= this.buf.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.size + n));
    this.buf.copy(bigger, 0, 0, this.size);
    this.buf = bigger;
  }
  bytes(b: Uint8Array): void {
    this.room(b.length);
    this.buf.set(b, this.size); // a typed-array copy: Buffer#copy checks its arguments in JS each call
    this.size += b.length;
  }
  /** A line of text (without its newline), encoded as UTF-8. */
  line(s: string): void {
    this.room(s.length * 3 + 1);
    this.size += this.buf.write(s, this.size);
    this.buf[this.size++] = 0x0a;
  }
  /**
   * A sample value and its newline, as formatValue writes it. A safe integer (every
   * counter, most gauges) has its digits written here: no string is made and no
   * native write called for it, which was most of a scrape's time per series.
   */
  value(v: number | bigint): void {
    if (typeof v !== 'number' || !Number.isSafeInteger(v)) {
      this.ascii(formatValue(v));
      return;
    }
    this.room(18); // sign, 16 digits, newline
    const buf = this.buf;
    let pos = this.size;
    let n = v;
    if (n < 0) {
      buf[pos++] = 0x2d;
      n = -n;
    }
    let digits = 1;
    for (let t = n; t >= 10; t = Math.floor(t / 10)) digits++;
    const end = pos + digits;
    for (let i = end - 1; i >= pos; i--) {
      buf[i] = 0x30 + (n % 10);
      n = Math.floor(n / 10);
    }
    buf[end] = 0x0a;
    this.size = end + 1;
  }
  /** A formatted number and its newline: ASCII, so one byte per character. */
  ascii(s: string): void {
    this.room(s.length + 1);
    this.size += this.buf.write(s, this.size, 'latin1');
    this.buf[this.size++] = 0x0a;
  }
  done(): Buffer {
    return this.buf.subarray(0, this.size);
  }
}

/** Render `view` by `plan`, which must have been made from a view of the same layout (see sameLayout). */
function renderPlan(plan: Plan, view: StoreView): Buffer {
  const out = new ResponseBytes(plan.lastSize + 1024);
  const lines: string[] = [];
  for (const st of plan.steps) {
    switch (st.kind) {
      case 'text':
        out.bytes(st.bytes);
        break;
      case 'number':
        out.bytes(st.prefix);
        out.value(inBaseUnit(numberOf(view, st), st.unit));
        break;
      case 'info': {
        // Writers of one label set that say different things: one series per text.
        const texts = new Set(st.sources.map((from) => String(valueOf(view, from))));
        for (const t of texts) lines.push(`${st.name}_info${withLabels(st.labels, `value="${escapeLabelValue(t)}"`)} 1`);
        break;
      }
      case 'histogram': {
        const h =
          st.sources.length === 1
            ? (valueOf(view, st.sources[0]!) as HistogramValue)
            : mergeHistograms(st.sources.map((from) => valueOf(view, from) as HistogramValue));
        if (h) renderHistogram(lines, st.name, st.labels, histogramInBaseUnit(h, st.unit), plan.maxBuckets, plan.om);
        break;
      }
      case 'struct': {
        const parts =
          st.sources.length === 1
            ? (valueOf(view, st.sources[0]!) as Record<string, number>)
            : combineParts(writerValues<Record<string, number>>(view, st.sources));
        for (const [part, v] of Object.entries(parts)) {
          if (typeof v !== 'number') continue;
          // A struct's parts are in its unit, but for its count of samples.
          const shown = part === 'count' ? v : inBaseUnit(v, st.unit);
          lines.push(`${st.name}${withLabels(st.labels, `part="${escapeLabelValue(part)}"`)} ${formatValue(shown)}`);
        }
      }
    }
    if (lines.length > 0) {
      for (const l of lines) out.line(l);
      lines.length = 0;
    }
  }
  plan.lastSize = out.size;
  return out.done();
}

/** What a failed file shows (name, code and message): a plan holds it as text. */
function errorShown(r: StoreView['files'][number]): string {
  return `${r.name}\u0000${r.error?.code}\u0000${r.error?.message}`;
}

/** What a value is, as far as the plan cares: none (left out), a number, a string, a histogram, a struct. */
function shapeOf(v: unknown): number {
  if (v === null || v === undefined) return 0;
  if (typeof v === 'string') return 2;
  if (typeof v !== 'object') return 1;
  return isHistogram(v) ? 3 : 4;
}

/** What a plan was made from, for one file of the view. */
interface FileLayout {
  readonly path: string;
  /** For a file that failed: its name, code and message (they are shown). */
  readonly error?: string;
  /** Left out: its writer has been gone for longer than the grace period. */
  readonly hidden?: boolean;
  readonly format?: number;
  readonly generation?: number;
  readonly pid?: number;
  readonly threadId?: number;
  readonly startToken?: number;
  readonly shapes?: Uint8Array;
  /** The values of `sys.*` text fields by field index (they make the writer labels). */
  readonly sysText?: readonly unknown[];
  /** The label of each family child by field index: a slot reused by another label set is another series. */
  readonly children?: readonly (string | undefined)[];
}

/** True for the label of a `sys.*` text field, which can be part of the writer labels. */
function isSysText(label: string, value: unknown): boolean {
  return typeof value === 'string' && label.startsWith('sys.');
}

/**
 * What a plan depends on, kept to be compared with later views. A file's records
 * never change once published, so its layout is named by its path, its writer (start
 * token) and its generation; the shape of each value is added because a value that
 * cannot be read (null) leaves its series out. Comparing is a loop over numbers: a
 * key string of every label cost 50 ms a scrape at 100,000 fields.
 */
function layoutOf(view: StoreView, staleAfterMs: number): FileLayout[] {
  return view.files.map((r): FileLayout => {
    const s = r.snapshot;
    if (!s) return { path: r.path, error: errorShown(r) };
    const shapes = new Uint8Array(s.fields.length);
    const sysText: unknown[] = [];
    const children: (string | undefined)[] = [];
    for (let i = 0; i < shapes.length; i++) {
      const f = s.fields[i]!;
      shapes[i] = shapeOf(f.value);
      if (isSysText(f.label, f.value)) sysText[i] = f.value;
      if (f.family !== undefined) children[i] = f.label;
    }
    const w = s.writer;
    return {
      path: s.path,
      hidden: isHidden(r, view.at, staleAfterMs),
      format: s.format,
      generation: s.generation,
      pid: w.pid,
      threadId: w.threadId,
      startToken: w.startToken,
      shapes,
      sysText,
      children,
    };
  });
}

/** True if `view` has the layout `was` describes, so that a plan made for one fits the other. */
function sameLayout(was: readonly FileLayout[], view: StoreView, staleAfterMs: number): boolean {
  if (was.length !== view.files.length) return false;
  for (let k = 0; k < was.length; k++) {
    const l = was[k]!;
    const r = view.files[k]!;
    const s = r.snapshot;
    if (l.path !== r.path || (s === undefined) !== (l.error !== undefined)) return false;
    if (!s) {
      if (l.error !== errorShown(r)) return false;
      continue;
    }
    const w = s.writer;
    if (
      l.hidden !== isHidden(r, view.at, staleAfterMs) ||
      l.format !== s.format ||
      l.generation !== s.generation ||
      l.pid !== w.pid ||
      l.threadId !== w.threadId ||
      l.startToken !== w.startToken
    )
      return false;
    const shapes = l.shapes!;
    const sysText = l.sysText!;
    const children = l.children!;
    const fields = s.fields;
    if (shapes.length !== fields.length) return false;
    for (let i = 0; i < fields.length; i++) {
      const f = fields[i]!;
      if (shapes[i] !== shapeOf(f.value)) return false;
      if (sysText[i] !== undefined && f.value !== sysText[i]) return false;
      if (children[i] !== f.label && (children[i] !== undefined || f.family !== undefined)) return false;
    }
  }
  return true;
}

/**
 * Render everything the store read as a Prometheus scrape. Never throws on file
 * content: a value that cannot be shown is left out.
 */
export function renderMetrics(view: StoreView, options: ExpositionOptions = {}): string {
  return new MetricsRenderer(options).render(view).toString('utf8');
}

/**
 * `renderMetrics` for a server scraped again and again: the plan (families, names,
 * headers, label sets) is kept while the layout stays the same, so a scrape of an
 * unchanged set of files only reads and formats the values. Counter totals of each
 * label set are kept from scrape to scrape (aggregate.ts' CounterTracker), so they
 * never go backwards when one of its writers leaves or restarts.
 */
export class MetricsRenderer {
  private last: { layout: FileLayout[]; skipped: number; plan: Plan } | undefined;
  private readonly options: Required<ExpositionOptions>;
  private readonly counters = new CounterTracker();
  /** The view last rendered: the latest values of the writers of the plan kept. */
  private lastView: StoreView | undefined;
  /** Plans made so far: one at the first scrape, then one each time the layout changed. */
  plansMade = 0;
  constructor(options: ExpositionOptions = {}) {
    this.options = settled(options);
  }

  /** The scrape of `view` as UTF-8. */
  render(view: StoreView): Buffer {
    const stale = this.options.staleAfterMs;
    if (!this.last || this.last.skipped !== view.skipped || !sameLayout(this.last.layout, view, stale)) {
      // Writers come or go only with a new layout: the counter totals are brought up to
      // date then (the last values of the writers shown so far, then the new set, which
      // retires those that left), not at every scrape.
      if (this.last && this.lastView) this.updateCounters(this.last.plan, this.lastView);
      this.last = { layout: layoutOf(view, stale), skipped: view.skipped, plan: makePlan(view, this.options) };
      this.updateCounters(this.last.plan, view);
      this.plansMade++;
    }
    this.lastView = view;
    return renderPlan(this.last.plan, view);
  }

  private updateCounters(plan: Plan, view: StoreView): void {
    this.counters.update(
      plan.visible.map((i) => view.files[i]!.snapshot!),
      plan.groups,
    );
    // The retired sums change only here: each counter step keeps its own, so a scrape looks up none.
    for (const st of plan.steps) if (st.kind === 'number' && st.combine === 'counter') st.retired = this.counters.retiredOf(st.key);
  }
}
