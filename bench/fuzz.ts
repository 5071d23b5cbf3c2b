/**
 * Fuzzing the reader: random and mutated stats files, fed to StatsReader with
 * fast-check. The property: opening and reading any file either succeeds or
 * throws an MmstatsError, within a time bound; never another exception, a hang
 * or a crash of the process.
 *
 * Mutations start from real files made by the writer in another process (both
 * formats, every field type the library has) and aim at the places a hostile or
 * damaged file would: header counts and offsets, record links (pointing back
 * into an earlier record makes cycles and overlaps), lengths, labels (invalid
 * UTF-8), the file size (truncated, grown sparse to the size limits), the magic.
 *
 * Usage: node dist/bench/fuzz.js [--runs N] [--seed S] [--chunk C] [--save DIR] [--keep DIR]
 * Runs N cases in child processes of C cases each (a child that dies leaves the
 * case it was on; the parent keeps it). Failing cases are saved to DIR (default
 * test/fixtures/fuzz). `--keep DIR` leaves a sample of fuzzed files there, to
 * point the tools at.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import fc from 'fast-check';
import { MmstatsError, StatsReader, readAll } from '../src/index.js';
import { Header, Record as Rec, decodeRecord } from '../src/format/v2.js';
import { Chunk, Directory, FamilyExtra, Slot, decodeFamilyExtra } from '../src/format/family.js';
import { decodeV1Fields } from '../src/format/v1.js';
import { runScript } from '../test/helpers/proc.js';

/** A real file from the writer, with the offsets worth aiming at. */
export interface Seed {
  readonly name: string;
  readonly bytes: Uint8Array;
  /** Offsets of structures: header fields, records, their links and lengths, values, labels. */
  readonly hot: readonly number[];
  /** Record (v2) or field (v1) start offsets. */
  readonly records: readonly number[];
}

const SEED_WRITER = `
const made = [];
const add = (s, name, make) => {
  try {
    return make ? s.add(name, make()) : undefined;
  } catch (err) {
    if (err && err.code === 'ERR_MMSTATS_UNSUPPORTED') return undefined;
    throw err;
  }
};
for (const format of [2, 1]) {
  const s = openStats({ name: 'seed' + format, path: env.FUZZ_DIR, format, keep: true, prefix: 'app.' });
  add(s, 'requests', () => field.counter({ help: 'requests served', unit: 'requests' }))?.incr(12345);
  add(s, 'temperature', () => field.gauge({ unit: 'celsius' }))?.set(-3.25);
  for (const t of ['int8', 'uint8', 'int16', 'uint16', 'int32', 'uint32', 'float32', 'float64']) add(s, 'n.' + t, () => field[t]())?.set(-7);
  add(s, 'big', () => field.int64())?.set(-(2n ** 62n));
  add(s, 'ubig', () => field.uint64())?.set(2n ** 63n + 5n);
  add(s, 'flag', () => field.bool())?.set(true);
  add(s, 'path', () => field.string({ size: 64, help: 'last path' }))?.set('/api/v1/é/日本');
  add(s, 'étiquette.日本', () => field.string({ size: 8 }))?.set('ok');
  add(s, 'pair', () => field.compound(['a', 'b']))?.set({ a: 1.5, b: -2 });
  add(s, 'avg', field.average && (() => field.average()))?.add?.(3);
  add(s, 'mavg', field.movingAverage && (() => field.movingAverage({ size: 4 })))?.add?.(3);
  add(s, 'hist', field.histogram && (() => field.histogram({ buckets: [1, 10, 100] })))?.record?.(7);
  add(s, 'timer', field.timer && (() => field.timer({ buckets: [0.001, 0.01, 0.1, 1] })))?.record?.(0.05);
  add(s, 'minmax', field.minMax && (() => field.minMax()))?.record?.(4);
  add(s, 'sampled', field.samplingCounter && (() => field.samplingCounter()));
  // Labelled families (format 2.1; refused in format 1): several chunks, freed slots, an overflow child.
  const fam = add(s, 'req', () => field.counter({ labels: ['method', 'status'], maxSeries: 12 }));
  if (fam) {
    for (let i = 0; i < 16; i++) fam.with(i % 2 ? 'GET' : 'PÖST', 200 + i).incr(i);
    fam.remove('GET', 201);
    fam.remove('PÖST', 204);
  }
  const famText = add(s, 'who', () => field.string({ size: 16, labels: ['user'] }));
  if (famText) for (const u of ['ann', 'bob', '日本']) famText.with(u).set('hi ' + u);
  add(s, 'lat', () => field.histogram({ buckets: [0.1, 1], labels: ['route'] }))?.with('/a').record(0.5);
  add(s, 'version', () => field.static.string('1.2.3'));
  add(s, 'answer', () => field.static.uint32(42));
  s.close();
  made.push(s.path);
}
ready(made);
`;

