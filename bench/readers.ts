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
import { MetricsRenderer } from '../src/tools/server/prometheus.js';
import { StatsStore } from '../src/tools/server/store.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const entry = pathToFileURL(path.join(here, '..', 'src', 'index.js')).href;
const cli = path.join(here, '..', 'src', 'tools', 'cli.js');

/**
 * A fresh private directory for a bench's files, where writers put theirs by
 * default: /dev/shm (tmpfs) when there is one, else the temporary directory. On a
 * disk file system creating a file costs a journal write, which is not what a
 * program opening its stats file in the default place pays.
 */
export function benchDir(prefix: string): string {
  const base = fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir();
  const dir = fs.mkdtempSync(path.join(base, prefix));
  fs.chmodSync(dir, 0o700);
  return dir;
}

/** A child process of writers: `stop` ends it; `openMs` is the mean time it took to open one stats file. */
export interface WriterChild {
  readonly stop: () => Promise<void>;
  readonly openMs: number;
}

/**
 * Start a child that writes `files` stats files of `fields` fields each into `dir`;
 * resolves when they exist, with the mean time the child took per `openStats`
 * (create, lock, allocate, map, header; the fields are added after and not timed).
 */
export async function startWriters(dir: string, files: number, fields: number): Promise<WriterChild> {
  const body = `
    import { openStats, field } from ${JSON.stringify(entry)};
    const all = [];
    let openMs = 0;
    for (let f = 0; f < ${files}; f++) {
      const t0 = performance.now();
      const s = openStats({ name: 'w' + f, path: ${JSON.stringify(dir)}, filename: 'bench-' + f + '.mmstats', defaultFields: false });
      openMs += performance.now() - t0;
      const cs = [];
      for (let i = 0; i < ${fields}; i++) cs.push(s.add('app.metric.' + i, i % 4 === 0 ? field.gauge() : field.counter()));
      all.push(cs);
    }
    let n = 0;
    setInterval(() => { n++; for (const cs of all) for (const c of cs) c.incr ? c.incr() : c.set(n); }, 100);
    process.stdout.write('ready ' + (openMs / ${files}) + '\\n');
    process.stdin.on('end', () => process.exit(0));
    process.stdin.resume();
  `;
  const child = await startWriterChild(body);
  return { stop: child.stop, openMs: Number(child.ready.split(' ')[1]) };
}

/**
 * Run `body` (an ES module that prints a line starting with `ready` once its files
 * are written, and exits when its stdin closes) in a child process; resolves with
 * that line and a function that ends the child.
 */
export async function startWriterChild(body: string): Promise<{ stop: () => Promise<void>; ready: string }> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', body], { stdio: ['pipe', 'pipe', 'inherit'] });
  const ready = await new Promise<string>((resolve, reject) => {
    readline.createInterface({ input: child.stdout }).on('line', (line) => line.startsWith('ready') && resolve(line));
    child.on('exit', (code) => reject(new Error(`writer child exited with ${code}`)));
  });
  const stop = () =>
    new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.stdin.end();
    });
  return { stop, ready };
}

function median(xs: number[]): number {
  xs.sort((a, b) => a - b);
  return xs[Math.floor(xs.length / 2)]!;
}

/** CPU time (user and system, every thread of this process) of `fn`, in ms. */
function cpuMs(fn: () => void): number {
  const c0 = process.cpuUsage();
  fn();
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1000;
}

/**
 * Time (ms, median of `rounds`) to snapshot every file in `dir` with the library,
 * and the CPU time it took (median): on a busy machine the wall time counts the
 * time other programs had the CPU, the CPU time does not.
 */
export function timeLibrarySnapshot(dir: string, rounds: number): { ms: number; cpuMs: number; files: number; fields: number } {
  let files = 0;
  let fields = 0;
  const times: number[] = [];
  const cpu: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    cpu.push(
      cpuMs(() => {
        const res = readAll([dir]);
        files = res.snapshots.length;
        fields = res.snapshots.reduce((a, s) => a + s.fields.length, 0);
      }),
    );
    times.push(performance.now() - t0);
  }
  return { ms: median(times), cpuMs: median(cpu), files, fields };
}

/**
 * CPU time (ms, median of `rounds`) of what `mmstats serve` does for a warm scrape,
 * here in this process: a read of every file through the readers it keeps open and
 * the rendering by the plan it keeps (no HTTP). The load-independent part of
 * `/metrics` warm.
 */
export function cpuOfWarmScrape(dir: string, rounds: number): number {
  const store = new StatsStore({ paths: [dir], cacheMs: 0, maxTotalBytes: 1 << 30 });
  const renderer = new MetricsRenderer();
  try {
    for (let r = 0; r < 3; r++) renderer.render(store.read());
    const cpu: number[] = [];
    for (let r = 0; r < rounds; r++) cpu.push(cpuMs(() => renderer.render(store.read())));
    return median(cpu);
  } finally {
    store.close();
  }
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
 * process: its start-up (until it prints its URL, having opened and read every
 * file and planned the exposition), the first scrape, and the median of the next
 * `rounds`, each past the server's 100 ms shared-read window.
 */
export async function timeServeMetrics(
  dir: string,
  rounds: number,
): Promise<{ startMs: number; firstMs: number; ms: number; bytes: number } | undefined> {
  if (!fs.existsSync(cli)) return undefined;
  const t0 = performance.now();
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
    const startMs = performance.now() - t0;
    const scrape = async (): Promise<{ ms: number; bytes: number }> => {
      const t0 = performance.now();
      const body = await (await fetch(`${url}metrics`)).text();
      return { ms: performance.now() - t0, bytes: body.length };
    };
    // The client's own first request loads and compiles its HTTP stack: made on a route
    // that reads no file (a 404), so the first scrape times the server, not the client.
    await (await fetch(`${url}bench-client-warm-up`)).arrayBuffer();
    const first = await scrape();
    const times: number[] = [];
    for (let r = 0; r < rounds; r++) {
      await new Promise((res) => setTimeout(res, 150));
      times.push((await scrape()).ms);
    }
    return { startMs, firstMs: first.ms, ms: median(times), bytes: first.bytes };
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
  const dir = benchDir('mmstats-bench-open-');
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
