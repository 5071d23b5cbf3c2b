import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { DIST } from './helpers/proc.js';

// Benchmarks are not tests: this only keeps them running. It asserts that every
// section ran and printed its rows, never a time.
test('the benchmarks run end to end in smoke mode and report every section', () => {
  const res = spawnSync(process.execPath, [path.join(DIST, 'bench', 'run.js'), '--smoke', '--reader-files', '5'], {
    encoding: 'utf8',
    timeout: 180_000,
  });
  assert.equal(res.status, 0, res.stderr);
  for (const row of [
    'limit: Float64Array increment',
    'mmstats v2 counter incr',
    'mmstats v1 counter incr',
    'prom-client labelled inc(labels)',
    'OpenTelemetry counter add(attrs)',
    'allocation across',
    'open a model of 100 fields',
    "limit: a histogram's least work",
    'event-loop p99 ms',
    'mmstats (mmstats serve --nice 19)',
    'mmstats families /metrics (plan kept)',
  ]) {
    assert.ok(res.stdout.includes(row), `missing "${row}" in:\n${res.stdout}`);
  }
  assert.ok(!res.stdout.includes('scrape run failed'), res.stdout);
});
