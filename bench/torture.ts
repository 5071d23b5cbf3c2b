/**
 * Race torture: how often does a reader see a value no writer ever wrote?
 *
 * One writer process updates hot fields as fast as it can while K reader
 * processes read the same file through the public reader API
 * (`StatsReader.read()`), checking every value they get:
 *
 * - `hot.word`: a 64-bit integer whose high and low 32-bit words are always
 *   equal (the writer stores k * (2^32 + 1)); a torn read breaks the equality.
 * - `hot.count`: a counter the writer increments by 1; a reader must never see
 *   it go backwards or hold a non-integer.
 * - `hot.text`: a string whose content ends with the FNV-1a checksum of the rest;
 *   the writer cycles through strings of different lengths and contents.
 * - `hot.parts` (format 2 only: v1 has no multi-value field): a compound
 *   `{n, twice, neg}` that must always read as `{k, 2k, -k}`.
 *
 * A value the reader reports as busy (`value: null`, the seqlock never settled)
 * is counted apart: it is an honest "try again", not an inconsistency.
 *
 * `--families`: labelled families under churn instead. The writer adds and
 * removes children all the time (freed slots are reused at once), and each
 * child's value is a function of its own label set, so a reader can tell a
 * value shown under the wrong labels (misattributed) from a torn one
 * (inconsistent):
 *
 * - `fam.code{a,b}`: a gauge holding code(a, b) (0 just after it is made);
 * - `fam.text{k}`: a string `k|...#checksum` (empty just after it is made);
 * - `fam.hist{k}`: a histogram that only ever records code(k, k): its min and max
 *   equal it and its sum is count × it (count 0 just after it is made).
 *
 * Usage: node dist/bench/torture.js [--format 1|2] [--families] [--reads N]
 *        [--seconds S] [--readers K] [--smoke] [--json]
 * `--reads` counts field values read (each snapshot reads 3 or 4, or every child
 * of the families); the run stops
 * at N reads or after S seconds, whichever comes first. `--smoke` is a short run
 * of both formats for CI. Exit status 1 when format 2 had an inconsistent read.
 */
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { runScript, tempStatsDir, type ScriptProcess } from '../test/helpers/proc.js';

/** FNV-1a over the UTF-16 code units of `s` (enough to tell two strings apart). */
export function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** The `i`th string of the writer's cycle: varied length and content, then `#` and its checksum. */
export function checkedText(i: number): string {
  const fill = String.fromCharCode(0x41 + (i % 26)).repeat(3 + ((i * 37) % 70));
  const body = `${i}:${fill}:${(i * 2654435761) >>> 0}`;
  return `${body}#${fnv1a(body).toString(16)}`;
}

/** True if `v` is a string whose checksum matches its body. */
export function textIsConsistent(v: unknown): boolean {
  if (typeof v !== 'string') return false;
  const hash = v.lastIndexOf('#');
  return hash > 0 && fnv1a(v.slice(0, hash)).toString(16) === v.slice(hash + 1);
}

/** True if a 64-bit value (number or bigint) has equal high and low words. */
export function wordIsConsistent(v: unknown): boolean {
  if (typeof v === 'bigint') return v >> 32n === (v & 0xffffffffn);
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) return false;
  return Math.floor(v / 2 ** 32) === v % 2 ** 32;
}

/** True if a compound value reads as {k, 2k, -k}. */
export function partsAreConsistent(v: unknown): boolean {
  if (typeof v !== 'object' || v === null) return false;
  const p = v as Record<string, unknown>;
  return typeof p.n === 'number' && p.twice === 2 * p.n && p.neg === -p.n;
}

/** The value a child of `fam.code` holds, and every value `fam.hist{k}` records: never 0. */
export function labelCode(a: string, b: string): number {
  return (fnv1a(`${a}\u0000${b}`) % 1_000_000) + 1;
}