/** Make the seed files with a real writer process; returns them parsed. */
export async function makeSeeds(dir: string): Promise<Seed[]> {
  const w = runScript(SEED_WRITER, { env: { FUZZ_DIR: dir } });
  const files = (await w.ready) as string[];
  await w.end();
  const seeds: Seed[] = [];
  for (const file of files) {
    const full = new Uint8Array(fs.readFileSync(file));
    seeds.push(describeSeed(path.basename(file), full));
    // The same file cut just past its last structure: mutations land on structure more often.
    const used = full[0] === 1 ? v1End(full) : new DataView(full.buffer).getUint32(Header.USED_SIZE, true);
    seeds.push(describeSeed(`${path.basename(file)}#cut`, full.slice(0, Math.min(full.length, used + 8))));
  }
  return seeds;
}

function v1End(bytes: Uint8Array): number {
  const fields = decodeV1Fields(bytes, bytes.length);
  return fields.length ? fields[fields.length - 1]!.end + 2 : 1;
}

/** Parse a seed to find the offsets worth mutating. */
export function describeSeed(name: string, bytes: Uint8Array): Seed {
  const hot: number[] = [];
  const records: number[] = [];
  if (bytes[0] === 1) {
    hot.push(0);
    for (const f of decodeV1Fields(bytes, bytes.length)) {
      const start = f.writeBufferOffset - f.type.length - 2 - Buffer.byteLength(f.label) - 2;
      records.push(start);
      hot.push(start, start + 2, f.writeBufferOffset - f.type.length - 2, f.writeBufferOffset, f.valueOffset, f.end);
    }
  } else {
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    hot.push(...Object.values(Header).filter((v) => v < Header.SIZE));
    const count = dv.getUint32(Header.FIELD_COUNT, true);
    let at = dv.getUint32(Header.FIRST_RECORD, true);
    for (let i = 0; i < count && at > 0 && at < bytes.length; i++) {
      records.push(at);
      for (const k of Object.values(Rec)) if (k < Rec.PARTS) hot.push(at + k);
      hot.push(at + Rec.PARTS);
      const m = decodeRecord(bytes, at, bytes.length, true);
      hot.push(m.valueOffset, m.valueOffset + 4, m.valueOffset + 8);
      if (m.extra) hot.push(...familyHot(bytes, dv, at + Rec.PARTS, m.valueOffset, m.extra));
      at = dv.getUint32(at + Rec.NEXT, true);
    }
  }
  return { name, bytes, hot: [...new Set(hot)].sort((a, b) => a - b), records };
}

