/**
 * The runtime examples run as real programs: the WebStats server answers real
 * requests, the worker-threads and cluster examples count, and a reader in this
 * process aggregates their files per process and across processes.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { test } from 'node:test';
import { StatsReader, aggregateFields, readAll, type Snapshot } from '../src/index.js';
import { parseExposition, type Family } from './helpers/exposition.js';
import { DIST, startCli, tempStatsDir, waitFor, type CliProcess } from './helpers/proc.js';
import { startServe } from './helpers/serve.js';

const example = (name: string) => path.join(DIST, 'examples', `${name}.js`);

/** Start an example program and wait for its first JSON line. */
async function start(name: string, args: string[], dir: string): Promise<{ p: CliProcess; info: any }> {
  const p = startCli(args, { script: example(name), env: { MMSTATS_PATH: dir } });
  const line = await waitFor(
    () => {
      if (p.child.exitCode !== null) throw new Error(`${name} exited (${p.child.exitCode}): ${p.stderr()}`);
      return p
        .stdout()
        .split('\n')
        .find((l) => l.startsWith('{'));
    },
    30_000,
    `${name} to start`,
  );
  return { p, info: JSON.parse(line!) };
}

/** SIGTERM a program and check that it ends on its own, cleanly. */
async function stop(p: CliProcess): Promise<void> {
  p.child.kill('SIGTERM');
  const timer = setTimeout(() => p.child.kill('SIGKILL'), 20_000);
  const r = await p.exited;
  clearTimeout(timer);
  assert.equal(r.code, 0, `exit code; stderr: ${r.stderr}`);
}