/** The `i`th text of child `k`: its label, varied content, and a checksum of both. */
export function childText(k: string, i: number): string {
  const body = `${k}|${i}:${'xyz'.repeat(i % 9)}`;
  return `${body}#${fnv1a(body).toString(16)}`;
}

/** Per-check counts of one family reader. */
export interface FamilyCounts {
  snapshots: number;
  reads: number;
  busy: number;
  /** Children seen just made, before their first update (a zero value): legitimate. */
  fresh: number;
  /** A value torn between two writes. */
  inconsistent: number;
  /** A whole value of another label set shown under these labels. */
  misattributed: number;
  /** Family errors reported by the reader (malformed, kept changing). */
  errors: number;
  examples: string[];
}

/** Checks every child of a snapshot against the value its own labels imply. */
export class FamilyChecker {
  readonly counts: FamilyCounts = { snapshots: 0, reads: 0, busy: 0, fresh: 0, inconsistent: 0, misattributed: 0, errors: 0, examples: [] };

  check(
    fields: readonly {
      readonly label: string;
      readonly value: unknown;
      readonly family?: string;
      readonly labels?: Readonly<Record<string, string>>;
      readonly error?: string;
    }[],
  ): void {
    const c = this.counts;
    c.snapshots++;
    for (const f of fields) {
      if (f.family === undefined) continue;
      if (!f.labels) {
        // A slot whose labels were never seen settled is busy; anything else the reader reports is an error.
        if (f.value === null && f.error?.endsWith('kept changing while read')) {
          c.reads++;
          c.busy++;
        } else {
          c.errors++;
          this.example(`${f.label}: ${f.error}`);
        }
        continue;
      }
      c.reads++;
      const v = f.value;
      if (v === null) {
        c.busy++;
        continue;
      }
      const verdict = judge(f.family, f.labels, v);
      if (verdict === 'fresh') c.fresh++;
      else if (verdict !== 'ok') {
        c[verdict]++;
        this.example(`${f.label}: ${JSON.stringify(v, bigintJson)}`);
      }
    }
  }

  private example(s: string): void {
    if (this.counts.examples.length < 5) this.counts.examples.push(s);
  }
}

/** Whether a child's value belongs to its labels. */
export function judge(
  family: string,
  labels: Readonly<Record<string, string>>,
  v: unknown,
): 'ok' | 'fresh' | 'inconsistent' | 'misattributed' {
  switch (family) {
    case 'fam.code':
      if (v === 0) return 'fresh';
      return v === labelCode(labels.a!, labels.b!) ? 'ok' : 'misattributed';
    case 'fam.text': {
      if (v === '') return 'fresh';
      if (!textIsConsistent(v)) return 'inconsistent';
      return (v as string).startsWith(`${labels.k}|`) ? 'ok' : 'misattributed';
    }
    case 'fam.hist': {
      const h = v as { count: number; sum: number; min: number; max: number };
      if (h.count === 0) return h.sum === 0 ? 'fresh' : 'inconsistent';
      const want = labelCode(labels.k!, labels.k!);
      if (h.min === h.max && h.sum === h.count * h.min) return h.min === want ? 'ok' : 'misattributed';
      return 'inconsistent';
    }
    default:
      return 'ok';
  }
}

/** Per-check counts of one reader. */
export interface ReaderCounts {
  snapshots: number;
  reads: number;
  busy: number;
  /** Busy values per field. */
  busyBy: Record<string, number>;
  inconsistent: { word: number; count: number; text: number; parts: number };
  /** A few bad values, for the report. */
  examples: string[];
}

/** A checker that keeps the state a single reader needs (the last count it saw). */
export class SnapshotChecker {
  readonly counts: ReaderCounts = {
    snapshots: 0,
    reads: 0,
    busy: 0,
    busyBy: {},
    inconsistent: { word: 0, count: 0, text: 0, parts: 0 },
    examples: [],
  };
  private lastCount = -1;

