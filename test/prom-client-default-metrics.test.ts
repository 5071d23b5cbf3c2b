/**
 * collectDefaultMetrics(): the same metrics as prom-client's, under the same names,
 * help texts, types, aggregators and label names, with prefix and labels; and
 * values that say what they claim (CPU time grows with work, the version is this
 * Node's, open fds are counted).
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import * as mine from '../src/integrations/prom-client/index.js';
import { tempStatsDir } from './helpers/proc.js';

// The drop-in publishes its metrics in a file: this test's own directory, not the user's.
process.env.MMSTATS_PATH = tempStatsDir();

const theirs = createRequire(import.meta.url)('prom-client');

/** What a dashboard depends on: per metric, its help, type, aggregator and label names (values aside). */
async function shape(client: any, options: object): Promise<Record<string, string>> {
  const reg = new client.Registry();
  client.collectDefaultMetrics({ register: reg, ...options });
  // Make a GC happen so that the GC histogram has samples in both.
  const junk: unknown[] = [];
  for (let i = 0; i < 200_000; i++) junk.push({ i });
  junk.length = 0;
  await new Promise((r) => setTimeout(r, 50));
  const out: Record<string, string> = {};
  for (const m of await reg.getMetricsAsJSON()) {
    const labelNames = new Set<string>();
    for (const v of m.values) for (const k of Object.keys(v.labels)) labelNames.add(k);
    out[m.name] = `${m.help} | ${m.type} | ${m.aggregator} | ${[...labelNames].sort().join(',')}`;
  }
  return out;
}

test('the default metrics have prom-client names, help, types, aggregators and labels', async () => {
  for (const options of [
    {},
    { prefix: 'app_', labels: { service: 'api', zone: 'z1' }, gcDurationBuckets: [0.001, 0.5], eventLoopMonitoringPrecision: 20 },
  ]) {
    const expected = await shape(theirs, options);
    const actual = await shape(mine, options);
    // The GC histogram has samples only once a collection happened in that registry's lifetime.
    const gc = Object.keys(expected).find((n) => n.endsWith('nodejs_gc_duration_seconds'))!;
    if (actual[gc]!.endsWith('| ') || expected[gc]!.endsWith('| ')) {
      delete actual[gc];
      delete expected[gc];
    }
    assert.deepEqual(actual, expected);
  }
  assert.deepEqual(mine.collectDefaultMetrics.metricsList, theirs.collectDefaultMetrics.metricsList);
});

test('the default metrics report this process', async () => {
  const reg = new mine.Registry();
  mine.collectDefaultMetrics({ register: reg, gcDurationBuckets: [0.0001, 0.5, 10] });
  const first = await reg.metrics();
  const end = Date.now() + 200;
  while (Date.now() < end); // CPU time
  const text = await reg.metrics();
  const value = (t: string, name: string) => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(t)?.[1]);
  assert.ok(value(text, 'process_cpu_seconds_total') > value(first, 'process_cpu_seconds_total'));
  const [major, minor, patch] = process.version.slice(1).split('.');
  assert.match(
    text,
    new RegExp(`^nodejs_version_info\\{version="${process.version}",major="${major}",minor="${minor}",patch="${patch}"\\} 1$`, 'm'),
  );
  assert.ok(value(text, 'process_open_fds') > 0);
  assert.ok(value(text, 'process_resident_memory_bytes') > 10e6);
  assert.ok(value(text, 'nodejs_heap_size_used_bytes') > 1e6);
  assert.ok(Math.abs(value(text, 'process_start_time_seconds') - (Date.now() / 1000 - process.uptime())) <= 1);
  assert.match(text, /^nodejs_heap_space_size_used_bytes\{space="old"\} \d+$/m);
  assert.match(text, /^# TYPE nodejs_gc_duration_seconds histogram$/m);
});
