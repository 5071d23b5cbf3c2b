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
    'mmstats families /metrics (plan kept)',
  ]) {
    assert.ok(res.stdout.includes(row), `missing "${row}" in:\n${res.stdout}`);
  }
  assert.ok(!res.stdout.includes('scrape run failed'), res.stdout);
  // The scrape section: each service, unscraped and scraped, and every scrape carried its 1,000 series
  // (prom-client's from its own /metrics, the others' through mmstats serve reading their file).
  for (const service of ['prom-client 15, its own /metrics', 'mmstats/prom-client, mmstats serve', 'mmstats native API, mmstats serve']) {
    assert.match(res.stdout, new RegExp(`^${service}\\s+1,000\\s+no\\s`, 'm'), res.stdout);
    assert.match(res.stdout, new RegExp(`^${service}\\s+1,000\\s+yes\\s+(\\S+\\s+){5}\\d+\\s+1000\\s`, 'm'), res.stdout);
  }
});