  /** Check every hot field of one snapshot's field list. */
  check(fields: readonly { readonly label: string; readonly value: unknown }[]): void {
    const c = this.counts;
    c.snapshots++;
    for (const f of fields) {
      const v = f.value;
      let bad: keyof ReaderCounts['inconsistent'] | undefined;
      switch (f.label) {
        case 'hot.word':
          if (!wordIsConsistent(v)) bad = 'word';
          break;
        case 'hot.count':
          if (typeof v !== 'number' || !Number.isInteger(v) || v < this.lastCount) bad = 'count';
          else this.lastCount = v;
          break;
        case 'hot.text':
          if (v !== null && !textIsConsistent(v)) bad = 'text';
          break;
        case 'hot.parts':
          if (v !== null && !partsAreConsistent(v)) bad = 'parts';
          break;
        default:
          continue;
      }
      c.reads++;
      if (v === null) {
        c.busy++;
        c.busyBy[f.label] = (c.busyBy[f.label] ?? 0) + 1;
      }
      if (bad) {
        c.inconsistent[bad]++;
        if (c.examples.length < 5)
          c.examples.push(`${f.label}: ${typeof v === 'string' ? JSON.stringify(v) : String(JSON.stringify(v, bigintJson))}`);
      }
    }
  }
}

function bigintJson(_k: string, v: unknown): unknown {
  return typeof v === 'bigint' ? v.toString() : v;
}

/** Options of one torture run. */
export interface TortureOptions {
  readonly format: 1 | 2;
  /** Labelled families under churn instead of hot fields (format 2). */
  readonly families?: boolean;
  readonly reads: number;
  readonly seconds: number;
  readonly readers: number;
}

/** What one run measured. */
export interface TortureResult extends TortureOptions {
  /** Families: children added or removed. */
  readonly churn?: number;
  /** Families: children seen before their first update. */
  readonly fresh?: number;
  /** Families: values shown under another label set. */
  readonly misattributed?: number;
  /** Families: errors the reader reported for a family. */
  readonly familyErrors?: number;
  readonly writes: number;
  readonly snapshots: number;
  readonly totalReads: number;
  readonly busy: number;
  readonly busyBy: Record<string, number>;
  readonly inconsistent: ReaderCounts['inconsistent'];
  readonly inconsistentTotal: number;
  readonly examples: string[];
  readonly elapsedSeconds: number;
}

const SELF_URL = import.meta.url;

const WRITER = `
const { checkedText } = await import(env.TORTURE_MODULE);
const format = Number(env.TORTURE_FORMAT);
const stats = openStats({ name: 'torture', path: env.TORTURE_DIR, format, defaultFields: false });
const word = stats.add('hot.word', field.uint64());
const count = stats.add('hot.count', field.counter());
const text = stats.add('hot.text', field.string({ size: 128 }));
const parts = format === 2 ? stats.add('hot.parts', field.compound(['n', 'twice', 'neg'])) : null;
const texts = Array.from({ length: 251 }, (_, i) => checkedText(i));
const WORD = 4294967297; // 2^32 + 1: high word = low word = k
let running = false;
let k = 0;
word.set(0);
text.set(texts[0]);
on('run', async () => {
  running = true;
  const started = k;
  while (running) {
    for (let i = 0; i < 20000; i++) {
      k++;
      word.set((k & 0x1fffff) * WORD);
      count.incr();
      text.set(texts[k % 251]);
      if (parts) parts.set({ n: k, twice: 2 * k, neg: -k });
    }
    // Let the stop message in.
    await new Promise((r) => setImmediate(r));
  }
  return k - started;
});
on('stop', () => { running = false; });
on('writes', () => k);
ready(stats.path);
`;

