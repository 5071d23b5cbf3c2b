/**
 * `/metrics` over labelled families: W writers (files) × F families × L label sets,
 * rendered as `mmstats serve` renders it (a StatsStore and a MetricsRenderer that
 * keeps its plan) and, for the same series, by prom-client's registry. Reports the
 * time of a scrape and the bytes per series of each.
 *
 * The writers run in a child process (one process opening W models, one file each),
 * as they would in production; the exposition runs here.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import client from 'prom-client';
import { MetricsRenderer } from '../src/tools/server/prometheus.js';
import { StatsStore } from '../src/tools/server/store.js';
import { benchDir, startWriterChild } from './readers.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const entry = pathToFileURL(path.join(here, '..', 'src', 'index.js')).href;

const METHODS = ['GET', 'POST'];
const STATUSES = ['200', '201', '400', '404', '500'];

/** One row of the table: what was rendered, how long a scrape took, and its size. */
export interface FamiliesScrapeResult {
  readonly writers: number;
  readonly series: number;
  /** mmstats: the first scrape (plan made), then the median of the next ones (plan kept). */
  readonly mmstatsFirstMs: number;
  readonly mmstatsMs: number;
  readonly mmstatsBytesPerSeries: number;
  readonly promClientMs: number;
  readonly promClientBytesPerSeries: number;
}

function median(xs: number[]): number {
  xs.sort((a, b) => a - b);
  return xs[Math.floor(xs.length / 2)]!;
}

/** Sample lines of an exposition (series), not comments. */
function seriesIn(text: string): number {
  let n = 0;
  for (const line of text.split('\n')) if (line !== '' && !line.startsWith('#')) n++;
  return n;
}

/** Start a child that opens `writers` models with `families` labelled families of 10 label sets each; resolves when written. */
async function startFamilyWriters(dir: string, writers: number, families: number): Promise<() => Promise<void>> {
  const body = `
    import { openStats, field } from ${JSON.stringify(entry)};
    const methods = ${JSON.stringify(METHODS)}, statuses = ${JSON.stringify(STATUSES)};
    for (let w = 0; w < ${writers}; w++) {
      const s = openStats({ name: 'W' + w, path: ${JSON.stringify(dir)}, defaultFields: false });
      for (let f = 0; f < ${families}; f++) {
        const spec = { help: 'family ' + f, labels: ['method', 'status'] };
        const fam = s.add('app.family_' + f, f % 2 === 0 ? field.counter(spec) : field.gauge(spec));
        let k = 0;
        for (const m of methods) for (const st of statuses) { const c = fam.with(m, st); if (c.incr) c.incr(++k); else c.set(++k); }
      }
    }
    process.stdout.write('ready\\n');
    process.stdin.on('end', () => process.exit(0));
    process.stdin.resume();
  `;
  return (await startWriterChild(body)).stop;
}

/** The same series in prom-client: one registry, the writer's labels as labels. */
async function promClientScrape(writers: number, families: number, rounds: number): Promise<{ ms: number; bytes: number; series: number }> {
  const registry = new client.Registry();
  for (let f = 0; f < families; f++) {
    const config = {
      name: `app_family_${f}`,
      help: `family ${f}`,
      labelNames: ['cmd', 'model', 'method', 'status'],
      registers: [registry],
    };
    const metric = f % 2 === 0 ? new client.Counter(config) : new client.Gauge(config);
    for (let w = 0; w < writers; w++) {
      let k = 0;
      for (const method of METHODS) {
        for (const status of STATUSES) {
          const labels = { cmd: 'bench', model: `W${w}`, method, status };
          if (metric instanceof client.Counter) metric.inc(labels, ++k);
          else metric.set(labels, ++k);
        }
      }
    }
  }
  let text = '';
  const times: number[] = [];
  for (let r = 0; r < rounds + 1; r++) {
    const t0 = performance.now();
    text = await registry.metrics();
    if (r > 0) times.push(performance.now() - t0);
  }
  return { ms: median(times), bytes: Buffer.byteLength(text), series: seriesIn(text) };
}

/** Measure `/metrics` over `writers` × `families` × 10 label sets, mmstats against prom-client. */
export async function familiesScrape(writers: number, families: number, rounds: number): Promise<FamiliesScrapeResult> {
  const dir = benchDir('mmstats-bench-families-');
  const stop = await startFamilyWriters(dir, writers, families);
  try {
    // Every file read whole (a server over this many writers needs --max-total-bytes raised too).
    const store = new StatsStore({ paths: [dir], cacheMs: 0, rescanMs: 60_000, maxOpen: writers + 16, maxTotalBytes: writers << 20 });
    const renderer = new MetricsRenderer();
    try {
      let t0 = performance.now();
      const body = renderer.render(store.read());
      const firstMs = performance.now() - t0;
      const times: number[] = [];
      for (let r = 0; r < rounds; r++) {
        t0 = performance.now();
        renderer.render(store.read());
        times.push(performance.now() - t0);
      }
      const series = seriesIn(body.toString('utf8'));
      const prom = await promClientScrape(writers, families, rounds);
      return {
        writers,
        series,
        mmstatsFirstMs: firstMs,
        mmstatsMs: median(times),
        mmstatsBytesPerSeries: body.length / series,
        promClientMs: prom.ms,
        promClientBytesPerSeries: prom.bytes / prom.series,
      };
    } finally {
      store.close();
    }
  } finally {
    await stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