/** A family's structures: its description, directory, each chunk's header and each slot's words. */
function familyHot(bytes: Uint8Array, dv: DataView, extraAt: number, directory: number, extra: Uint8Array): number[] {
  const hot = Object.values(FamilyExtra).map((k) => extraAt + k);
  hot.push(directory + Directory.FIRST_CHUNK, directory + Directory.LIVE);
  const meta = decodeFamilyExtra(extra);
  for (let chunk = dv.getUint32(directory, true), last = 0; chunk > last && chunk < bytes.length;) {
    hot.push(chunk + Chunk.NEXT, chunk + Chunk.SLOT_COUNT);
    const count = dv.getUint32(chunk + Chunk.SLOT_COUNT, true);
    for (let i = 0; i < count; i++) {
      const slot = chunk + Chunk.SLOTS + i * meta.slotSize;
      hot.push(
        slot + Slot.SEQ,
        slot + Slot.STATE,
        slot + Slot.LENGTHS,
        slot + Slot.LENGTHS + 2 * meta.labelNames.length,
        slot + meta.slotValueOffset,
      );
    }
    last = chunk;
    chunk = dv.getUint32(chunk + Chunk.NEXT, true);
  }
  return hot;
}

/** One change to a file. Offsets are picked relative to the seed's structures. */
export type Mutation =
  | { readonly kind: 'truncate'; readonly at: Where }
  | { readonly kind: 'byte'; readonly at: Where; readonly value: number }
  | { readonly kind: 'u16' | 'u32'; readonly at: Where; readonly value: number }
  | { readonly kind: 'utf8'; readonly at: Where; readonly bytes: readonly number[] }
  | { readonly kind: 'link'; readonly from: number; readonly to: number; readonly delta: number }
  | { readonly kind: 'splice'; readonly at: Where; readonly bytes: Uint8Array }
  | { readonly kind: 'magic'; readonly value: number }
  | { readonly kind: 'grow'; readonly size: number };

/** An offset: a structure of the seed plus a small delta, or anywhere in the file. */
export interface Where {
  readonly pick: number;
  readonly delta: number;
  readonly anywhere: boolean;
}

/** A file to feed the reader: bytes, and a size to extend it to (sparse) if larger. */
export interface FuzzFile {
  readonly bytes: Uint8Array;
  readonly size: number;
  readonly origin: string;
}

const where: fc.Arbitrary<Where> = fc.record({
  pick: fc.nat(),
  delta: fc.oneof(fc.constant(0), fc.integer({ min: -8, max: 16 })),
  anywhere: fc.boolean(),
});

/** Values that sit on the edges a parser gets wrong. */
function edgeValues(size: number): fc.Arbitrary<number> {
  return fc.oneof(
    fc.constantFrom(0, 1, 2, 7, 8, 40, 127, 128, 129, 0xff, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xfffffff8, 0xffffffff),
    fc.constantFrom(size - 8, size - 1, size, size + 1, size + 8, Math.floor(size / 2)),
    fc.nat(),
  );
}

const INVALID_UTF8: readonly (readonly number[])[] = [
  [0xff],
  [0xc0, 0x80],
  [0x80],
  [0xed, 0xa0, 0x80],
  [0xf4, 0x90, 0x80, 0x80],
  [0xe2, 0x82],
  [0],
];

function mutationArb(maxSize: number): fc.Arbitrary<Mutation> {
  return fc.oneof(
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('truncate' as const), at: where }) },
    { weight: 3, arbitrary: fc.record({ kind: fc.constant('byte' as const), at: where, value: fc.integer({ min: 0, max: 255 }) }) },
    { weight: 4, arbitrary: fc.record({ kind: fc.constantFrom('u16' as const, 'u32' as const), at: where, value: edgeValues(maxSize) }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('utf8' as const), at: where, bytes: fc.constantFrom(...INVALID_UTF8) }) },
    {
      weight: 3,
      arbitrary: fc.record({
        kind: fc.constant('link' as const),
        from: fc.nat(),
        to: fc.nat(),
        delta: fc.constantFrom(0, 0, 4, 8, -8, 40),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({ kind: fc.constant('splice' as const), at: where, bytes: fc.uint8Array({ minLength: 1, maxLength: 64 }) }),
    },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('magic' as const), value: fc.integer({ min: 0, max: 7 }) }) },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant('grow' as const),
        // Near and past the 4 GiB limit now and then: such cases cost ~100 ms each.
        size: fc.oneof(
          { weight: 20, arbitrary: fc.constantFrom(65536, 1 << 20, 1 << 24) },
          { weight: 1, arbitrary: fc.constantFrom(0xffff_fff8, 0x1_0000_0000, 0x1_0000_1000) },
        ),
      }),
    },
  );
}

