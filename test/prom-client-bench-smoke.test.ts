import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { DIST, tempStatsDir } from './helpers/proc.js';

// Benchmarks are not tests: this only keeps the prom-client comparison running. No time is asserted.
test('the prom-client comparison runs in smoke mode and reports every call for both libraries', () => {
  const res = spawnSync(process.execPath, [path.join(DIST, 'bench', 'prom-client.js'), '--smoke'], {
    encoding: 'utf8',
    timeout: 120_000,
    env: { ...process.env, MMSTATS_PATH: tempStatsDir() },
  });
  assert.equal(res.status, 0, res.stderr);
  for (const row of [
    'unlabelled inc()',
    'inc(labels)',
    "labels('GET', '200').inc()",
    'observe(labels, v)',
    'startTimer() + end()',
    'register.metrics()',
  ]) {
    const line = res.stdout.split('\n').find((l) => l.startsWith(row));
    assert.ok(line !== undefined && /\d\.\dx$/.test(line), `missing "${row}" in:\n${res.stdout}`);
  }
});
