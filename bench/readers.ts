/**
 * Reader-side benchmarks: snapshot many files, open a model, bytes per field.
 * The writers run in a child process, as they would in production.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { defineModel, field, readAll, type Schema } from '../src/index.js';
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