function resolve(seed: Seed, w: Where, length: number): number {
  if (length === 0) return 0;
  if (w.anywhere || seed.hot.length === 0) return w.pick % length;
  const at = seed.hot[w.pick % seed.hot.length]! + w.delta;
  return Math.min(Math.max(at, 0), length - 1);
}

/** Apply mutations to a copy of the seed. */
export function mutate(seed: Seed, mutations: readonly Mutation[]): FuzzFile {
  let bytes = seed.bytes.slice();
  let size = bytes.length;
  for (const m of mutations) {
    const dv = new DataView(bytes.buffer);
    switch (m.kind) {
      case 'truncate':
        bytes = bytes.slice(0, resolve(seed, m.at, bytes.length));
        size = Math.min(size, bytes.length);
        break;
      case 'byte':
        if (bytes.length) bytes[resolve(seed, m.at, bytes.length)] = m.value;
        break;
      case 'u16': {
        const at = resolve(seed, m.at, bytes.length);
        if (at + 2 <= bytes.length) dv.setUint16(at, m.value & 0xffff, true);
        break;
      }
      case 'u32': {
        const at = resolve(seed, m.at, bytes.length);
        if (at + 4 <= bytes.length) dv.setUint32(at, m.value >>> 0, true);
        break;
      }
      case 'utf8':
      case 'splice': {
        const at = resolve(seed, m.at, bytes.length);
        const src = m.kind === 'utf8' ? Uint8Array.from(m.bytes) : m.bytes;
        bytes.set(src.subarray(0, Math.max(0, bytes.length - at)), at);
        break;
      }
      case 'link': {
        // Point a record's "next" (v2) or a field's label length (v1) at another structure.
        if (seed.records.length === 0) break;
        const from = seed.records[m.from % seed.records.length]!;
        const to = seed.records[m.to % seed.records.length]! + m.delta;
        if (bytes[0] === 1) {
          if (from + 2 <= bytes.length) dv.setUint16(from, Math.max(0, to - from) & 0xffff, true);
        } else if (from + Rec.NEXT + 4 <= bytes.length) dv.setUint32(from + Rec.NEXT, Math.max(0, to), true);
        break;
      }
      case 'magic':
        if (bytes.length > m.value) bytes[m.value] ^= 0x20;
        break;
      case 'grow':
        size = Math.max(size, m.size);
        break;
    }
  }
  return { bytes, size: Math.max(size, bytes.length), origin: seed.name };
}

/** Files for the reader: mutated seeds mostly, random bytes (with plausible openings) sometimes. */
export function fuzzFileArb(seeds: readonly Seed[]): fc.Arbitrary<FuzzFile> {
  const maxSize = Math.max(...seeds.map((s) => s.bytes.length));
  const mutated = fc
    .tuple(fc.nat({ max: seeds.length - 1 }), fc.array(mutationArb(maxSize), { minLength: 1, maxLength: 4 }))
    .map(([i, ms]) => mutate(seeds[i]!, ms));
  const random = fc.tuple(fc.constantFrom('', 'v1', 'v2'), fc.uint8Array({ maxLength: 2048 })).map(([opening, body]): FuzzFile => {
    const head = opening === 'v1' ? [1] : opening === 'v2' ? [0x4d, 0x4d, 0x53, 0x54, 0x41, 0x54, 0x53, 0, 2, 0, 0, 0, 4, 3, 2, 1] : [];
    const bytes = new Uint8Array(head.length + body.length);
    bytes.set(head);
    bytes.set(body, head.length);
    if (opening === 'v2' && bytes.length >= 24) bytes[20] = 1; // state READY, so the reader goes past the header
    return { bytes, size: bytes.length, origin: `random-${opening || 'bytes'}` };
  });
  return fc.oneof({ weight: 9, arbitrary: mutated }, { weight: 1, arbitrary: random });
}

