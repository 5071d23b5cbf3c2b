/**
 * `mmstats slurp` (alias `slurpstats`): print every field of every stats file once.
 *
 * As the original: a `==> FILE` line per file, then one line per field with the
 * labels padded to one width and the value after them. Added: the writer's
 * identity and whether it is alive, units, a prefix filter, and `--json`.
 */
import { type HistogramValue, type Snapshot, type Value } from '../../reader/index.js';
import { maxOf } from '../../reader/aggregate.js';
import { eachSnapshot, whereLooked } from '../snapshots.js';
import { percentileColumns, type Quantile } from './poll.js';
import { Exit, PATH_OPTION, parse, readPatterns } from '../args.js';
import { Painter, formatValue, guardPipes, padEnd, sanitize, useColor, warn, write } from '../term.js';

/** Files that are not finished stats files yet, or never will be: reported, but not a failure to read. */
const UNFINISHED: ReadonlySet<string> = new Set(['ERR_MMSTATS_INITIALISING', 'ERR_MMSTATS_ABANDONED']);

/** One line for `mmstats --help`. */
export const summary = 'print every field of every stats file once';

const HELP = `Usage: mmstats slurp [options] [PATH|GLOB...]
       slurpstats [options] [PATH|GLOB...]

Print every field of every stats file: a "==> FILE" line with the writer's
identity and liveness, then one line per field (label, value, unit).
A file that cannot be read is reported on stderr; the others are still printed.

Options:
  -p, --prefix PREFIX  only fields whose label starts with PREFIX (repeatable)
      --json           one JSON document: {"files": [...], "errors": [...]};
                       histograms list their non-empty buckets and percentiles
      --percentiles L  percentiles shown for timers and histograms (default 50,90,99)
      --path DIR       a stats directory, file or glob to read (repeatable);
                       the same as a PATH argument
  -h, --help           show this help

Exit status: 0 every file was read, or is not a finished file: one its writer
is still creating, or one it never finished (it died creating it; mmstats clean
removes it), both reported on stderr; 1 some other file could not be read;
2 usage error.
`;

/**
 * JSON for a value: bigints (beyond 2^53) as decimal strings, non-finite numbers as
 * strings. Histograms list only their non-empty buckets (a log-linear histogram has
 * thousands, nearly all empty) and add the chosen percentiles.
 */
function jsonValue(v: Value, quantiles: readonly Quantile[]): unknown {
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
  if (v !== null && typeof v === 'object' && 'buckets' in v) {
    const h = v as HistogramValue;
    return {
      ...h,
      percentiles: Object.fromEntries(quantiles.map((q) => [q.name, q.of(h)])),
      buckets: h.buckets.filter((b) => b.count !== 0).map((b) => ({ le: Number.isFinite(b.le) ? b.le : '+Inf', count: b.count })),
    };
  }
  return v;
}

function filterFields(snap: Snapshot, prefixes: readonly string[]): Snapshot {
  if (prefixes.length === 0) return snap;
  return { ...snap, fields: snap.fields.filter((f) => prefixes.some((p) => f.label.startsWith(p))) };
}

/** The original's block for one file, plus the writer line. */
function textBlock(s: Snapshot, paint: Painter, percentiles: (h: HistogramValue) => Record<string, number | null>): string {
  const w = s.writer;
  const state = w.alive ? paint.paint('green', 'alive') : paint.paint('red', w.state === 'closed' ? 'closed' : 'gone');
  const created = w.createdMs > 0 ? new Date(w.createdMs).toISOString() : 'unknown';
  const lines = [
    paint.paint('bold', `==> ${sanitize(s.path)}`),
    paint.paint('dim', `# pid ${w.pid} tid ${w.osTid} thread ${w.threadId} `) +
      state +
      paint.paint('dim', ` format ${s.format} created ${created}`),
  ];
  const labelWidth = maxOf(
    s.fields.map((f) => sanitize(f.label).length),
    0,
  );
  for (const f of s.fields) {
    const value = sanitize(formatValue(f.value, percentiles));
    const unit = f.unit ? ' ' + paint.paint('dim', sanitize(f.unit)) : '';
    const err = f.error ? ' ' + paint.paint('yellow', `(${sanitize(f.error)})`) : '';
    lines.push(`${paint.paint('cyan', padEnd(sanitize(f.label), labelWidth))} ${value}${unit}${err}`);
  }
  return lines.join('\n') + '\n';
}

/** Fields per write of `--json`. */
const JSON_BATCH = 1000;

/** `text` with `pad` before each of its lines. */
function indent(text: string, pad: string): string {
  return pad + text.replaceAll('\n', '\n' + pad);
}

/** Run `mmstats slurp`. */
export async function run(argv: string[]): Promise<number> {
  guardPipes();
  const { values: opts, positionals } = parse(argv, {
    prefix: { type: 'string', short: 'p', multiple: true },
    json: { type: 'boolean' },
    percentiles: { type: 'string' },
    ...PATH_OPTION,
  });
  if (opts.help) {
    await write(HELP);
    return Exit.OK;
  }
  const prefixes = (opts.prefix as string[] | undefined) ?? [];
  const quantiles = percentileColumns(opts.percentiles as string | undefined, [50, 90, 99]);
  const paint = new Painter(useColor(process.stdout));
  const percentiles = (h: HistogramValue) => Object.fromEntries(quantiles.map((q) => [q.name, q.of(h)]));
  // Each file is written out before the next is read: memory holds one file at a time, whatever
  // their number. The JSON is written in pieces that join into what JSON.stringify(doc, null, 2) gives.
  let first = true;
  const patterns = readPatterns(opts, positionals);
  let found = 0;
  const errors = await eachSnapshot(patterns, async (snap) => {
    found++;
    const s = filterFields(snap, prefixes);
    if (!opts.json) return write(textBlock(s, paint, percentiles));
    await write(first ? '{\n  "files": [\n' : ',\n');
    first = false;
    const head = JSON.stringify({ path: s.path, format: s.format, writer: s.writer, generation: s.generation, fields: 0 }, null, 2);
    if (s.fields.length === 0) return write(indent(head.replace(/0\n\}$/, '[]\n}'), '    '));
    await write(indent(head.replace(/0\n\}$/, '['), '    '));
    // Fields go out in batches: a file of 1,000,000 fields is never one string.
    for (let i = 0; i < s.fields.length; i += JSON_BATCH) {
      const batch = s.fields
        .slice(i, i + JSON_BATCH)
        .map((f) => indent(JSON.stringify({ ...f, value: jsonValue(f.value, quantiles) }, null, 2), '        '));
      await write('\n' + batch.join(',\n') + (i + JSON_BATCH < s.fields.length ? ',' : ''));
    }
    await write('\n      ]\n    }');
  });
  if (opts.json) {
    const list = errors.map((e) => ({ path: e.path, code: e.error.code, message: e.error.message }));
    await write(
      (first ? '{\n  "files": [],\n' : '\n  ],\n') + `  "errors": ${indent(JSON.stringify(list, null, 2), '  ').trimStart()}\n}\n`,
    );
  }
  if (found === 0 && errors.length === 0) warn(`mmstats slurp: no stats files in ${whereLooked(patterns)}`);
  for (const e of errors) warn(`mmstats slurp: ${e.path}: ${e.error.code}: ${e.error.message.replace(`${e.path}: `, '')}`);
  return errors.some((e) => !UNFINISHED.has(e.error.code)) ? Exit.FAILURE : Exit.OK;
}
