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
  /** Where the value comes from: a field of a file of the view (and a histogram's extra value), or the file's writer. */
  readonly from?: ValueSource;
}

/** A value's place in a StoreView: `files[file].snapshot.fields[field]`, or the writer's liveness when `field` is -1. */
interface ValueSource {
  readonly file: number;
  readonly field: number;
  readonly extra?: string;
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
  for (const [file, row] of view.files.entries()) {
    const s = row.snapshot;
    if (!s) continue;
    const labels = labelsOf.get(s)!;
    const braced = labels ? `{${labels}}` : '';
    alive.push({ labels, braced, value: s.writer.alive ? 1 : 0, from: { file, field: -1 } });
    for (const [field, f] of s.fields.entries()) {
      if (f.value === null || f.value === undefined) continue;
      const value = typeof f.value === 'boolean' ? (f.value ? 1 : 0) : f.value;
      const type = familyType(f.kind, value);
      const unit = type === 'info' ? '' : unitSuffix(f.unit);
      const fam = family(f.label, type, unit, f.help);
      fam.series.push({ labels, braced, value, from: { file, field } });
      // A histogram's extra values (a timer's moving mean) are gauges of their own: `<label>.<name>`.
      if (type === 'histogram') {
        for (const [name, v] of Object.entries((value as HistogramValue).extra ?? {})) {
          if (typeof v !== 'number') continue;
          const label = `${f.label}.${name}`;
          family(label, 'gauge', unit, `${name.replace(/_/g, ' ')} of ${f.label}`).series.push({
            labels,
            braced,
            value: v,
            from: { file, field, extra: name },
          });
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
    const cmdLine = commandLine(s);
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
 * One step of a scrape's rendering: constant lines, or a value looked up in the view
 * being rendered and formatted after a prefix made in advance. Constant parts are
 * kept as UTF-8 bytes (each line with its newline), so a scrape copies them into the
 * response instead of building and then encoding a string of every line.
 */
type Step =
  | { readonly kind: 'text'; readonly bytes: Buffer }
  | { readonly kind: 'number'; readonly prefix: Buffer; readonly from: ValueSource }
  | { readonly kind: 'info' | 'histogram' | 'struct'; readonly name: string; readonly labels: string; readonly from: ValueSource };

/** Everything of a scrape that depends on the layout only (files, fields, names, labels, help texts). */
interface Plan {
  readonly om: boolean;
  readonly maxBuckets: number;
  readonly steps: readonly Step[];
  /** Bytes of the last rendering: where the next one starts its buffer. */
  lastSize: number;
}

/** Work out the plan of a scrape of `view`: families, names, headers and sample prefixes. */
function makePlan(view: StoreView, om: boolean, maxBuckets: number): Plan {
  const { families, alive, errors } = collect(view);
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
    header('mmstats_writer_alive', 'gauge', 'Whether the writer of a stats file still runs (1) or is gone (0).', '');
    for (const a of alive) step({ kind: 'number', prefix: Buffer.from(`mmstats_writer_alive{${a.labels}} `), from: a.from! });
  }
  for (const fam of families) {
    const name = fam.base;
    switch (fam.type) {
      case 'counter': {
        header(om ? name : `${name}_total`, 'counter', fam.help, fam.unit);
        const sample = `${name}_total`;
        for (const s of fam.series) step({ kind: 'number', prefix: Buffer.from(`${sample}${s.braced} `), from: s.from! });
        break;
      }
      case 'info':
        header(om ? name : `${name}_info`, om ? 'info' : 'gauge', fam.help, '');
        for (const s of fam.series) step({ kind: 'info', name, labels: s.labels, from: s.from! });
        break;
      case 'histogram':
        header(name, 'histogram', fam.help, fam.unit);
        for (const s of fam.series) step({ kind: 'histogram', name, labels: s.labels, from: s.from! });
        break;
      default:
        header(name, fam.type === 'untyped' ? (om ? 'unknown' : 'untyped') : 'gauge', fam.help, fam.unit);
        for (const s of fam.series) {
          if (typeof s.value === 'object') step({ kind: 'struct', name, labels: s.labels, from: s.from! });
          else step({ kind: 'number', prefix: Buffer.from(`${name}${s.braced} `), from: s.from! });
        }
    }
  }
  if (om) line('# EOF');
  flush();
  return { om, maxBuckets, steps, lastSize: 0 };
}

/** The value a step shows, from the view being rendered. */
function valueOf(view: StoreView, from: ValueSource): unknown {
  const s = view.files[from.file]!.snapshot!;
  if (from.field < 0) return s.writer.alive ? 1 : 0;
  const v = s.fields[from.field]!.value;
  if (from.extra !== undefined) return (v as HistogramValue).extra![from.extra];
  return typeof v === 'boolean' ? (v ? 1 : 0) : v;
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
        out.ascii(formatValue(valueOf(view, st.from) as number | bigint));
        break;
      case 'info':
        out.line(`${st.name}_info${withLabels(st.labels, `value="${escapeLabelValue(String(valueOf(view, st.from)))}"`)} 1`);
        break;
      case 'histogram':
        renderHistogram(lines, st.name, st.labels, valueOf(view, st.from) as HistogramValue, plan.maxBuckets, plan.om);
        break;
      case 'struct':
        for (const [part, v] of Object.entries(valueOf(view, st.from) as Record<string, number>)) {
          if (typeof v === 'number') lines.push(`${st.name}${withLabels(st.labels, `part="${escapeLabelValue(part)}"`)} ${formatValue(v)}`);
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

/** The writer's command line, from its `sys.cmd` field (part of its label set). */
function commandLine(s: Snapshot): unknown {
  return s.fields.find((f) => f.label === 'sys.cmd')?.value;
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
  readonly format?: number;
  readonly generation?: number;
  readonly pid?: number;
  readonly threadId?: number;
  readonly startToken?: number;
  readonly shapes?: Uint8Array;
  /** The writer's command line (part of its label set). */
  readonly cmd?: unknown;
}

/**
 * What a plan depends on, kept to be compared with later views. A file's records
 * never change once published, so its layout is named by its path, its writer (start
 * token) and its generation; the shape of each value is added because a value that
 * cannot be read (null) leaves its series out. Comparing is a loop over numbers: a
 * key string of every label cost 50 ms a scrape at 100,000 fields.
 */
function layoutOf(view: StoreView): FileLayout[] {
  return view.files.map((r): FileLayout => {
    const s = r.snapshot;
    if (!s) return { path: r.path, error: errorShown(r) };
    const shapes = new Uint8Array(s.fields.length);
    for (let i = 0; i < shapes.length; i++) shapes[i] = shapeOf(s.fields[i]!.value);
    const w = s.writer;
    const cmd = commandLine(s);
    return {
      path: s.path,
      format: s.format,
      generation: s.generation,
      pid: w.pid,
      threadId: w.threadId,
      startToken: w.startToken,
      shapes,
      cmd,
    };
  });
}

/** True if `view` has the layout `was` describes, so that a plan made for one fits the other. */
function sameLayout(was: readonly FileLayout[], view: StoreView): boolean {
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
      l.format !== s.format ||
      l.generation !== s.generation ||
      l.pid !== w.pid ||
      l.threadId !== w.threadId ||
      l.startToken !== w.startToken
    )
      return false;
    const shapes = l.shapes!;
    const fields = s.fields;
    if (shapes.length !== fields.length) return false;
    for (let i = 0; i < fields.length; i++) {
      const f = fields[i]!;
      if (shapes[i] !== shapeOf(f.value)) return false;
      if (f.label === 'sys.cmd' && f.value !== l.cmd) return false;
    }
  }
  return true;
}

/**
 * Render everything the store read as a Prometheus scrape. Never throws on file
 * content: a value that cannot be shown is left out.
 */
export function renderMetrics(view: StoreView, options: ExpositionOptions = {}): string {
  const om = options.openMetrics ?? false;
  const maxBuckets = Math.max(2, options.maxBuckets ?? 40);
  return renderPlan(makePlan(view, om, maxBuckets), view).toString('utf8');
}

/**
 * `renderMetrics` for a server scraped again and again: the plan (families, names,
 * headers, label sets) is kept while the layout stays the same, so a scrape of an
 * unchanged set of files only reads and formats the values.
 */
export class MetricsRenderer {
  private last: { layout: FileLayout[]; skipped: number; plan: Plan } | undefined;
  /** Plans made so far: one at the first scrape, then one each time the layout changed. */
  plansMade = 0;
  constructor(private readonly options: ExpositionOptions = {}) {}

  /** The scrape of `view` as UTF-8: the bytes of `renderMetrics(view, options)`. */
  render(view: StoreView): Buffer {
    if (!this.last || this.last.skipped !== view.skipped || !sameLayout(this.last.layout, view)) {
      const om = this.options.openMetrics ?? false;
      const maxBuckets = Math.max(2, this.options.maxBuckets ?? 40);
      this.last = { layout: layoutOf(view), skipped: view.skipped, plan: makePlan(view, om, maxBuckets) };
      this.plansMade++;
    }
    return renderPlan(this.last.plan, view);
  }
}
