/**
 * `npm start`: the whole system in one command. A small HTTP service (node:http
 * on loopback) is kept busy by two load generators in worker threads; the
 * service and both workers publish their stats with mmstats (labelled families
 * among them: responses by status class, background jobs by kind and outcome,
 * answers by status code), the service also its runtime metrics (CPU, memory, event loop, GC) and HTTP instrumentation, and
 * `mmstats serve` (started in this process) shows them on the live dashboard.
 * The stats go to the default directory, where `mmstats slurp` in another shell
 * finds them.
 *
 *   npm start                      # dashboard on http://127.0.0.1:5001/ (or a free port)
 *   MMSTATS_PORT=0 npm start       # any free port
 *   MMSTATS_PATH=/tmp/s npm start  # keep the stats in /tmp/s (else the default stats directory)
 *
 * Ctrl-C stops it and removes its stats files.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Worker } from 'node:worker_threads';
import { defineModel, field, instrumentHttpServer, startRuntimeMetrics } from '../src/index.js';
import { defaultStatsDir } from '../src/platform/paths.js';
import { mountDashboard } from '../src/tools/dashboard/routes.js';
import { createServer, type App } from '../src/tools/server/server.js';
import type { LoadOptions } from './demo-worker.js';

/** The service's stats: one file for the main thread. */
const Service = defineModel(
  'Service',
  {
    requests: field.counter({ help: 'requests served', unit: 'requests' }),
    // A labelled family: one counter per status class (http.responses{status_class="2xx"}...).
    responses: field.counter({ help: 'answers by status class', unit: 'requests', labels: ['status_class'] }),
    in_flight: field.gauge({ help: 'requests being handled now', unit: 'requests' }),
    latency: field.timer({ help: 'time to answer a request', lowest: 1e-5, highest: 60, precision: 5 }),
    response_bytes: field.histogram({ help: 'size of response bodies', unit: 'bytes', buckets: [64, 256, 1024, 4096, 16384] }),
    last_path: field.string({ size: 64, help: 'path of the last request' }),
    version: field.static.string('demo-1.0', { help: 'service version' }),
    // Background jobs beside the requests, as families by kind and outcome (labels of their own, not the prefix).
    jobs: field.counter({ label: 'jobs.finished', help: 'background jobs finished', unit: 'jobs', labels: ['kind', 'outcome'] }),
    job_duration: field.histogram({
      label: 'jobs.duration',
      help: 'time a background job took',
      unit: 'seconds',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25],
      labels: ['kind'],
    }),
  },
  { prefix: 'http.' },
);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** The service's background jobs: how long each kind takes (ms) and how often it fails or is retried. */
const JOBS = [
  { kind: 'reindex', base: 20, fail: 0.03, retry: 0.05 },
  { kind: 'thumbnail', base: 6, fail: 0.01, retry: 0.02 },
  { kind: 'email', base: 2, fail: 0.05, retry: 0.1 },
] as const;
/** A latency with a long tail: mostly a few ms, sometimes much more. */
const workTime = (base: number) => base * Math.exp(Math.random() * 1.2) + (Math.random() < 0.02 ? 60 : 0);