/** A request on a connection of its own (a cluster's primary hands each connection to the next worker). */
function request(url: string, method = 'GET'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function get(url: string, method = 'GET'): Promise<number> {
  return (await request(url, method)).status;
}

function value(s: Snapshot, label: string): any {
  return s.fields.find((f) => f.label === label)?.value;
}

function aggregated(snaps: readonly Snapshot[], label: string): any {
  return aggregateFields(snaps).find((f) => f.label === label)?.value;
}

test('webstats example: the original WebStats server counts real requests by method and status code', { timeout: 60_000 }, async () => {
  const dir = tempStatsDir();
  const { p, info } = await start('webstats', ['0'], dir);
  try {
    const t0 = Date.now() / 1000;
    const statuses = [];
    for (const [url, method] of [
      ['', 'GET'],
      ['', 'GET'],
      ['old', 'GET'],
      ['error', 'GET'],
      ['nope', 'GET'],
      ['nope/too', 'GET'],
      ['', 'POST'],
    ]) {
      statuses.push(await get(info.url + url, method));
    }
    assert.deepEqual(statuses, [200, 200, 301, 500, 404, 404, 200]);
    const s = await waitFor(
      () => {
        const r = StatsReader.open(info.stats);
        try {
          const s = r.read();
          // Every response timed: the durations' counts add up to the 7 requests sent.
          const timed = s.fields.filter((f) => f.family === 'web.stats.server.request.duration' && f.labels);
          return timed.reduce((n, f) => n + (f.value as { count: number }).count, 0) === 7 ? s : undefined;
        } finally {
          r.close();
        }
      },
      10_000,
      'the requests to be counted',
    ).then((x) => x!);
    const responses = (method: string, status: number) =>
      value(s, `web.stats.server.request.duration{http_request_method="${method}",http_response_status_code="${status}",http_route=""}`)
        ?.count;
    assert.equal(responses('GET', 200), 2);
    assert.equal(responses('POST', 200), 1);
    assert.equal(responses('GET', 301), 1);
    assert.equal(responses('GET', 404), 2);
    assert.equal(responses('GET', 500), 1);
    assert.equal(value(s, 'web.stats.server.requests{http_request_method="POST"}'), 1);
    const last = value(s, 'web.stats.timers.last_hit');
    assert.ok(last >= t0 - 1 && last <= Date.now() / 1000 + 1, `last hit ${last}`);
  } finally {
    await stop(p);
  }
  assert.equal(fs.existsSync(info.stats), false, 'the example removes its file when stopped');
});

test('workers example: two processes of 3 threads each, aggregated per process and across processes', { timeout: 120_000 }, async () => {
  const dir = tempStatsDir();
  const jobs = 10_000;
  const runs = [await start('workers', ['3', String(jobs), '--hold'], dir), await start('workers', ['3', String(jobs), '--hold'], dir)];
  try {
    const { snapshots, errors } = readAll([dir]);
    assert.deepEqual(errors, []);
    // Each process: 3 thread files and 1 shared file.
    for (const { info } of runs) {
      const mine = snapshots.filter((s) => s.writer.pid === info.pid);
      assert.equal(mine.length, 4);
      const shared = mine.filter((s) => s.writer.shared);
      assert.equal(shared.length, 1);
      assert.equal(value(shared[0]!, 'totals.jobs'), 3 * jobs, 'the shared counter is exact');
      assert.equal(value(shared[0]!, 'totals.threads'), 3);
      const threads = mine.filter((s) => !s.writer.shared);
      assert.deepEqual(
        threads.map((s) => value(s, 'work.jobs')),
        [jobs, jobs, jobs],
      );
      assert.equal(new Set(threads.map((s) => s.writer.threadId)).size, 3, 'one file per thread');
      assert.equal(aggregated(threads, 'work.jobs'), 3 * jobs, 'per process: the threads add up');
      for (const t of threads) assert.ok(value(t, 'nodejs.heap.used') > 0, 'each thread publishes its own heap');
      assert.deepEqual(info.aggregate['work.jobs'], 3 * jobs, 'the example’s own reader agrees');
    }
    // Across processes: counters add up over every file, per-thread and shared alike.
    assert.equal(aggregated(snapshots, 'work.jobs'), 6 * jobs);
    assert.equal(aggregated(snapshots, 'totals.jobs'), 6 * jobs);
    assert.equal(aggregated(snapshots, 'work.took').count, 6 * jobs, 'timers merge bucket by bucket');
  } finally {
    for (const { p } of runs) await stop(p);
  }
  assert.deepEqual(fs.readdirSync(dir), [], 'every file is removed when the programs end');
});

/** The cluster's GET requests: a counter family's child, as readers label it. */
const GETS = 'http.server.requests{http_request_method="GET"}';
/** The cluster's answered GET requests: every one timed under status code 200, with no route. */
const OKS = 'http.server.request.duration{http_request_method="GET",http_response_status_code="200",http_route=""}';

test(
  'cluster example: per-process HTTP files and one cluster-wide counter, exact with no message passing',
  { timeout: 120_000 },
  async () => {
    const dir = tempStatsDir();
    const { p, info } = await start('cluster', ['3', '0'], dir);
    try {
      assert.equal(info.workers.length, 3);
      const n = 60;
      const statuses = await Promise.all(Array.from({ length: n }, () => get(info.url)));
      assert.ok(statuses.every((s) => s === 200));
      const snaps = await waitFor(
        () => {
          const { snapshots } = readAll([dir]);
          // Each worker's own HTTP file (class Http), whether or not it got a request yet.
          const http = snapshots.filter((s) => /-Http-/.test(path.basename(s.path)));
          return http.length === 3 && aggregated(http, OKS)?.count === n ? snapshots : undefined;
        },
        20_000,
        'every request to be counted',
      ).then((x) => x!);
      const shared = snaps.filter((s) => s.writer.shared);
      assert.equal(shared.length, 1);
      assert.equal(shared[0]!.writer.pid, info.primary, 'the primary owns the cluster-wide file');
      assert.equal(value(shared[0]!, 'site.hits'), n, 'every worker counted into the one file, exactly');
      assert.equal(value(shared[0]!, 'site.workers'), 3);
      // Per process: each worker has its own HTTP and runtime files.
      const byPid = new Map<number, Snapshot[]>();
      for (const s of snaps.filter((x) => !x.writer.shared)) byPid.set(s.writer.pid, [...(byPid.get(s.writer.pid) ?? []), s]);
      assert.deepEqual([...byPid.keys()].sort(), [info.primary, ...info.workers].sort());
      let total = 0;
      for (const pid of info.workers) total += aggregated(byPid.get(pid)!, GETS) ?? 0;
      assert.equal(total, n);
      assert.equal(aggregated(snaps, 'http.server.active_requests{http_request_method="GET"}'), 0);
      assert.ok(aggregated(snaps, 'nodejs.process.rss') > 0);
    } finally {
      await stop(p);
    }
    await waitFor(() => fs.readdirSync(dir).length === 0, 20_000, 'the cluster to remove its files');
  },
);

test(
  'express-cluster example: a prom-client Express app on 4 workers, only its import changed; mmstats serve and clusterMetrics() count every request',
  { timeout: 120_000 },
  async () => {
    const dir = tempStatsDir();
    const { p, info } = await start('express-cluster', ['0', '0'], dir);
    const srv = await startServe(['--port', '0', '--path', dir]);
    try {
      assert.equal(info.workers.length, 4);
      // [method, path, its route template, expected status, how many]
      const plan: [string, string, string, number, number][] = [
        ['GET', '', '/', 200, 40],
        ['GET', 'users/', '/users/:id', 200, 20],
        ['POST', 'orders', '/orders', 201, 12],
        ['GET', 'error', '/error', 500, 8],
        ['GET', 'nope', 'unmatched', 404, 4],
      ];
      const expected: Record<string, number> = {};
      const servedBy = new Set<number>();
      let sent = 0;
      for (const [method, url, route, status, n] of plan) {
        for (let i = 0; i < n; i++) {
          const r = await request(info.url + (url.endsWith('/') ? url + i : url), method);
          assert.equal(r.status, status, `${method} /${url}`);
          const pid = /served by (\d+)/.exec(r.body)?.[1] ?? (status < 300 ? JSON.parse(r.body).worker : undefined);
          if (pid) servedBy.add(Number(pid));
          sent++;
        }
        expected[`http_requests_total{method="${method}",route="${route}",status_code="${status}"}`] = n;
      }
      assert.deepEqual([...servedBy].sort(), [...info.workers].sort(), 'every worker served requests');

      // mmstats serve: the workers' files, combined per label set (cmd and model are the writer labels).
      const total = (f: Map<string, Family>) => [...(f.get('http_requests_total')?.samples.values() ?? [])].reduce((a, b) => a + b, 0);
      const served = (await waitFor(
        async () => {
          const text = await (await fetch(`${srv.url}metrics`)).text();
          const f = parseExposition(text, { cmd: 'express-cluster', model: 'PromClient' }, ['mmstats_files']);
          return total(f) === sent ? f : undefined;
        },
        20_000,
        `mmstats serve to count the ${sent} requests`,
      ))!;
      assert.equal(served.get('mmstats_writer_alive')!.samples.get('mmstats_writer_alive{}'), 4, 'one file per worker');
      assert.deepEqual(Object.fromEntries(served.get('http_requests_total')!.samples), expected);
      const counts = [...served.get('http_request_duration_seconds')!.samples].filter(([k]) =>
        k.startsWith('http_request_duration_seconds_count'),
      );
      assert.deepEqual(
        Object.fromEntries(counts),
        Object.fromEntries(
          Object.entries(expected).map(([k, v]) => [k.replace('http_requests_total', 'http_request_duration_seconds_count'), v]),
        ),
      );

      // prom-client's AggregatorRegistry in the primary, reading the same files: the same counts and buckets.
      const res = await fetch(info.clusterMetrics);
      assert.equal(res.status, 200);
      const cluster = parseExposition(await res.text());
      assert.deepEqual(Object.fromEntries(cluster.get('http_requests_total')!.samples), expected);
      const histogram = (f: Map<string, Family>) => [...f.get('http_request_duration_seconds')!.samples];
      assert.deepEqual(
        histogram(cluster).filter(([k]) => !k.includes('_sum{')),
        histogram(served).filter(([k]) => !k.includes('_sum{')),
      );
      for (const [k, v] of histogram(served).filter(([k]) => k.includes('_sum{'))) {
        const theirs = cluster.get('http_request_duration_seconds')!.samples.get(k)!;
        assert.ok(v > 0 && Math.abs(v - theirs) <= 1e-9 * v, `${k}: ${v} served, ${theirs} from clusterMetrics()`);
      }
      // Gauges: serve sums the live workers of a label set; clusterMetrics() applies
      // prom-client's aggregator (first for the version) (docs/MIGRATING.md).
      assert.equal(served.get('nodejs_version_info')!.samples.size, 1);
      assert.equal([...served.get('nodejs_version_info')!.samples.values()][0], 4);
      assert.equal([...cluster.get('nodejs_version_info')!.samples.values()][0], 1);
      for (const name of ['process_cpu_seconds_total', 'nodejs_heap_size_used_bytes', 'nodejs_heap_space_size_used_bytes']) {
        assert.ok(served.has(name) && cluster.has(name), name);
      }
    } finally {
      await srv.stop();
      await stop(p);
    }
    await waitFor(() => fs.readdirSync(dir).length === 0, 20_000, 'the workers to remove their files');
  },
);
