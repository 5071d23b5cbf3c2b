/**
 * Labelled families in the tools: `slurp` prints each child as
 * `name{label="value"}`, `aggregateFields` combines writers per family and label
 * set, and the JSON API carries the labels. Writers are real separate processes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StatsReader, aggregateFields } from '../src/index.js';
import { runCli, runScript, tempStatsDir, type ScriptProcess } from './helpers/proc.js';
import { startServe } from './helpers/serve.js';

function writer(dir: string, n: number): ScriptProcess {
  return runScript(
    `
    const M = defineModel('Http', {
      requests: field.counter({ labels: ['method', 'status'] }),
      duration: field.histogram({ buckets: [0.1, 1], unit: 'seconds', labels: ['route'] }),
      up: field.gauge(),
    }, { prefix: 'http.server.' });
    const s = M.open({ path: env.DIR, defaultFields: false });
    s.requests.with('GET', 200).incr(Number(env.N));
    s.requests.with('POST', 500).incr(1);
    s.duration.with('/a').record(0.5);
    s.up.set(1);
    ready(s.path);
  `,
    { env: { DIR: dir, N: String(n) } },
  );
}

test('slurp, aggregateFields and the JSON API show families by label set', async () => {
  const dir = tempStatsDir();
  const w1 = writer(dir, 3);
  const w2 = writer(dir, 4);
  const paths: string[] = [await w1.ready, await w2.ready];
  const server = await startServe(['--path', dir]);
  try {
    const text = await runCli(['slurp', dir], { env: { NO_COLOR: '1' } });
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^http\.server\.requests\{method="GET",status="200"\}\s+3$/m);
    assert.match(text.stdout, /^http\.server\.requests\{method="GET",status="200"\}\s+4$/m);
    assert.match(text.stdout, /^http\.server\.up\s+1$/m);

    const json = JSON.parse((await runCli(['slurp', '--json', dir])).stdout);
    const child = json.files[0].fields.find((f: any) => f.label === 'http.server.requests{method="POST",status="500"}');
    assert.deepEqual([child.family, child.labels, child.value], ['http.server.requests', { method: 'POST', status: '500' }, 1]);

    const snaps = paths.map((p) => {
      const r = StatsReader.open(p);
      try {
        return r.read();
      } finally {
        r.close();
      }
    });
    const agg = new Map(aggregateFields(snaps).map((a) => [a.label, a]));
    const get = agg.get('http.server.requests{method="GET",status="200"}')!;
    assert.equal(get.value, 7);
    assert.equal(get.writers, 2);
    assert.equal(get.family, 'http.server.requests');
    assert.deepEqual(get.labels, { method: 'GET', status: '200' });
    assert.equal((agg.get('http.server.duration{route="/a"}')!.value as { count: number }).count, 2);
    assert.ok(!('family' in agg.get('http.server.up')!));

    const api = (await (await fetch(new URL('api/fields?prefix=http.server.requests', server.url))).json()) as { fields: any[] };
    const row = api.fields.find((f) => f.labels?.method === 'GET');
    assert.equal(row.label, 'http.server.requests{method="GET",status="200"}');
    assert.equal(row.family, 'http.server.requests');
    assert.equal(row.value, 7);
    // The original mmash routes keep their shape: label → one value per file.
    const stats = (await (await fetch(new URL('stats/http.server.up', server.url))).json()) as Record<string, unknown>;
    assert.deepEqual(stats, { 'http.server.up': [1, 1] });
  } finally {
    await server.stop();
    await w1.end();
    await w2.end();
  }
});
