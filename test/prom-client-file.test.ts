/**
 * mmstats/prom-client keeps its values in the process's mmstats file: another
 * process reads the series `register.metrics()` renders (same labels, same values),
 * and a worker thread's metrics are in its own file, with no message passing.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { readAll, type FieldValue, type Snapshot } from '../src/reader/index.js';
import { DIST, runScript, tempStatsDir, type ScriptProcess } from './helpers/proc.js';

const DROP_IN = pathToFileURL(path.join(DIST, 'src', 'integrations', 'prom-client', 'index.js')).href;

const WRITER = `
const client = await import(${JSON.stringify(DROP_IN)});
const { Worker } = await import('node:worker_threads');
const requests = new client.Counter({ name: 'http_requests_total', help: 'requests', labelNames: ['method', 'code'] });
const depth = new client.Gauge({ name: 'queue_depth', help: 'queued', labelNames: ['queue'] });
const latency = new client.Histogram({ name: 'latency_seconds', help: 'latency', labelNames: ['route'], buckets: [0.01, 0.1, 1] });
const plain = new client.Counter({ name: 'jobs_total', help: 'jobs' });
on('fill', (n) => {
  for (let i = 0; i < n; i++) {
    requests.inc({ method: i % 2 ? 'GET' : 'POST', code: 200 + (i % 3) });
    latency.labels(i % 2 ? '/a' : '/b').observe((i % 7) / 5);
  }
  depth.set({ queue: 'mail' }, n);
  depth.inc({ queue: 'sms' }, 2.5);
  plain.inc(n);
  requests.remove('GET', '201');
});
on('metrics', () => client.register.metrics());
on('worker', () => new Promise((resolve, reject) => {
  const w = new Worker(\`
    const client = await import(\${JSON.stringify(${JSON.stringify(DROP_IN)})});
    const { parentPort } = await import('node:worker_threads');
    const jobs = new client.Counter({ name: 'worker_jobs_total', help: 'jobs in the worker', labelNames: ['kind'] });
    jobs.inc({ kind: 'resize' }, 7);
    parentPort.postMessage('done');
    parentPort.once('message', () => process.exit(0));
  \`, { eval: true });
  w.once('message', () => resolve(w.threadId));
  w.once('error', reject);
  globalThis.worker = w;
}));
ready(process.pid);
`;

/** Samples of `name{labels} value` lines, labels sorted, as a map from series to value. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) continue;
    const labels = (m[2] ?? '').split(',').filter(Boolean).sort().join(',');
    out.set(`${m[1]}{${labels}}`, Number(m[3]));
  }
  return out;
}

/** The same samples from a file: family children and plain fields, histograms as their buckets, sum and count. */
function fileSamples(snap: Snapshot): Map<string, number> {
  const out = new Map<string, number>();
  const key = (name: string, labels: Record<string, string>, extra?: string) =>
    `${name}{${[...Object.entries(labels).map(([k, v]) => `${k}="${v}"`), ...(extra ? [extra] : [])].sort().join(',')}}`;
  for (const f of snap.fields as (FieldValue & { family?: string; labels?: Record<string, string> })[]) {
    if (f.label.startsWith('sys.') || f.label.startsWith('org.')) continue;
    const name = f.family ?? f.label;
    const labels = f.labels ?? {};
    const v = f.value as any;
    if (typeof v === 'number') out.set(key(name, labels), v);
    else if (v && Array.isArray(v.buckets)) {
      let acc = 0;
      for (const b of v.buckets) {
        acc += b.count;
        out.set(key(`${name}_bucket`, labels, `le="${b.le === Infinity ? '+Inf' : b.le}"`), acc);
      }
      out.set(key(`${name}_sum`, labels), v.sum);
      out.set(key(`${name}_count`, labels), v.count);
    }
  }
  return out;
}

describe('mmstats/prom-client values live in the mmstats file', () => {
  let dir: string;
  let writer: ScriptProcess;
  let pid: number;

  before(async () => {
    dir = tempStatsDir();
    writer = runScript(WRITER, { env: { MMSTATS_PATH: dir } });
    pid = await writer.ready;
  });
  after(() => writer.end());

  test('another process reads the series register.metrics() renders, with the same labels and values', async () => {
    await writer.call('fill', 50);
    const expected = samples(await writer.call('metrics'));
    const { snapshots } = readAll([dir]);
    const snap = snapshots.find((s) => s.writer.pid === pid && s.path.includes('-PromClient-'));
    assert.ok(snap, `no PromClient file of ${pid} in ${dir}`);
    const actual = fileSamples(snap);
    assert.equal(expected.size, 20, 'the program made its 20 samples');
    assert.deepEqual(actual, expected);
    assert.equal(actual.get('http_requests_total{code="201",method="GET"}'), undefined, 'a removed series is gone from the file');
  });

  test('a worker thread publishes its own file, without messages to the main thread', async () => {
    const threadId = await writer.call('worker');
    const { snapshots } = readAll([dir]);
    const snap = snapshots.find((s) => s.writer.pid === pid && s.writer.threadId === threadId);
    assert.ok(snap, `no file of thread ${threadId}`);
    assert.equal(fileSamples(snap).get('worker_jobs_total{kind="resize"}'), 7);
  });
});

test('the default metrics are in the file as soon as collectDefaultMetrics() returns, not a refresh later', async () => {
  const dir = tempStatsDir();
  const app = runScript(
    `const client = await import(${JSON.stringify(DROP_IN)});
client.collectDefaultMetrics();
ready(process.pid);
setTimeout(() => {}, 60000);`,
    { env: { MMSTATS_PATH: dir } },
  );
  try {
    const pid = await app.ready;
    const snap = readAll([dir]).snapshots.find((s) => s.writer.pid === pid);
    assert.ok(snap, `no file of ${pid}`);
    const families = new Set((snap.fields as (FieldValue & { family?: string })[]).map((f) => f.family ?? f.label));
    for (const name of [
      'nodejs_version_info',
      'process_cpu_user_seconds_total',
      'process_start_time_seconds',
      'nodejs_heap_size_used_bytes',
    ]) {
      assert.ok(families.has(name), `${name} in ${[...families]}`);
    }
  } finally {
    await app.end();
  }
});