const FAMILY_WRITER = `
const { labelCode, childText } = await import(env.TORTURE_MODULE);
const stats = openStats({ name: 'torture', path: env.TORTURE_DIR, defaultFields: false });
const code = stats.add('fam.code', field.gauge({ labels: ['a', 'b'] }));
const text = stats.add('fam.text', field.string({ size: 64, labels: ['k'] }));
const hist = stats.add('fam.hist', field.histogram({ buckets: [1e3, 1e5], labels: ['k'] }));
// 48 label sets per family, about half live at any time: every removal frees a slot the next add takes.
const A = Array.from({ length: 8 }, (_, i) => 'a' + i);
const B = Array.from({ length: 6 }, (_, i) => 'b' + i);
const K = Array.from({ length: 48 }, (_, i) => 'k' + i);
const live = new Set();
let running = false;
let k = 0;
let churn = 0;
let seed = 1;
const rand = (n) => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % n);
on('run', async () => {
  running = true;
  const started = k;
  while (running) {
    for (let i = 0; i < 2000; i++) {
      k++;
      const a = A[rand(8)], b = B[rand(6)], key = K[rand(48)];
      const ab = a + '/' + b;
      if (live.has(ab) && rand(2) === 0) { code.remove(a, b); live.delete(ab); churn++; }
      else { code.with(a, b).set(labelCode(a, b)); if (!live.has(ab)) { live.add(ab); churn++; } }
      if (live.has(key) && rand(2) === 0) { text.remove(key); hist.remove(key); live.delete(key); churn += 2; }
      else {
        if (!live.has(key)) { live.add(key); churn += 2; }
        text.with(key).set(childText(key, k));
        hist.with(key).record(labelCode(key, key));
      }
    }
    await new Promise((r) => setImmediate(r));
  }
  return k - started;
});
on('stop', () => { running = false; });
on('writes', () => k);
on('churn', () => churn);
ready(stats.path);
`;

const FAMILY_READER = `
const { FamilyChecker } = await import(env.TORTURE_MODULE);
const checker = new FamilyChecker();
let reader;
on('run', (file, reads, deadline) => {
  reader ??= StatsReader.open(file);
  const c = checker.counts;
  while (c.reads < reads) {
    for (let i = 0; i < 16; i++) checker.check(reader.read().fields);
    if (Date.now() > deadline) break;
  }
  return c;
});
ready(process.pid);
`;

const READER = `
const { SnapshotChecker } = await import(env.TORTURE_MODULE);
const checker = new SnapshotChecker();
let reader;
// Counts are cumulative over rounds: each round returns the totals so far.
on('run', (file, reads, deadline) => {
  reader ??= StatsReader.open(file);
  const c = checker.counts;
  while (c.reads < reads) {
    for (let i = 0; i < 256; i++) checker.check(reader.read().fields);
    if (Date.now() > deadline) break;
  }
  return c;
});
ready(process.pid);
`;

/** Run a torture: a writer, `readers` readers, until `reads` or `seconds`; `progress` gets the totals every `roundSeconds`. */
export async function torture(opts: TortureOptions, progress?: (r: TortureResult) => void, roundSeconds = 60): Promise<TortureResult> {
  const dir = tempStatsDir('mmstats-torture-');
  const env = { TORTURE_MODULE: SELF_URL, TORTURE_FORMAT: String(opts.format), TORTURE_DIR: dir };
  const writer = runScript(opts.families ? FAMILY_WRITER : WRITER, { env });
  const readers: ScriptProcess[] = [];
  try {
    const file = (await writer.ready) as string;
    for (let i = 0; i < opts.readers; i++) readers.push(runScript(opts.families ? FAMILY_READER : READER, { env }));
    await Promise.all(readers.map((r) => r.ready));
    const started = process.hrtime.bigint();
    const writing = writer.call('run');
    const deadline = Date.now() + opts.seconds * 1000;
    const perReader = Math.ceil(opts.reads / opts.readers);
    // Rounds, so that a long run reports as it goes and an interrupted one still has figures.
    let result: TortureResult;
    for (;;) {
      const roundEnd = Math.min(deadline, Date.now() + roundSeconds * 1000);
      const counts = (await Promise.all(readers.map((r) => r.call('run', file, perReader, roundEnd)))) as (ReaderCounts | FamilyCounts)[];
      const writes = (await writer.call('writes')) as number;
      const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
      result = opts.families
        ? summariseFamilies(opts, counts as FamilyCounts[], writes, (await writer.call('churn')) as number, elapsed)
        : summarise(opts, counts as ReaderCounts[], writes, elapsed);
      if (counts.every((c) => c.reads >= perReader) || Date.now() >= deadline) break;
      progress?.(result);
    }
    await writer.call('stop');
    await writing;
    return result;
  } finally {
    for (const r of readers) r.child.kill('SIGKILL');
    writer.child.kill('SIGKILL');
  }
}

