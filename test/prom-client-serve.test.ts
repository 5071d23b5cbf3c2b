/**
 * `mmstats serve` serves the drop-in's series: a real app on mmstats/prom-client
 * (labelled counter, histogram, gauges, default metrics) and a separate
 * `mmstats serve` over its stats directory. Served `/metrics` has the same
 * families (help, type), series (names, labels) and values as the app's own
 * `register.metrics()`, once the writer labels (`--writer-labels`) are set aside;
 * what serve adds is exactly what docs/MIGRATING.md lists.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { DIST, runScript, tempStatsDir } from './helpers/proc.js';
import { parseExposition as parse, type Family } from './helpers/exposition.js';
import { startServe } from './helpers/serve.js';

/** serve shares one read of the files among the requests of 100 ms (its store's cacheMs): wait longer. */
const SHARED_READ_MS = 150;
const sharedReadOver = () => new Promise((r) => setTimeout(r, SHARED_READ_MS));

const DROP_IN = pathToFileURL(path.join(DIST, 'src', 'integrations', 'prom-client', 'index.js')).href;

const APP = `
const client = await import(${JSON.stringify(DROP_IN)});
client.collectDefaultMetrics();
const requests = new client.Counter({ name: 'http_requests_total', help: 'HTTP requests', labelNames: ['method', 'route', 'status_code'] });
const duration = new client.Histogram({
  name: 'http_request_duration_seconds',
  help: 'HTTP request duration',
  labelNames: ['method', 'route'],
  buckets: [0.005, 0.05, 0.5, 5],
});
const depth = new client.Gauge({ name: 'queue_depth', help: 'items queued', labelNames: ['queue'] });
const jobs = new client.Counter({ name: 'jobs_total', help: 'jobs done' });
const temperature = new client.Gauge({ name: 'temperature_celsius', help: 'temperature' });
on('work', () => {
  for (let i = 0; i < 40; i++) {
    const route = ['/', '/users/:id', '/orders'][i % 3];
    requests.inc({ method: i % 4 ? 'GET' : 'POST', route, status_code: i % 10 ? 200 : 500 });
    duration.observe({ method: 'GET', route }, (i % 7) * 0.03);
  }
  requests.labels('DELETE', '/users/:id', '204').inc(2.5);
  depth.set({ queue: 'mail' }, 12);
  depth.dec({ queue: 'sms' }, 3);
  jobs.inc(7);
  temperature.set(-4.25);
});
on('metrics', () => client.register.metrics());
ready(process.pid);
`;

/** What serve adds to every exposition: each file's identity fields and its own series. */
const SERVE_ADDS = [
  'mmstats_files',
  'mmstats_writer_alive',
  'org_nodejs_version_info',
  'prom_client_meta_info',
  'sys_cmd_info',
  'sys_created_seconds',
  'sys_hostname_info',
];

/**
 * Differences between the app's exposition and serve's, once serve's additions are
 * left out; empty when they are the same. nodejs_eventloop_lag_seconds is measured
 * on the tick after each collect (as prom-client does), so a scrape renders the
 * previous measurement and the file holds the next: it must be there, not equal.
 * A metric with no series yet: prom-client prints its HELP and TYPE alone, serve
 * nothing (Prometheus stores nothing for either).
 */
function differences(own: Map<string, Family>, served: Map<string, Family>): string[] {
  const out: string[] = [];
  const names = new Set([...own.keys(), ...served.keys()].filter((n) => !SERVE_ADDS.includes(n)));
  for (const name of names) {
    const a = own.get(name);
    const b = served.get(name);
    if (a && !b && a.samples.size === 0) continue;
    if (!a || !b) {
      out.push(`${name}: only in ${a ? 'the app' : 'serve'}`);
      continue;
    }
    if (a.help !== b.help || a.type !== b.type) out.push(`${name}: HELP/TYPE ${a.help}/${a.type} against ${b.help}/${b.type}`);
    for (const key of new Set([...a.samples.keys(), ...b.samples.keys()])) {
      const x = a.samples.get(key);
      const y = b.samples.get(key);
      if (name === 'nodejs_eventloop_lag_seconds' && x !== undefined && y !== undefined && y >= 0) continue;
      if (x !== y) out.push(`${key}: ${x} in the app, ${y} served`);
    }
  }
  return out;
}

