import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { runCli, runScript, startCli, tempStatsDir, waitFor, type ScriptProcess } from './helpers/proc.js';
import { startServe, systemProgram } from './helpers/serve.js';
import { queryAll, prometheusOrSkip, startPrometheus } from './helpers/prometheus.js';

/** A web service's labelled families: requests by method and status, durations by route. */
const WRITER = `
const Web = defineModel('Web', {
  requests: field.counter({ help: 'requests served', labels: ['method', 'status'] }),
  duration: field.histogram({ help: 'request duration', unit: 'seconds', buckets: [0.01, 0.1, 1], labels: ['http_route'] }),
}, { prefix: 'web.' });
const s = Web.open({ path: env.DIR });
on('count', (method, status, n) => { s.requests.with(method, status).incr(n); });
on('time', (route, seconds, n) => { const h = s.duration.with(route); for (let i = 0; i < n; i++) h.record(seconds); });
on('remove', (method, status) => { s.requests.remove(method, status); });
ready(s.path);
`;

/** An instant query's results as {label value: number}, keyed by `by`; undefined while Prometheus has none. */
async function queryBy(base: string, promql: string, by: string): Promise<Record<string, number> | undefined> {
  const result = await queryAll(base, promql);
  return result.length === 0 ? undefined : Object.fromEntries(result.map((r) => [r.metric[by] ?? '', r.value]));
}

/** Sample lines of a metric name (exact name, any labels). */
function samples(text: string, name: string): string[] {
  return text.split('\n').filter((l) => l.startsWith(name + '{') || l.startsWith(name + ' '));
}

async function startWriters(dir: string): Promise<[ScriptProcess, ScriptProcess]> {
  const w1 = runScript(WRITER, { env: { DIR: dir } });
  const w2 = runScript(WRITER, { env: { DIR: dir } });
  await Promise.all([w1.ready, w2.ready]);
  return [w1, w2];
}

test('a labelled family is one metric family in /metrics: one HELP and TYPE, series with its labels and the writer labels, promtool-clean', async (t) => {
  const dir = tempStatsDir();
  const [w1, w2] = await startWriters(dir);
  await w1.call('count', 'GET', '200', 5);
  await w1.call('count', 'GET', '500', 2);
  await w2.call('count', 'GET', '200', 1);
  await w1.call('time', '/users/:id', 0.05, 3);
  const srv = await startServe(['--port', '0', '--path', dir]);
  try {
    const text = await (await fetch(`${srv.url}metrics`)).text();
    assert.equal(text.split('\n').filter((l) => l === '# TYPE web_requests_total counter').length, 1, text);
    assert.equal(text.split('\n').filter((l) => l.startsWith('# HELP web_requests_total ')).length, 1);
    // The two writers of cmd="writer",model="Web" are combined per label set.
    assert.deepEqual(samples(text, 'web_requests_total').sort(), [
      'web_requests_total{cmd="writer",model="Web",method="GET",status="200"} 6',
      'web_requests_total{cmd="writer",model="Web",method="GET",status="500"} 2',
    ]);
    assert.ok(text.includes('# TYPE web_duration_seconds histogram\n'));
    assert.deepEqual(samples(text, 'web_duration_seconds_bucket'), [
      'web_duration_seconds_bucket{cmd="writer",model="Web",http_route="/users/:id",le="0.01"} 0',
      'web_duration_seconds_bucket{cmd="writer",model="Web",http_route="/users/:id",le="0.1"} 3',
      'web_duration_seconds_bucket{cmd="writer",model="Web",http_route="/users/:id",le="1"} 3',
      'web_duration_seconds_bucket{cmd="writer",model="Web",http_route="/users/:id",le="+Inf"} 3',
    ]);
    assert.deepEqual(samples(text, 'web_duration_seconds_count'), [
      'web_duration_seconds_count{cmd="writer",model="Web",http_route="/users/:id"} 3',
    ]);
    const promtool = systemProgram('promtool');
    if (!promtool) t.diagnostic('promtool is not installed (apt-get install prometheus)');
    else {
      const check = spawnSync(promtool, ['check', 'metrics'], { input: text, encoding: 'utf8' });
      assert.equal(check.status, 0, check.stdout + check.stderr);
      assert.equal((check.stdout + check.stderr).trim(), '');
    }
    // A removed child leaves the exposition; the plan is remade for the new set of children.
    await w1.call('remove', 'GET', '500');
    await waitFor(
      async () => samples(await (await fetch(`${srv.url}metrics`)).text(), 'web_requests_total').length === 1,
      10_000,
      'the child to go',
    );
  } finally {
    await srv.stop();
    await Promise.all([w1.end(), w2.end()]);
  }
});