/** Write a fuzz file at `file` (extended sparse to its size). */
export function writeFuzzFile(file: string, f: FuzzFile): void {
  fs.writeFileSync(file, f.bytes);
  if (f.size > f.bytes.length) fs.truncateSync(file, f.size);
}

/** A file rewritten in place for each case: cheaper than creating it a million times. */
class CaseFile {
  private readonly fd: number;
  constructor(readonly path: string) {
    this.fd = fs.openSync(path, 'w+', 0o600);
  }
  /** Replace the content with `bytes`, then extend (sparse) to `size`; `prefix` goes first if given. */
  write(bytes: Uint8Array, size: number, prefix?: Uint8Array): void {
    let at = 0;
    if (prefix) at += fs.writeSync(this.fd, prefix, 0, prefix.length, 0);
    fs.writeSync(this.fd, bytes, 0, bytes.length, at);
    fs.ftruncateSync(this.fd, Math.max(size, at + bytes.length));
  }
  close(): void {
    fs.closeSync(this.fd);
  }
}

/** What reading one file gave. */
export interface Outcome {
  readonly ok: boolean;
  /** The MmstatsError code, or 'ok', or the foreign exception's text. */
  readonly result: string;
  /** CPU time the case took (user + system), in ms. */
  readonly ms: number;
}

/** Cases that take more CPU time than this count as a hang (CPU, not wall time: the machine may be busy). */
export const SLOW_MS = 2000;

/** Open, read twice and close `file`; only success or an MmstatsError passes. */
export function readCase(file: string): Outcome {
  const t0 = process.cpuUsage();
  let result = 'ok';
  let ok = true;
  try {
    const r = StatsReader.open(file);
    try {
      const snap = r.read();
      for (const f of snap.fields) JSON.stringify(f, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
      r.read();
    } finally {
      r.close();
    }
  } catch (err) {
    if (err instanceof MmstatsError) result = err.code;
    else {
      ok = false;
      result = `${(err as Error)?.name}: ${(err as Error)?.message ?? String(err)}`;
    }
  }
  const cpu = process.cpuUsage(t0);
  const ms = (cpu.user + cpu.system) / 1000;
  if (ms > SLOW_MS) {
    ok = false;
    result = `took ${ms.toFixed(0)} ms of CPU time`;
  }
  return { ok, result, ms };
}

/** Where failing cases are kept. */
export const FIXTURE_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'test', 'fixtures', 'fuzz');

/** Save a failing case as a fixture (named by its content hash); returns its path. */
export function saveFixture(dir: string, f: FuzzFile, why: string): string {
  fs.mkdirSync(dir, { recursive: true });
  const hash = createHash('sha256').update(f.bytes).update(String(f.size)).digest('hex').slice(0, 16);
  const file = path.join(dir, `${hash}.mmstats`);
  fs.writeFileSync(file, f.bytes);
  // A sparse size cannot live in git: record it beside the bytes.
  fs.writeFileSync(`${file}.json`, JSON.stringify({ size: f.size, origin: f.origin, found: why }, null, 2) + '\n');
  return file;
}

function scratchDir(prefix: string): string {
  const base = fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir();
  const dir = fs.mkdtempSync(path.join(base, prefix));
  fs.chmodSync(dir, 0o700);
  return dir;
}

interface ChunkReport {
  runs: number;
  failures: { file: string; result: string }[];
  codes: Record<string, number>;
  maxMs: number;
  maxRssMb: number;
}

