/**
 * Reader-side benchmarks: snapshot many files, open a model, bytes per field.
 * The writers run in a child process, as they would in production.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import readline from 'node:readline';
import { StatsReader, defineModel, field, findFiles, readAll, type Schema } from '../src/index.js';
import { Header } from '../src/format/v2.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const entry = pathToFileURL(path.join(here, '..', 'src', 'index.js')).href;
const cli = path.join(here, '..', 'src', 'tools', 'cli.js');

/** Start a child that writes `files` stats files of `fields` fields each into `dir`; resolves when they exist. */
export async function startWriters(dir: string, files: number, fields: number): Promise<() => Promise<void>> {
  const body = `
    import { openStats, field } from ${JSON.stringify(entry)};
    const all = [];
    for (let f = 0; f < ${files}; f++) {
      const s = openStats({ name: 'w' + f, path: ${JSON.stringify(dir)}, filename: 'bench-' + f + '.mmstats', defaultFields: false });
      const cs = [];
      for (let i = 0; i < ${fields}; i++) cs.push(s.add('app.metric.' + i, i % 4 === 0 ? field.gauge() : field.counter()));
      all.push(cs);
    }
    let n = 0;
    setInterval(() => { n++; for (const cs of all) for (const c of cs) c.incr ? c.incr() : c.set(n); }, 100);
    process.stdout.write('ready\\n');
    process.stdin.on('end', () => process.exit(0));
    process.stdin.resume();
  `;
  return startWriterChild(body);
}

/**
 * Run `body` (an ES module that prints `ready` once its files are written and exits
 * when its stdin closes) in a child process; resolves with a function that ends it.
 */
export async function startWriterChild(body: string): Promise<() => Promise<void>> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', body], { stdio: ['pipe', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
    child.on('exit', (code) => reject(new Error(`writer child exited with ${code}`)));
  });
  return () =>
    new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.stdin.end();
    });
}

function median(xs: number[]): number {
  xs.sort((a, b) => a - b);
  return xs[Math.floor(xs.length / 2)]!;
}

/** Time (ms, median of `rounds`) to snapshot every file in `dir` with the library. */
export function timeLibrarySnapshot(dir: string, rounds: number): { ms: number; files: number; fields: number } {
  let files = 0;
  let fields = 0;
  const times: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    const res = readAll([dir]);
    times.push(performance.now() - t0);
    files = res.snapshots.length;
    fields = res.snapshots.reduce((a, s) => a + s.fields.length, 0);
  }
  return { ms: median(times), files, fields };
}

/**
 * Time (ms, median of `rounds`) to re-read every file through readers kept open,
 * as `mmstats serve` and `mmstats top` do: no open, map or layout parse per read.
 */
export function timeOpenReaders(dir: string, rounds: number): number {
  const readers = findFiles([dir]).map((f) => StatsReader.open(f));
  const times: number[] = [];
  try {
    for (let r = 0; r < rounds + 1; r++) {
      const t0 = performance.now();
      for (const reader of readers) reader.read();
      if (r > 0) times.push(performance.now() - t0); // the first pass warms the code up
    }
  } finally {
    for (const reader of readers) reader.close();
  }
  return median(times);
}

/**
 * Time (ms) of `GET /metrics` from a `mmstats serve` over `dir`, in another
 * process: the first scrape (every file opened and parsed) and the median of the
 * next `rounds` (readers kept open), each past the server's 100 ms shared-read window.
 */
export async function timeServeMetrics(dir: string, rounds: number): Promise<{ firstMs: number; ms: number; bytes: number } | undefined> {
  if (!fs.existsSync(cli)) return undefined;
  const child = spawn(process.execPath, [cli, 'serve', '--port', '0', '--path', dir], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const url = await new Promise<string>((resolve, reject) => {
      readline.createInterface({ input: child.stdout }).once('line', (line) => {
        const m = /https?:\/\/\S+/.exec(line);
        if (m) resolve(m[0]);
        else reject(new Error(`serve printed ${line}`));
      });
      child.once('exit', (code) => reject(new Error(`serve exited with ${code}`)));
    });
    const scrape = async (): Promise<{ ms: number; bytes: number }> => {
      const t0 = performance.now();
      const body = await (await fetch(`${url}metrics`)).text();
      return { ms: performance.now() - t0, bytes: body.length };
    };
    const first = await scrape();
    const times: number[] = [];
    for (let r = 0; r < rounds; r++) {
      await new Promise((res) => setTimeout(res, 150));
      times.push((await scrape()).ms);
    }
    return { firstMs: first.ms, ms: median(times), bytes: first.bytes };
  } finally {
    child.kill('SIGTERM');
  }
}

/** Time (ms, median) of `mmstats slurp --json DIR` as a whole command, if the CLI is built. */
export function timeSlurpJson(dir: string, rounds: number): number | undefined {
  if (!fs.existsSync(cli)) return undefined;
  const times: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    const res = spawnSync(process.execPath, [cli, 'slurp', '--json', dir], { maxBuffer: 1 << 30 });
    times.push(performance.now() - t0);
    if (res.status !== 0 && res.status !== 1) return undefined;
  }
  return median(times);
}

/** Time to open (create, map, publish) a model of `n` fields, ms, median of `rounds`. */
export function timeModelOpen(n: number, rounds: number): { ms: number; bytesPerField: number } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mmstats-bench-open-'));
  fs.chmodSync(dir, 0o700);
  const schema: Schema = {};
  for (let i = 0; i < n; i++) schema[`f${i}`] = i % 2 ? field.counter() : field.gauge();
  const Model = defineModel('Open100', schema);
  const times: number[] = [];
  let bytesPerField = 0;
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    const s = Model.open({ path: dir, filename: `open-${r}.mmstats`, defaultFields: false });
    times.push(performance.now() - t0);
    const used = new DataView(fs.readFileSync(s.path).buffer).getUint32(Header.USED_SIZE, true);
    bytesPerField = (used - 128) / n;
    s.remove();
  }
  fs.rmSync(dir, { recursive: true, force: true });
  return { ms: median(times), bytesPerField };
}
