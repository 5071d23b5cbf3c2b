/**
 * AggregatorRegistry.clusterMetrics() with a real cluster of 3 workers: the drop-in
 * reads the workers' mmstats files (no message to any worker) and combines them
 * by each metric's aggregator; prom-client gets the same program's metrics over
 * IPC. The two texts must be the same (Summary quantiles aside).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { DIST, runScript, tempStatsDir } from './helpers/proc.js';

const DROP_IN = pathToFileURL(path.join(DIST, 'src', 'integrations', 'prom-client', 'index.js')).href;
const THEIRS = path.join(DIST, '..', 'node_modules', 'prom-client', 'index.js');

const LOAD = `
const client = process.env.LIB === 'mine' ? await import(${JSON.stringify(DROP_IN)}) : (await import('node:module')).createRequire(import.meta.url)(${JSON.stringify(THEIRS)});
`;

const WORKER = `${LOAD}
const i = Number(process.env.INDEX);
new client.AggregatorRegistry(); // prom-client's worker answers the primary's requests from here on
new client.Counter({ name: 'jobs_total', help: 'jobs', labelNames: ['kind'] }).inc({ kind: 'a' }, i + 1);
new client.Counter({ name: 'jobs_total_only_odd', help: 'odd', labelNames: ['kind'] }).inc({ kind: String(i % 2) }, 10);
new client.Gauge({ name: 'g_max', help: 'max', aggregator: 'max' }).set(i * 10);
new client.Gauge({ name: 'g_min', help: 'min', aggregator: 'min' }).set(5 - i);
new client.Gauge({ name: 'g_avg', help: 'average', aggregator: 'average' }).set(i * 3);
new client.Gauge({ name: 'g_first', help: 'first', aggregator: 'first' }).set(7);
new client.Gauge({ name: 'g_omit', help: 'omitted', aggregator: 'omit' }).set(i);
const h = new client.Histogram({ name: 'h_seconds', help: 'hist', labelNames: ['route'], buckets: [1, 2, 4] });
for (let k = 0; k <= i; k++) h.observe({ route: '/x' }, k + 0.5);
const s = new client.Summary({ name: 's_seconds', help: 'summary', percentiles: [0.5, 0.9] });
for (let k = 1; k <= 100; k++) s.observe(k * (i + 1));
setInterval(() => {}, 1000);
`;

const PRIMARY = `${LOAD}
const cluster = (await import('node:cluster')).default;
cluster.setupPrimary({ exec: env.WORKER_FILE });
const agg = new client.AggregatorRegistry();
const workers = [0, 1, 2].map((i) => cluster.fork({ INDEX: String(i) }));
on('metrics', async () => {
  // Until every worker has made all its metrics: the last one counts 100 values in each.
  for (const deadline = Date.now() + 30000; Date.now() < deadline; ) {
    const text = await agg.clusterMetrics().catch((e) => String(e));
    if (/^s_seconds_count 300$/m.test(text)) return text;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('the workers never all answered');
});
on('stop', () => { for (const w of workers) w.kill(); });
ready(workers.length);
`;

async function clusterText(lib: 'mine' | 'theirs', dir: string): Promise<string> {
  const workerFile = path.join(dir, `worker-${lib}.mjs`);
  fs.writeFileSync(workerFile, WORKER);
  const primary = runScript(PRIMARY, { env: { LIB: lib, WORKER_FILE: workerFile, MMSTATS_PATH: dir } });
  await primary.ready;
  try {
    return await primary.call('metrics');
  } finally {
    await primary.call('stop');
    await primary.end();
  }
}

describe('AggregatorRegistry.clusterMetrics() over a real cluster', () => {
  test('reads the workers files and aggregates as prom-client does over IPC', async () => {
    const dir = tempStatsDir();
    const theirs = await clusterText('theirs', dir);
    const mine = await clusterText('mine', dir);
    // prom-client orders a metric's samples as its workers happen to answer: compare the lines as sets.
    const lines = (t: string) =>
      t
        .split('\n')
        .filter((l) => !l.includes('quantile='))
        .sort();
    assert.deepEqual(lines(mine), lines(theirs));
    // What the aggregators mean, on the drop-in's text.
    assert.match(mine, /^jobs_total\{kind="a"\} 6$/m);
    assert.match(mine, /^g_max 20$/m);
    assert.match(mine, /^g_min 3$/m);
    assert.match(mine, /^g_avg 3$/m);
    assert.match(mine, /^g_first 7$/m);
    assert.doesNotMatch(mine, /g_omit/);
    assert.match(mine, /^h_seconds_bucket\{le="\+Inf",route="\/x"\} 6$/m);
    // prom-client sums the workers' quantiles (its 'sum' aggregator): so does the drop-in, from each worker's own.
    const q50 = Number(/^s_seconds\{quantile="0.5"\} (\S+)$/m.exec(mine)?.[1]);
    assert.ok(Math.abs(q50 - 50 * (1 + 2 + 3)) / 300 < 0.02, `median sum ${q50}`);
  });
});