function summarise(opts: TortureOptions, counts: ReaderCounts[], writes: number, elapsedSeconds: number): TortureResult {
  const inconsistent = { word: 0, count: 0, text: 0, parts: 0 };
  for (const c of counts) for (const k of Object.keys(inconsistent) as (keyof typeof inconsistent)[]) inconsistent[k] += c.inconsistent[k];
  return {
    ...opts,
    writes,
    snapshots: sum(counts.map((c) => c.snapshots)),
    totalReads: sum(counts.map((c) => c.reads)),
    busy: sum(counts.map((c) => c.busy)),
    busyBy: mergeCounts(counts.map((c) => c.busyBy)),
    inconsistent,
    inconsistentTotal: sum(Object.values(inconsistent)),
    examples: counts.flatMap((c) => c.examples).slice(0, 5),
    elapsedSeconds,
  };
}

function summariseFamilies(
  opts: TortureOptions,
  counts: FamilyCounts[],
  writes: number,
  churn: number,
  elapsedSeconds: number,
): TortureResult {
  const inconsistent = sum(counts.map((c) => c.inconsistent));
  return {
    ...opts,
    writes,
    churn,
    snapshots: sum(counts.map((c) => c.snapshots)),
    totalReads: sum(counts.map((c) => c.reads)),
    busy: sum(counts.map((c) => c.busy)),
    busyBy: {},
    fresh: sum(counts.map((c) => c.fresh)),
    misattributed: sum(counts.map((c) => c.misattributed)),
    familyErrors: sum(counts.map((c) => c.errors)),
    inconsistent: { word: 0, count: 0, text: inconsistent, parts: 0 },
    inconsistentTotal: inconsistent,
    examples: counts.flatMap((c) => c.examples).slice(0, 5),
    elapsedSeconds,
  };
}

function mergeCounts(list: Record<string, number>[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of list) for (const [k, v] of Object.entries(m)) out[k] = (out[k] ?? 0) + v;
  return out;
}

function sum(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0);
}