/** Run `runs` cases in this process (a child of the fuzz driver). */
async function runChunk(runs: number, seed: number, saveDir: string, keepDir: string | undefined, keepEvery: number): Promise<ChunkReport> {
  const work = scratchDir('mmstats-fuzz-');
  try {
    const seeds = await makeSeeds(work);
    const current = new CaseFile(path.join(work, 'case.mmstats'));
    // The case being read is also left where the driver finds it if this process dies on it.
    const last = process.env.FUZZ_LAST ? new CaseFile(process.env.FUZZ_LAST) : undefined;
    const sizeHeader = new Float64Array(1);
    const report: ChunkReport = { runs: 0, failures: [], codes: {}, maxMs: 0, maxRssMb: 0 };
    let n = 0;
    fc.assert(
      fc.property(fuzzFileArb(seeds), (f) => {
        n++;
        current.write(f.bytes, f.size);
        sizeHeader[0] = f.size;
        last?.write(f.bytes, 0, new Uint8Array(sizeHeader.buffer));
        const o = readCase(current.path);
        report.runs++;
        report.codes[o.result.startsWith('ERR_') || o.result === 'ok' ? o.result : 'FAILURE'] =
          (report.codes[o.result.startsWith('ERR_') || o.result === 'ok' ? o.result : 'FAILURE'] ?? 0) + 1;
        report.maxMs = Math.max(report.maxMs, o.ms);
        if (!o.ok) report.failures.push({ file: saveFixture(saveDir, f, o.result), result: o.result });
        if (keepDir && n % keepEvery === 0 && f.size === f.bytes.length)
          fs.copyFileSync(current.path, path.join(keepDir, `fuzz-${seed}-${n}.mmstats`));
        return true;
      }),
      { numRuns: runs, seed },
    );
    report.maxRssMb = process.resourceUsage().maxRSS / 1024;
    current.close();
    last?.close();
    return report;
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

/** Run a child process on one chunk; if it dies, keep the case it was reading. */
/** Set on SIGINT/SIGTERM: running chunks are stopped, and the summary of the finished ones printed. */
let stopping = false;
const running = new Set<ReturnType<typeof spawn>>();

function runChild(runs: number, seed: number, saveDir: string, keepDir: string | undefined, keepEvery: number): Promise<ChunkReport> {
  const last = path.join(scratchDir('mmstats-fuzz-last-'), 'last.bin');
  const args = [fileURLToPath(import.meta.url), '--child', String(runs), String(seed), saveDir, keepDir ?? '', String(keepEvery)];
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { env: { ...process.env, FUZZ_LAST: last }, stdio: ['ignore', 'pipe', 'inherit'] });
    running.add(child);
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    // A case that hangs leaves the last-case file untouched: kill the child and keep the case.
    const watchdog = setInterval(() => {
      try {
        if (Date.now() - fs.statSync(last).mtimeMs > 30_000) child.kill('SIGKILL');
      } catch {
        // Not written yet: the child is still making its seeds.
      }
    }, 5000);
    child.on('exit', (code, signal) => {
      clearInterval(watchdog);
      running.delete(child);
      try {
        if (code === 0) resolve(JSON.parse(out) as ChunkReport);
        else if (stopping) resolve({ runs: 0, failures: [], codes: {}, maxMs: 0, maxRssMb: 0 });
        else {
          // The child crashed, hung or ran out of memory on the last case it wrote.
          const raw = fs.readFileSync(last);
          const f: FuzzFile = { bytes: new Uint8Array(raw.subarray(8)), size: raw.readDoubleLE(0), origin: `chunk seed ${seed}` };
          const why = `reader process died (${signal ?? `exit ${code}`})`;
          resolve({ runs: 0, failures: [{ file: saveFixture(saveDir, f, why), result: why }], codes: {}, maxMs: 0, maxRssMb: 0 });
        }
      } finally {
        fs.rmSync(path.dirname(last), { recursive: true, force: true });
      }
    });
  });
}

