/**
 * Prometheus exposition of stats files: the text format 0.0.4 and OpenMetrics
 * 1.0.0, from one model so both say the same thing.
 *
 * - One series per writer, labelled `cmd`, `model` (when the file name has one),
 *   `pid` and `tid`; two files that would give the same labels get a `file` label.
 * - Names come from labels: every character outside `[A-Za-z0-9_]` becomes `_`, a
 *   leading digit gets a `_` before it, the unit is appended (`_seconds`) unless
 *   the name already ends with it. Counters are exposed as `<name>_total`, info
 *   and strings as `<name>_info{value="..."} 1`, histograms and timers as
 *   cumulative `_bucket{le=...}`, `_sum` and `_count`. When two labels give the
 *   same name (`a.b` and `a_b`), or a name that another family's samples use, the
 *   later one (in label order) gets `_2`, `_3`... before its unit.
 * - A file that cannot be read never breaks a scrape: it becomes a
 *   `mmstats_file_error{file,code} 1` series (and a comment in the text format).
 */
import type { HistogramValue, Snapshot } from '../../reader/reader.js';
import { isHistogram, writerNames, type StoreView } from './store.js';

/** Content type of the Prometheus text format. */
export const TEXT_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
/** Content type of OpenMetrics. */
export const OPENMETRICS_CONTENT_TYPE = 'application/openmetrics-text; version=1.0.0; charset=utf-8';

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
function remembered(fn: (s: string) => string, max = 65_536): (s: string) => string {
  const seen = new Map<string, string>();
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

/** A metric name from a field label: `web.stats.status.2XX` → `web_stats_status_2XX`. */
export const metricName = remembered((label: string): string => {
  let name = label.replace(/[^A-Za-z0-9_]/g, '_');
  if (name === '') name = '_';
  if (/^[0-9]/.test(name)) name = '_' + name;
  return name;
});

/** A unit as a name suffix (`seconds`, `bytes`); empty when nothing usable is left. */
export const unitSuffix = remembered((unit: string): string =>
  unit
    .replace(/[^A-Za-z0-9_]/g, '_')
    .replace(/^_+|_+$/g, '')
    .toLowerCase(),
);

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

interface Series {
  readonly labels: string;
  /** `{labels}`, or '' without labels: made once per writer, not once per sample. */
  readonly braced: string;
  readonly value: number | bigint | string | HistogramValue | Readonly<Record<string, number>>;
}

interface Family {
  readonly label: string;
  readonly type: FamilyType;
  readonly unit: string;
  readonly help: string;
  readonly series: Series[];
  base: string;
}

const SUFFIXES: Readonly<Record<FamilyType, readonly string[]>> = {
  counter: ['_total'],
  gauge: [''],
  untyped: [''],
  info: ['_info'],
  histogram: ['_bucket', '_sum', '_count'],
};

function familyType(kind: string, value: Series['value']): FamilyType {
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

/** Build families from the files read, in label order, one series per writer. */
function collect(view: StoreView): { families: Family[]; alive: Series[]; errors: Series[] } {
  const snaps = view.files.flatMap((r) => (r.snapshot ? [r.snapshot] : []));
  const labelsOf = writerLabels(snaps);
  // Families by label, then by type and unit (a label has one family but for a writer that changed its type).
  const byLabel = new Map<string, Family[]>();
  const family = (label: string, type: FamilyType, unit: string, help: string): Family => {
    let list = byLabel.get(label);
    if (!list) byLabel.set(label, (list = []));
    for (const fam of list) if (fam.type === type && fam.unit === unit) return fam;
    const fam: Family = { label, type, unit, help: help || `mmstats field ${label}`, series: [], base: '' };
    list.push(fam);
    return fam;
  };
  const alive: Series[] = [];
  for (const s of snaps) {
    const labels = labelsOf.get(s)!;
    const braced = labels ? `{${labels}}` : '';
    alive.push({ labels, braced, value: s.writer.alive ? 1 : 0 });
    for (const f of s.fields) {
      if (f.value === null || f.value === undefined) continue;
      const value = typeof f.value === 'boolean' ? (f.value ? 1 : 0) : f.value;
      const type = familyType(f.kind, value);
      const unit = type === 'info' ? '' : unitSuffix(f.unit);
      const fam = family(f.label, type, unit, f.help);
      fam.series.push({ labels, braced, value });
      // A histogram's extra values (a timer's moving mean) are gauges of their own: `<label>.<name>`.
      if (type === 'histogram') {
        for (const [name, v] of Object.entries((value as HistogramValue).extra ?? {})) {
          if (typeof v !== 'number') continue;
          const label = `${f.label}.${name}`;
          family(label, 'gauge', unit, `${name.replace(/_/g, ' ')} of ${f.label}`).series.push({ labels, braced, value: v });
        }
      }
    }
  }
  const errors = view.files
    .filter((r) => r.error)
    .map((r) => {
      const labels = `file="${escapeLabelValue(r.name)}",code="${escapeLabelValue(r.error!.code)}"`;
      return { labels, braced: `{${labels}}`, value: 1 };
    });
  const families = [...byLabel.values()].flat().sort((a, b) => (a.label < b.label ? -1 : a.label > b.label ? 1 : a.type < b.type ? -1 : 1));
  return { families, alive, errors };
}

/** The label set of each writer; files that would share one get a `file` label. */
function writerLabels(snaps: readonly Snapshot[]): Map<Snapshot, string> {
  const base = new Map<Snapshot, string>();
  const count = new Map<string, number>();
  for (const s of snaps) {
    const cmdLine = s.fields.find((f) => f.label === 'sys.cmd')?.value;
    const { cmd, model } = writerNames(s.path, s.writer, typeof cmdLine === 'string' ? cmdLine : undefined);
    const parts = [`cmd="${escapeLabelValue(cmd)}"`];
    if (model) parts.push(`model="${escapeLabelValue(model)}"`);
    parts.push(`pid="${s.writer.pid}"`, `tid="${s.writer.threadId}"`);
    const l = parts.join(',');
    base.set(s, l);
    count.set(l, (count.get(l) ?? 0) + 1);
  }
  for (const [s, l] of base) {
    if (count.get(l)! > 1) base.set(s, `${l},file="${escapeLabelValue(s.path.slice(s.path.lastIndexOf('/') + 1))}"`);
  }
  return base;
}

/** Give each family a base name that no other family's names or samples use. */
function assignNames(families: Family[], taken: Set<string>): void {
  for (const fam of families) {
    let stem = metricName(fam.label);
    if (fam.type === 'counter') stem = stem.replace(/_total$/, '') || stem;
    if (fam.type === 'info') stem = stem.replace(/_info$/, '') || stem;
    const unit = fam.unit ? `_${fam.unit}` : '';
    if (unit && stem.endsWith(unit) && stem.length > unit.length) stem = stem.slice(0, -unit.length);
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
 * Render everything the store read as a Prometheus scrape. Never throws on file
 * content: a value that cannot be shown is left out.
 */
export function renderMetrics(view: StoreView, options: ExpositionOptions = {}): string {
  const om = options.openMetrics ?? false;
  const maxBuckets = Math.max(2, options.maxBuckets ?? 40);
  const { families, alive, errors } = collect(view);
  const own = ['mmstats_files', 'mmstats_file_error', 'mmstats_writer_alive', 'mmstats_skipped_files'];
  assignNames(families, new Set(own));
  const out: string[] = [];
  const header = (name: string, type: string, help: string, unit: string) => {
    out.push(`# HELP ${name} ${escapeHelp(help, om)}`);
    out.push(`# TYPE ${name} ${type}`);
    if (om && unit) out.push(`# UNIT ${name} ${unit}`);
  };
  header('mmstats_files', 'gauge', 'Stats files found, readable or not.', '');
  out.push(`mmstats_files ${view.files.length}`);
  if (view.skipped > 0) {
    header('mmstats_skipped_files', 'gauge', 'Stats files left out: more than the server tracks.', '');
    out.push(`mmstats_skipped_files ${view.skipped}`);
  }
  if (errors.length > 0) {
    header('mmstats_file_error', 'gauge', 'A stats file that could not be read, with the error code.', '');
    for (const e of errors) out.push(`mmstats_file_error{${e.labels}} 1`);
    if (!om) {
      for (const r of view.files) {
        if (r.error) out.push(`# mmstats: ${r.name}: ${r.error.code}: ${r.error.message}`.replace(/[\r\n]+/g, ' '));
      }
    }
  }
  if (alive.length > 0) {
    header('mmstats_writer_alive', 'gauge', 'Whether the writer of a stats file still runs (1) or is gone (0).', '');
    for (const a of alive) out.push(`mmstats_writer_alive{${a.labels}} ${formatValue(a.value as number)}`);
  }
  for (const fam of families) {
    const name = fam.base;
    switch (fam.type) {
      case 'counter': {
        header(om ? name : `${name}_total`, 'counter', fam.help, fam.unit);
        const sample = `${name}_total`;
        for (const s of fam.series) out.push(`${sample}${s.braced} ${formatValue(s.value as number | bigint)}`);
        break;
      }
      case 'info':
        header(om ? name : `${name}_info`, om ? 'info' : 'gauge', fam.help, '');
        for (const s of fam.series) out.push(`${name}_info${withLabels(s.labels, `value="${escapeLabelValue(String(s.value))}"`)} 1`);
        break;
      case 'histogram':
        header(name, 'histogram', fam.help, fam.unit);
        for (const s of fam.series) renderHistogram(out, name, s.labels, s.value as HistogramValue, maxBuckets, om);
        break;
      default:
        header(name, fam.type === 'untyped' ? (om ? 'unknown' : 'untyped') : 'gauge', fam.help, fam.unit);
        for (const s of fam.series) {
          if (typeof s.value === 'object') {
            for (const [part, v] of Object.entries(s.value as Record<string, number>)) {
              if (typeof v === 'number') out.push(`${name}${withLabels(s.labels, `part="${escapeLabelValue(part)}"`)} ${formatValue(v)}`);
            }
          } else out.push(`${name}${s.braced} ${formatValue(s.value as number | bigint)}`);
        }
    }
  }
  if (om) out.push('# EOF');
  return out.join('\n') + '\n';
}
