/**
 * The cost a scrape puts on the instrumented program: an HTTP service with 1,000
 * series under load, scraped 10 times a second. prom-client is scraped over its
 * own /metrics, in the service's process; mmstats is read by `mmstats serve` in
 * another process. Compares the service's throughput, event-loop delay p99 and CPU
 * per request, under as much load as 16 connections make and at a fixed rate that
 * leaves the machine some idle time.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const cli = path.join(here, '..', 'src', 'tools', 'cli.js');

/** Drive `port` with `connections` keep-alive loops for `ms`. */
async function load(port: number, connections: number, ms: number): Promise<number> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
  const end = Date.now() + ms;
  let done = 0;
  const one = () =>
    new Promise<void>((resolve) => {
      http
        .get({ host: '127.0.0.1', port, path: '/', agent }, (res) => {
          res.resume();
          res.on('end', () => resolve());
        })
        .on('error', () => resolve());
    });
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (Date.now() < end) {
        await one();
        done++;
      }
    }),
  );
  agent.destroy();
  return done;
}

/**
 * Send `rate` requests a second to `port` for `ms`, on a schedule that does not wait
 * for answers (an open loop, as clients arrive). Returns the requests answered.
 */
async function steadyLoad(port: number, rate: number, ms: number): Promise<number> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const pending: Promise<void>[] = [];
  let answered = 0;
  const start = performance.now();
  let sent = 0;
  await new Promise<void>((resolve) => {
    const tick = setInterval(() => {
      const elapsed = performance.now() - start;
      if (elapsed >= ms) {
        clearInterval(tick);
        resolve();
        return;
      }
      for (; sent < (elapsed * rate) / 1000; sent++) {
        pending.push(
          new Promise<void>((done) => {
            http
              .get({ host: '127.0.0.1', port, path: '/', agent }, (res) => {
                res.resume();
                res.on('end', () => {
                  answered++;
                  done();
                });
              })
              .on('error', () => done());
          }),
        );
      }
    }, 1);
  });
  await Promise.all(pending);
  agent.destroy();
  return answered;
}

function startScraper(url: string, everyMs: number): () => number {
  let scrapes = 0;
  const timer = setInterval(() => {
    http
      .get(url, (res) => {
        res.resume();
        res.on('end', () => scrapes++);
      })
      .on('error', () => undefined);
  }, everyMs);
  return () => {
    clearInterval(timer);
    return scrapes;
  };
}

async function waitForUrl(child: ChildProcess): Promise<string> {
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

/** One run: returns the service's requests/s and event-loop delay p99 (ms). */
export async function scrapeRun(
  mode: 'prom' | 'mmstats' | 'none',
  scrape: boolean,
  ms: number,
  serveArgs: readonly string[] = [],
  /** Requests a second on a fixed schedule; 0 (the default) for as many as 16 connections can get answered. */
  rate = 0,
): Promise<{ rps: number; p99ms: number; scrapes: number; serviceCpuUsPerRequest: number; readerCpuMs?: number }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mmstats-scrape-'));
  fs.chmodSync(dir, 0o700);
  const service = fork(path.join(here, 'scrape-service.js'), [mode, dir], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const { port } = await new Promise<{ port: number }>((r) => service.once('message', (m) => r(m as { port: number })));
  let serve: ChildProcess | undefined;
  let stopScrape = () => 0;
  if (scrape && mode === 'prom') stopScrape = startScraper(`http://127.0.0.1:${port}/metrics`, 100);
  if (scrape && mode === 'mmstats') {
    serve = spawn(process.execPath, [cli, 'serve', '--port', '0', '--path', dir, ...serveArgs], { stdio: ['ignore', 'pipe', 'inherit'] });
    stopScrape = startScraper(`${await waitForUrl(serve)}/metrics`, 100);
  }
  const cpuBefore = serve ? cpuMs(serve.pid!) : 0;
  const requests = rate > 0 ? await steadyLoad(port, rate, ms) : await load(port, 16, ms);
  const scrapes = stopScrape();
  const readerCpuMs = serve && scrapes > 0 ? (cpuMs(serve.pid!) - cpuBefore) / scrapes : undefined;
  service.send('stop');
  const report = await new Promise<{ requests: number; p99ms: number; cpuMs: number }>((r) =>
    service.once('message', (m) => r(m as { requests: number; p99ms: number; cpuMs: number })),
  );
  serve?.kill();
  fs.rmSync(dir, { recursive: true, force: true });
  return {
    rps: Math.round(requests / (ms / 1000)),
    p99ms: report.p99ms,
    scrapes,
    serviceCpuUsPerRequest: (report.cpuMs * 1000) / Math.max(1, report.requests),
    readerCpuMs,
  };
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