async function main(argv: string[]): Promise<void> {
  if (argv[0] === '--child') {
    const [runs, seed, saveDir, keepDir, keepEvery] = argv.slice(1);
    const r = await runChunk(Number(runs), Number(seed), saveDir!, keepDir || undefined, Number(keepEvery));
    process.stdout.write(JSON.stringify(r));
    return;
  }
  let runs = 1_000_000;
  let seed = Date.now() % 1_000_000;
  let chunk = 50_000;
  let jobs = 1;
  let saveDir = FIXTURE_DIR;
  let keepDir: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const v = argv[++i];
    if (v === undefined) throw new Error(`${a} needs a value`);
    if (a === '--runs') runs = Number(v);
    else if (a === '--seed') seed = Number(v);
    else if (a === '--chunk') chunk = Number(v);
    else if (a === '--jobs') jobs = Number(v);
    else if (a === '--save') saveDir = path.resolve(v);
    else if (a === '--keep') keepDir = path.resolve(v);
    else throw new Error(`unknown argument ${a} (use --runs, --seed, --chunk, --jobs, --save, --keep)`);
  }
  for (const [name, n] of [
    ['--runs', runs],
    ['--chunk', chunk],
    ['--jobs', jobs],
  ] as const) {
    if (!Number.isInteger(n) || n <= 0) throw new Error(`${name} needs a positive integer`);
  }
  if (keepDir) fs.mkdirSync(keepDir, { recursive: true });
  const t0 = performance.now();
  const total: ChunkReport = { runs: 0, failures: [], codes: {}, maxMs: 0, maxRssMb: 0 };
  const chunks: { runs: number; seed: number }[] = [];
  for (let done = 0, i = 0; done < runs; done += chunk, i++) chunks.push({ runs: Math.min(chunk, runs - done), seed: seed + i });
  const keepEvery = Math.max(1, Math.floor(runs / 2000));
  let next = 0;
  const stop = (): void => {
    stopping = true;
    for (const c of running) c.kill('SIGTERM');
  };
  process.once('SIGINT', stop).once('SIGTERM', stop);
  const worker = async (): Promise<void> => {
    while (next < chunks.length && !stopping) {
      const c = chunks[next++]!;
      const r = await runChild(c.runs, c.seed, saveDir, keepDir, keepEvery);
      total.runs += r.runs;
      total.failures.push(...r.failures);
      for (const [k, v] of Object.entries(r.codes)) total.codes[k] = (total.codes[k] ?? 0) + v;
      total.maxMs = Math.max(total.maxMs, r.maxMs);
      total.maxRssMb = Math.max(total.maxRssMb, r.maxRssMb);
      process.stderr.write(`\r${total.runs.toLocaleString('en-US')} cases, ${total.failures.length} failures`);
    }
  };
  await Promise.all(Array.from({ length: jobs }, worker));
  const seconds = (performance.now() - t0) / 1000;
  process.stderr.write('\n');
  console.log(
    `fuzz${stopping ? ' (interrupted: finished chunks only)' : ''}: ${total.runs.toLocaleString('en-US')} cases in ${seconds.toFixed(0)} s (${Math.round(total.runs / seconds)}/s), seeds ${seed}..${seed + chunks.length - 1}`,
  );
  console.log(`  outcomes: ${JSON.stringify(total.codes)}`);
  console.log(`  slowest case ${total.maxMs.toFixed(1)} ms of CPU time; peak RSS of a fuzzing process ${total.maxRssMb.toFixed(0)} MB`);
  console.log(`  failures: ${total.failures.length}`);
  for (const f of total.failures) console.log(`    ${f.file}: ${f.result}`);
  if (keepDir) {
    const r = readAll([keepDir]);
    console.log(`  readAll over ${keepDir}: ${r.snapshots.length} read, ${r.errors.length} typed errors`);
  }
  if (total.failures.length > 0) process.exitCode = 1;
}

if (process.argv[1] && pathToFileURL(path.resolve(process.argv[1])).href === import.meta.url) {
  await main(process.argv.slice(2)).catch((err: unknown) => {
    console.error(`fuzz: ${(err as Error).message}`);
    process.exitCode = 2;
  });
}