function parseArgs(argv: string[]): {
  formats: (1 | 2)[];
  reads: number;
  seconds: number;
  readers: number;
  json: boolean;
  families: boolean;
} {
  let formats: (1 | 2)[] | undefined;
  let families = false;
  let reads: number | undefined;
  let seconds: number | undefined;
  let readers = 1;
  let smoke = false;
  let json = false;
  const num = (name: string, v: string | undefined): number => {
    const n = Number(v);
    if (v === undefined || !Number.isFinite(n) || n <= 0) throw new Error(`${name} needs a positive number, not ${JSON.stringify(v)}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--format') {
      const v = argv[++i];
      if (v !== '1' && v !== '2') throw new Error(`--format takes 1 or 2, not ${JSON.stringify(v)}`);
      formats = [Number(v) as 1 | 2];
    } else if (a === '--reads') reads = num(a, argv[++i]);
    else if (a === '--seconds') seconds = num(a, argv[++i]);
    else if (a === '--readers') readers = Math.floor(num(a, argv[++i]));
    else if (a === '--smoke') smoke = true;
    else if (a === '--families') families = true;
    else if (a === '--json') json = true;
    else
      throw new Error(`unknown argument ${JSON.stringify(a)} (use --format, --families, --reads, --seconds, --readers, --smoke, --json)`);
  }
  return {
    formats: families ? [2] : (formats ?? (smoke ? [2, 1] : [2])),
    families,
    reads: reads ?? (smoke ? 2e6 : 1e8),
    seconds: seconds ?? (smoke ? 3 : 3600),
    readers,
    json,
  };
}

function fmt(n: number): string {
  return n.toLocaleString('en-US', { maximumFractionDigits: 0 });
}

function familyReport(r: TortureResult): string {
  const rate = r.totalReads / r.elapsedSeconds;
  const lines = [
    `families (format 2): ${r.readers} reader(s), ${r.elapsedSeconds.toFixed(1)} s, ${os.cpus().length} CPUs`,
    `  writes        ${fmt(r.writes)} rounds, ${fmt(r.churn ?? 0)} children added or removed (${fmt((r.churn ?? 0) / r.elapsedSeconds)}/s)`,
    `  reads         ${fmt(r.totalReads)} child values in ${fmt(r.snapshots)} snapshots (${fmt(rate)} values/s)`,
    `  fresh         ${fmt(r.fresh ?? 0)} (a child read before its first update: legitimate)`,
    `  busy          ${fmt(r.busy)} (value kept changing; reported as null)`,
    `  inconsistent  ${fmt(r.inconsistentTotal)}`,
    `  misattributed ${fmt(r.misattributed ?? 0)} (a value under another label set)`,
    `  family errors ${fmt(r.familyErrors ?? 0)}`,
  ];
  for (const e of r.examples) lines.push(`    e.g. ${e}`);
  return lines.join('\n');
}

function report(r: TortureResult): string {
  if (r.families) return familyReport(r);
  const rate = r.totalReads / r.elapsedSeconds;
  const bad = r.inconsistentTotal;
  const lines = [
    `format ${r.format}: ${r.readers} reader(s), ${r.elapsedSeconds.toFixed(1)} s, ${os.cpus().length} CPUs`,
    `  writes      ${fmt(r.writes)} rounds (${fmt(r.writes / r.elapsedSeconds)}/s)`,
    `  reads       ${fmt(r.totalReads)} values in ${fmt(r.snapshots)} snapshots (${fmt(rate)} values/s)`,
    `  busy        ${fmt(r.busy)} ${r.busy ? ` ${JSON.stringify(r.busyBy)}` : ''} (value kept changing; reported as null, not inconsistent)`,
    `  inconsistent ${fmt(bad)} = ${bad === 0 ? '0' : (bad / r.totalReads).toExponential(2)} per read ` +
      `(word ${r.inconsistent.word}, count ${r.inconsistent.count}, text ${r.inconsistent.text}, parts ${r.inconsistent.parts})`,
  ];
  for (const e of r.examples) lines.push(`    e.g. ${e}`);
  return lines.join('\n');
}

async function main(): Promise<void> {
  let args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (err) {
    console.error(`torture: ${(err as Error).message}`);
    process.exit(2);
  }
  const results: TortureResult[] = [];
  for (const format of args.formats) {
    const progress = (p: TortureResult): void => {
      if (!args.json)
        console.log(`  ... ${p.elapsedSeconds.toFixed(0)} s: ${fmt(p.totalReads)} reads, ${p.inconsistentTotal} inconsistent`);
    };
    const r = await torture({ format, reads: args.reads, seconds: args.seconds, readers: args.readers, families: args.families }, progress);
    results.push(r);
    if (!args.json) console.log(report(r));
  }
  if (args.json) console.log(JSON.stringify(results));
  const bad = (r: TortureResult) => r.inconsistentTotal + (r.misattributed ?? 0) + (r.familyErrors ?? 0) > 0;
  if (results.some((r) => r.format === 2 && bad(r))) process.exitCode = 1;
}

if (process.argv[1] && pathToFileURL(path.resolve(process.argv[1])).href === SELF_URL) {
  await main();
}

export const TORTURE_SCRIPT = fileURLToPath(SELF_URL);
