/**
 * The cost of being watched, on two cores: an instrumented HTTP service pinned to
 * CPU 0 (`taskset`) at a fixed request rate of about 40 % of that core, sent by a
 * load generator pinned to CPU 1; a scraper pinned to CPU 1 gets `/metrics` 10
 * times a second. prom-client renders its own `/metrics` in the service; the
 * service written with `mmstats/prom-client` (the same code, its import changed)
 * and with the native API is read by `mmstats serve`, pinned to CPU 1 too. For
 * each variant and number of series, unscraped against scraped: the service's
 * event-loop delay p99 and max, and its CPU time per request.
 *
 * The figures need a core to spare: on a loaded machine the other processes take
 * CPU 0 from the service and CPU 1 from the reader, and the results mean nothing.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { table } from './harness.js';
import type { ClientReport } from './scrape-client.js';
import { VARIANTS, type ServiceReport, type Variant } from './scrape-service.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const cli = path.join(here, '..', 'src', 'tools', 'cli.js');

/** The service's core, and the core of everything else (load, scraper, `mmstats serve`). */
const SERVICE_CPU = 0;
const OTHERS_CPU = 1;
/** Scrapes a second. */
const SCRAPE_HZ = 10;
/** The share of CPU 0 the calibrated request rate aims at. */
const TARGET_LOAD = 0.4;

/** Whether `taskset` can pin to CPUs 0 and 1 here (util-linux, two CPUs in this process's set). */
export function canPin(): boolean {
  const ok = (cpu: number) => spawnSync('taskset', ['-c', String(cpu), 'true']).status === 0;
  return ok(SERVICE_CPU) && ok(OTHERS_CPU);
}

/** Start a Node.js script, pinned to `cpu` when `pin`, with an IPC channel (taskset execs node, which keeps it). */
function startNode(pin: boolean, cpu: number, args: readonly string[], env?: NodeJS.ProcessEnv, stdout: 'pipe' | 'inherit' = 'inherit') {
  const command = pin ? ['taskset', '-c', String(cpu), process.execPath] : [process.execPath];
  return spawn(command[0]!, [...command.slice(1), ...args], { stdio: ['ignore', stdout, 'inherit', 'ipc'], env: env ?? process.env });
}

/** The next message of `child`, or an error if it exits or stays silent for `ms`. */
function message<T>(child: ChildProcess, what: string, ms = 60_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error(`${what}: no answer in ${ms} ms`)), ms);
    const onExit = (code: number | null) => fail(new Error(`${what} exited with ${code}`));
    const fail = (e: Error) => {
      clearTimeout(timer);
      child.off('exit', onExit);
      reject(e);
    };
    child.once('exit', onExit);
    child.once('message', (m) => {
      clearTimeout(timer);
      child.off('exit', onExit);
      resolve(m as T);
    });
  });
}

/** The URL `mmstats serve` prints once it listens. */
function serveUrl(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /http:\/\/[\d.]+:\d+/.exec(out);
      if (m) resolve(m[0]);
    });
    child.on('exit', (code) => reject(new Error(`mmstats serve exited with ${code}: ${out}`)));
  });
}