test(
  'a real Prometheus scrapes labelled families: sum by (status) and histogram_quantile over http_route give what the writers wrote',
  { timeout: 120_000 },
  async (t) => {
    const prometheus = prometheusOrSkip(t);
    if (!prometheus) return;
    const dir = tempStatsDir();
    const [w1, w2] = await startWriters(dir);
    // Every child exists (at zero) before the first scrape, so that rate() sees the increase.
    for (const w of [w1, w2]) {
      await w.call('count', 'GET', '200', 0);
      await w.call('count', 'POST', '500', 0);
      await w.call('time', '/a', 0.05, 0);
      await w.call('time', '/b', 0.5, 0);
    }
    const srv = await startServe(['--port', '0', '--path', dir]);
    const prom = await startPrometheus(prometheus, new URL(srv.url).host);
    const base = prom.base;
    try {
      await waitFor(() => queryBy(base, 'web_requests_total', 'status'), 60_000, `Prometheus to scrape the zeros (log: ${prom.log()})`);
      await w1.call('count', 'GET', '200', 5);
      await w2.call('count', 'GET', '200', 4);
      await w1.call('count', 'POST', '500', 2);
      await w1.call('time', '/a', 0.05, 100);
      await w2.call('time', '/b', 0.5, 50);
      const byStatus = await waitFor(
        async () => {
          const r = await queryBy(base, 'sum by (status) (web_requests_total)', 'status');
          return r && r['200'] === 9 && r['500'] === 2 ? r : undefined;
        },
        30_000,
        'sum by (status) to show 9 and 2',
      );
      assert.deepEqual(byStatus, { '200': 9, '500': 2 });
      // Every sample of /a fell in (0.01, 0.1], of /b in (0.1, 1]: the 99th percentile is
      // interpolated in that bucket, 0.01 + 0.99 × 0.09 and 0.1 + 0.99 × 0.9.
      const q = 'histogram_quantile(0.99, sum by (le, http_route) (rate(web_duration_seconds_bucket[30s])))';
      const p99 = await waitFor(
        async () => {
          const r = await queryBy(base, q, 'http_route');
          return r && Number.isFinite(r['/a']) && Number.isFinite(r['/b']) ? r : undefined;
        },
        30_000,
        'the quantiles',
      );
      assert.ok(Math.abs(p99!['/a']! - 0.0991) < 1e-9, `p99 of /a: ${p99!['/a']}`);
      assert.ok(Math.abs(p99!['/b']! - 0.991) < 1e-9, `p99 of /b: ${p99!['/b']}`);
    } finally {
      await prom.stop();
      await srv.stop();
      await Promise.all([w1.end(), w2.end()]);
    }
  },
);

/** Start `mmstats poll --json` over `dir`, and after its first line make the writers count; resolves with the sum of each column over all lines. */
async function pollSums(dir: string, args: string[], count: () => Promise<void>): Promise<Record<string, number>> {
  const p = startCli(['poll', '-d', '0.3', '-c', '6', '--json', ...args, dir]);
  await waitFor(() => p.stdout().includes('\n'), 20_000, 'the first line of poll');
  await count();
  const r = await p.exited;
  assert.equal(r.code, 0, r.stderr);
  const sums: Record<string, number> = {};
  for (const line of r.stdout.trim().split('\n')) {
    for (const [k, v] of Object.entries((JSON.parse(line) as { values: Record<string, number | null> }).values))
      sums[k] = (sums[k] ?? 0) + (v ?? 0);
  }
  return sums;
}

test('poll takes a selector name{label="value"} (and !=) and --by LABEL sums per value of a label', async () => {
  const dir = tempStatsDir();
  const [w1, w2] = await startWriters(dir);
  // Every child exists before poll starts: a change is counted from its first line.
  for (const [w, m, st] of [
    [w1, 'GET', '200'],
    [w1, 'POST', '200'],
    [w2, 'GET', '500'],
  ] as const)
    await w.call('count', m, st, 0);
  const count = async () => {
    await w1.call('count', 'GET', '200', 5);
    await w1.call('count', 'POST', '200', 3);
    await w2.call('count', 'GET', '500', 2);
  };
  try {
    assert.deepEqual(await pollSums(dir, ['web.requests,web.requests{method="GET"},web.requests{method!="GET"}'], count), {
      'web.requests': 10,
      'web.requests{method="GET"}': 7,
      'web.requests{method!="GET"}': 3,
    });
    assert.deepEqual(await pollSums(dir, ['--by', 'status', 'web.requests'], count), {
      'web.requests{status="200"}': 8,
      'web.requests{status="500"}': 2,
    });
    const bad = await runCli(['poll', 'web.requests{method=GET}', dir]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /selector "web\.requests\{method=GET\}": expected a value in double quotes at character 21/);
  } finally {
    await Promise.all([w1.end(), w2.end()]);
  }
});

test('selectors are parsed in time linear in their length, whatever the input', async () => {
  const { parseSelector, splitSelectors } = await import('../src/tools/selector.js');
  const t0 = performance.now();
  for (const hostile of [
    'a{' + 'x="\\\\'.repeat(20_000),
    'a{' + 'b="",'.repeat(20_000),
    '{'.repeat(50_000),
    'a{b="' + '\\"'.repeat(50_000),
  ]) {
    splitSelectors(hostile);
    assert.throws(() => parseSelector(hostile));
  }
  assert.ok(performance.now() - t0 < 2000, 'pathological selectors are refused quickly');
  assert.deepEqual(parseSelector('x{a="1",b!="q\\"uote"}').matchers, [
    { name: 'a', value: '1', negated: false },
    { name: 'b', value: 'q"uote', negated: true },
  ]);
  assert.deepEqual(splitSelectors('a, b{x="1,2",y="}"} ,c'), ['a', 'b{x="1,2",y="}"}', 'c']);
});