async function main(): Promise<void> {
  // The directory every reader looks in by default (MMSTATS_PATH when set).
  const dir = defaultStatsDir();
  const stats = Service.open({ path: dir });
  // Node's own figures (nodejs.*) in the service's file.
  const runtime = startRuntimeMetrics({ stats });

  // ---- The service.
  const service = http.createServer(async (req, res) => {
    stats.in_flight.incr();
    try {
      await handle(req, res);
    } finally {
      stats.in_flight.decr();
    }
  });
  const handle = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    stats.requests.incr();
    const url = new URL(req.url ?? '/', 'http://service');
    stats.last_path.set(url.pathname.slice(0, 64));
    const token = stats.latency.start();
    let status = 200;
    let body: string;
    if (url.pathname === '/') {
      await sleep(workTime(1));
      body = 'mmstats demo service\n';
    } else if (url.pathname === '/api/items') {
      await sleep(workTime(4));
      body = JSON.stringify(Array.from({ length: 40 }, (_, i) => ({ id: i, name: `item ${i}` })));
    } else if (/^\/api\/items\/\d+$/.test(url.pathname)) {
      await sleep(workTime(2));
      const id = Number(url.pathname.split('/').pop());
      status = id < 40 ? 200 : 404;
      body = status === 200 ? JSON.stringify({ id, name: `item ${id}` }) : '{"error":"no such item"}';
    } else if (url.pathname === '/api/search') {
      await sleep(workTime(8));
      body = JSON.stringify({ q: url.searchParams.get('q'), hits: Math.floor(Math.random() * 100) });
    } else if (url.pathname === '/slow') {
      await sleep(workTime(120));
      body = 'slow answer\n';
    } else if (url.pathname === '/api/fail') {
      await sleep(workTime(3));
      status = 500;
      body = '{"error":"simulated failure"}';
    } else {
      status = 404;
      body = 'not found\n';
    }
    res.writeHead(status, { 'content-type': body.startsWith('{') || body.startsWith('[') ? 'application/json' : 'text/plain' });
    res.end(body);
    stats.latency.stop(token);
    stats.response_bytes.record(Buffer.byteLength(body));
    stats.responses.with(status < 300 ? '2xx' : status < 500 ? '4xx' : '5xx').incr();
  };
  // ---- Background jobs, one at a time, of a random kind.
  let jobsRunning = true;
  const runJobs = async () => {
    while (jobsRunning) {
      const job = JOBS[Math.floor(Math.random() * JOBS.length)]!;
      const began = performance.now();
      await sleep(workTime(job.base));
      const r = Math.random();
      const outcome = r < job.fail ? 'failed' : r < job.fail + job.retry ? 'retried' : 'done';
      if (!jobsRunning) break;
      stats.jobs.with(job.kind, outcome).incr();
      stats.job_duration.with(job.kind).record((performance.now() - began) / 1000);
      await sleep(20);
    }
  };
  const jobsDone = runJobs();

  // What instrumentation measures by itself (web.*), beside the service's own fields (http.*).
  const web = instrumentHttpServer(service, { stats, prefix: 'web.' });
  await new Promise<void>((resolve) => service.listen(0, '127.0.0.1', resolve));
  const target = `http://127.0.0.1:${(service.address() as AddressInfo).port}/`;

  // ---- Two load generators, each in a worker thread with its own stats file.
  const workers = [60, 35].map((rate) => {
    const w = new Worker(new URL('./demo-worker.js', import.meta.url), { workerData: { target, dir, rate } satisfies LoadOptions });
    w.on('error', (err: Error) => process.stderr.write(`demo: load generator failed: ${err.message}\n`));
    return w;
  });

  // ---- mmstats serve, with the dashboard.
  const port = process.env.MMSTATS_PORT !== undefined ? Number(process.env.MMSTATS_PORT) : 5001;
  let app: App;
  try {
    app = await createServer({ paths: [dir], port });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    app = await createServer({ paths: [dir], port: 0 });
  }
  mountDashboard(app);

  process.stdout.write(`mmstats demo: service at ${target}, stats in ${dir}\n`);
  process.stdout.write(`Dashboard: ${app.url}\n`);
  process.stdout.write('From another shell: npx mmstats slurp, npx mmstats top\nCtrl-C stops the demo and removes its files.\n');

  // ---- Ctrl-C: stop the load, then the servers, then remove every file.
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await Promise.all(
      workers.map(
        (w) =>
          new Promise<void>((resolve) => {
            const done = () => resolve();
            w.once('exit', done);
            w.once('message', () => void w.terminate().then(done, done));
            w.postMessage('stop');
            setTimeout(() => void w.terminate().then(done, done), 2000).unref();
          }),
      ),
    );
    jobsRunning = false;
    await jobsDone;
    service.closeAllConnections();
    await new Promise<void>((resolve) => service.close(() => resolve()));
    await app.close();
    web.stop();
    runtime.stop();
    stats.remove();
    process.stdout.write('mmstats demo: stopped, stats files removed\n');
    process.exit(0);
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
}

main().catch((err: unknown) => {
  process.stderr.write(`demo: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exit(1);
});