/** CPU time (user + system) a process has used, in ms, from /proc (Linux; NaN elsewhere). */
function cpuMs(pid: number): number {
  try {
    // Fields after the command (which is in parentheses): utime and stime are the 12th and 13th, in clock ticks (100/s).
    const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(f[11]) + Number(f[12])) * 10;
  } catch {
    return NaN;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One run's figures. */
export interface HeadlineRun {
  readonly requestsPerSecond: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  /** The service's CPU time per request served, in µs, and its share of its core. */
  readonly cpuUsPerRequest: number;
  readonly serviceLoad: number;
  readonly scrapes: number;
  readonly scrapeErrors: number;
  readonly scrapeMs: number;
  readonly seriesScraped: number;
  readonly bytesPerScrape: number;
  /** `mmstats serve`'s CPU per scrape in ms (its own process, on CPU 1). */
  readonly readerCpuMsPerScrape: number;
}

/** What one run does. */
export interface HeadlineConfig {
  readonly variant: Variant;
  readonly series: number;
  readonly scraped: boolean;
  readonly rate: number;
  readonly warmupMs: number;
  readonly windowMs: number;
  readonly pin: boolean;
}

/**
 * One run: start the service, `mmstats serve` when it is scraped that way, the
 * load and the scraper; warm up (the scraper already scraping), then measure for
 * `windowMs`.
 */
export async function headlineRun(c: HeadlineConfig): Promise<HeadlineRun> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mmstats-scrape-'));
  fs.chmodSync(dir, 0o700);
  const children: ChildProcess[] = [];
  const start = (cpu: number, args: readonly string[], env?: NodeJS.ProcessEnv, stdout: 'pipe' | 'inherit' = 'inherit') => {
    const child = startNode(c.pin, cpu, args, env, stdout);
    children.push(child);
    return child;
  };
  try {
    const service = start(SERVICE_CPU, [path.join(here, 'scrape-service.js'), c.variant, String(c.series)], {
      ...process.env,
      MMSTATS_PATH: dir,
    });
    const { port } = await message<{ port: number }>(service, 'the service');
    let serve: ChildProcess | undefined;
    let metricsUrl: string | undefined;
    if (c.scraped && c.variant === 'prom-client') metricsUrl = `http://127.0.0.1:${port}/metrics`;
    else if (c.scraped) {
      serve = start(OTHERS_CPU, [cli, 'serve', '--host', '127.0.0.1', '--port', '0', '--path', dir], undefined, 'pipe');
      metricsUrl = `${await serveUrl(serve)}/metrics`;
    }
    const client = path.join(here, 'scrape-client.js');
    const loader = start(OTHERS_CPU, [client, 'load', String(port), String(c.rate)]);
    const scraper = metricsUrl ? start(OTHERS_CPU, [client, 'scrape', metricsUrl, String(SCRAPE_HZ)]) : undefined;
    await Promise.all([message(loader, 'the load'), scraper && message(scraper, 'the scraper')]);
    await sleep(c.warmupMs);

    for (const child of [service, loader, scraper]) child?.send('start');
    const readerCpuBefore = serve ? cpuMs(serve.pid!) : NaN;
    await sleep(c.windowMs);
    const serviceReport = message<ServiceReport>(service, 'the service');
    service.send('stop');
    const s = await serviceReport;
    const readerCpu = serve ? cpuMs(serve.pid!) - readerCpuBefore : NaN;
    const scraperReport = scraper ? message<ClientReport>(scraper, 'the scraper') : undefined;
    scraper?.send('stop');
    const scrapes = await scraperReport;
    return {
      requestsPerSecond: Math.round(s.requests / (s.windowMs / 1000)),
      p99Ms: s.p99Ms,
      maxMs: s.maxMs,
      cpuUsPerRequest: (s.cpuMs * 1000) / Math.max(1, s.requests),
      serviceLoad: s.cpuMs / s.windowMs,
      scrapes: scrapes?.done ?? 0,
      scrapeErrors: scrapes?.errors ?? 0,
      scrapeMs: scrapes?.medianMs ?? NaN,
      seriesScraped: scrapes?.series ?? NaN,
      bytesPerScrape: scrapes?.bytes ?? NaN,
      readerCpuMsPerScrape: scrapes && scrapes.done > 0 ? readerCpu / scrapes.done : NaN,
    };
  } finally {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill();
    await Promise.all(
      children.map((child) => (child.exitCode === null && child.signalCode === null ? new Promise((r) => child.once('exit', r)) : 0)),
    );
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Options of the whole experiment. */
export interface HeadlineOptions {
  readonly smoke: boolean;
  /** Numbers of series (default 1,000 and 10,000; smoke 1,000). */
  readonly series?: readonly number[];
  /** A fixed request rate; default: calibrated to about 40 % of CPU 0 (smoke: 200/s). */
  readonly rate?: number;
  readonly variants?: readonly Variant[];
}

const NAMES: Record<Variant, string> = {
  'prom-client': 'prom-client 15, its own /metrics',
  'drop-in': 'mmstats/prom-client, mmstats serve',
  mmstats: 'mmstats native API, mmstats serve',
};

function median(xs: readonly number[]): number {
  const s = xs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

/**
 * The request rate that keeps the service (prom-client, 1,000 series, unscraped)
 * about 40 % busy: its share of the core at a probe rate scales the rate, twice
 * (the second probe at the first answer, since part of the service's CPU, such as
 * the event-loop monitor's wake-ups, does not grow with the rate).
 */
async function calibrate(pin: boolean): Promise<{ rate: number; probes: { rate: number; load: number }[] }> {
  const probes: { rate: number; load: number }[] = [];
  let rate = 1000;
  for (let k = 0; k < 2; k++) {
    const probe = await headlineRun({ variant: 'prom-client', series: 1000, scraped: false, rate, warmupMs: 1000, windowMs: 2000, pin });
    probes.push({ rate, load: probe.serviceLoad });
    rate = Math.max(50, Math.round((rate * TARGET_LOAD) / probe.serviceLoad / 50) * 50);
  }
  return { rate, probes };
}

/** Run the experiment and print its table: every variant × series × unscraped/scraped, `repeats` times interleaved; medians. */
export async function scrapeHeadline(o: HeadlineOptions): Promise<unknown> {
  const pin = canPin();
  // Printed as they come: a full run takes minutes.
  const lines = { push: (line: string) => console.log(line) };
  // The 1-minute load average, and a warning where other work was running: above 1.5 on two cores, it takes
  // CPU 0 or CPU 1 for a good part of the time.
  const load = () => {
    const l = os.loadavg()[0]!;
    return l.toFixed(2) + (l > 1.5 && !o.smoke ? ' -- WARNING: the machine is busy; these figures mean nothing' : '');
  };
  lines.push(
    `\nThe cost of being watched: service on CPU ${SERVICE_CPU}; load, ${SCRAPE_HZ} Hz scraper and mmstats serve on CPU ${OTHERS_CPU}` +
      (pin ? ' (taskset)' : ' -- NOT PINNED (no taskset or fewer than 2 CPUs): figures mean nothing'),
  );
  lines.push(`load average at start: ${load()} (the figures need an otherwise idle machine, a core to spare for the reader)`);
  let rate = o.rate ?? (o.smoke ? 200 : undefined);
  if (rate === undefined) {
    const c = await calibrate(pin);
    rate = c.rate;
    const probes = c.probes.map((p) => `${(p.load * 100).toFixed(0)} % at ${p.rate}/s`).join(', ');
    lines.push(
      `rate: ${rate} requests/s, calibrated to ${(TARGET_LOAD * 100).toFixed(0)} % of CPU 0: the unscraped prom-client service (1,000 series) used ${probes}`,
    );
  } else lines.push(`rate: ${rate} requests/s, fixed`);

  const seriesList = o.series ?? (o.smoke ? [1000] : [1000, 10_000]);
  const variants = o.variants ?? VARIANTS;
  const repeats = o.smoke ? 1 : 3;
  const timing = o.smoke ? { warmupMs: 300, windowMs: 400 } : { warmupMs: 1000, windowMs: 5000 };
  const configs = seriesList.flatMap((series) =>
    variants.flatMap((variant) => [false, true].map((scraped) => ({ variant, series, scraped }))),
  );
  const runs = configs.map(() => [] as HeadlineRun[]);
  for (let k = 0; k < repeats; k++)
    for (const [i, c] of configs.entries()) {
      try {
        runs[i]!.push(await headlineRun({ ...c, rate, ...timing, pin }));
      } catch (err) {
        lines.push(`scrape run failed: ${NAMES[c.variant]}, ${c.series} series${c.scraped ? ', scraped' : ''}: ${(err as Error).message}`);
      }
    }

  const rows = [
    [
      'service instrumented with',
      'series',
      'scraped 10/s',
      'requests/s',
      'service CPU %',
      'event-loop p99 ms',
      'event-loop max ms',
      'service CPU µs/request',
      'scrapes',
      'series scraped',
      'scrape ms',
      'reader CPU ms/scrape',
      'runs',
    ],
  ];
  const results = configs.map((c, i) => {
    const r = runs[i]!;
    const m = (f: (x: HeadlineRun) => number) => median(r.map(f));
    const row = {
      ...c,
      name: NAMES[c.variant],
      requestsPerSecond: m((x) => x.requestsPerSecond),
      serviceLoad: m((x) => x.serviceLoad),
      p99Ms: m((x) => x.p99Ms),
      maxMs: m((x) => x.maxMs),
      cpuUsPerRequest: m((x) => x.cpuUsPerRequest),
      scrapes: m((x) => x.scrapes),
      scrapeErrors: r.reduce((n, x) => n + x.scrapeErrors, 0),
      seriesScraped: m((x) => x.seriesScraped),
      scrapeMs: m((x) => x.scrapeMs),
      readerCpuMsPerScrape: m((x) => x.readerCpuMsPerScrape),
      runs: r,
    };
    const opt = (x: number, digits: number) => (Number.isNaN(x) ? '' : x.toFixed(digits));
    rows.push([
      row.name,
      c.series.toLocaleString('en'),
      c.scraped ? 'yes' : 'no',
      String(Math.round(row.requestsPerSecond)),
      (row.serviceLoad * 100).toFixed(0),
      row.p99Ms.toFixed(2),
      row.maxMs.toFixed(1),
      row.cpuUsPerRequest.toFixed(0),
      c.scraped ? String(row.scrapes) + (row.scrapeErrors > 0 ? ` (${row.scrapeErrors} failed)` : '') : '',
      opt(row.seriesScraped, 0),
      opt(row.scrapeMs, 1),
      opt(row.readerCpuMsPerScrape, 1),
      String(r.length),
    ]);
    return row;
  });
  lines.push(table(rows));

  // The headline: each variant's change when scraped.
  const summary: string[] = [];
  for (let i = 0; i + 1 < results.length; i += 2) {
    const [quiet, watched] = [results[i]!, results[i + 1]!];
    const cpu = (watched.cpuUsPerRequest / quiet.cpuUsPerRequest - 1) * 100;
    summary.push(
      `${quiet.name}, ${quiet.series.toLocaleString('en')} series: event-loop p99 ${quiet.p99Ms.toFixed(2)} -> ${watched.p99Ms.toFixed(2)} ms, ` +
        `max ${quiet.maxMs.toFixed(1)} -> ${watched.maxMs.toFixed(1)} ms, CPU per request ${cpu >= 0 ? '+' : ''}${cpu.toFixed(0)} %`,
    );
  }
  lines.push(
    `when scraped (medians of ${repeats} run${repeats > 1 ? 's' : ''} of ${timing.windowMs / 1000} s):\n  ${summary.join('\n  ')}`,
  );
  lines.push(`load average at end: ${load()}`);
  return { pinned: pin, rate, repeats, ...timing, results };
}