test("mmstats serve's /metrics has the families, series and values of the app's own register.metrics(), writer labels aside", async (t) => {
  const dir = tempStatsDir();
  const app = runScript(APP, { env: { MMSTATS_PATH: dir } });
  await app.ready;
  const srv = await startServe(['--port', '0', '--path', dir]);
  try {
    await app.call('work');
    await sharedReadOver();
    // The default metrics refresh themselves every second; a read that falls between a
    // scrape and the next refresh sees what the scrape rendered. Try until one does.
    let last: string[] = [];
    for (let attempt = 0; attempt < 20; attempt++) {
      const own = parse(await app.call('metrics'));
      const servedText = await (await fetch(`${srv.url}metrics`)).text();
      const served = parse(servedText, { cmd: 'writer', model: 'PromClient' }, ['mmstats_files']);
      // serve adds what it lists, nothing else.
      assert.deepEqual([...served.keys()].filter((n) => !own.has(n)).sort(), SERVE_ADDS);
      last = differences(own, served);
      if (last.length) t.diagnostic(`attempt ${attempt + 1}: ${last.join('; ')}`);
      if (last.length === 0) {
        t.diagnostic(`the same on attempt ${attempt + 1}`);
        // The program's own metrics, to the value.
        assert.equal(served.get('http_requests_total')!.samples.get('http_requests_total{method="GET",route="/",status_code="200"}'), 9);
        assert.equal(
          served.get('http_requests_total')!.samples.get('http_requests_total{method="DELETE",route="/users/:id",status_code="204"}'),
          2.5,
        );
        assert.equal(served.get('http_request_duration_seconds')!.type, 'histogram');
        assert.equal(
          served
            .get('http_request_duration_seconds')!
            .samples.get('http_request_duration_seconds_bucket{le="+Inf",method="GET",route="/orders"}'),
          13,
        );
        assert.equal(served.get('queue_depth')!.samples.get('queue_depth{queue="sms"}'), -3);
        assert.equal(served.get('temperature_celsius')!.samples.get('temperature_celsius{}'), -4.25);
        assert.equal(served.get('nodejs_version_info')!.samples.size, 1);
        assert.ok(served.get('process_cpu_user_seconds_total')!.samples.get('process_cpu_user_seconds_total{}')! > 0);
        assert.ok(own.size >= 30, `the app renders its metrics and the default ones: ${[...own.keys()]}`);
        return;
      }
      await sharedReadOver();
    }
    assert.deepEqual(last, [], 'the served exposition differs from the app');
  } finally {
    await srv.stop();
    await app.end();
  }
});

test('with --writer-labels none, the served series carry exactly the labels the app gave them', async () => {
  const dir = tempStatsDir();
  const app = runScript(APP, { env: { MMSTATS_PATH: dir } });
  await app.ready;
  const srv = await startServe(['--port', '0', '--path', dir, '--writer-labels', 'none']);
  try {
    await app.call('work');
    await sharedReadOver();
    const own = parse(await app.call('metrics'));
    const served = parse(await (await fetch(`${srv.url}metrics`)).text());
    for (const name of [
      'http_requests_total',
      'http_request_duration_seconds',
      'queue_depth',
      'jobs_total',
      'nodejs_heap_space_size_used_bytes',
    ]) {
      assert.deepEqual([...served.get(name)!.samples.keys()].sort(), [...own.get(name)!.samples.keys()].sort(), name);
    }
  } finally {
    await srv.stop();
    await app.end();
  }
});
