/**
 * A legal file of 130,000 fields (the format allows 1,000,000) next to an
 * ordinary one: slurp, top, poll and serve show both. A spread over the fields
 * (`Math.max(...fields)`) overflowed the stack here and hid every file.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { runCli, runScript, tempStatsDir, type ScriptProcess } from './helpers/proc.js';
import { startServe, type ServeProcess } from './helpers/serve.js';

const FIELDS = 130_000;

/** Generous: each command reads 130,000 fields, and CI machines may be busy. */
const SLOW = { timeoutMs: 120_000 };

describe('tools over a file of 130,000 fields', { timeout: 400_000 }, () => {
  const dir = tempStatsDir();
  let big: ScriptProcess;
  let small: ScriptProcess;
  let srv: ServeProcess;

  before(async () => {
    big = runScript(
      `
const s = openStats({ name: 'Big', path: env.DIR });
for (let i = 0; i < ${FIELDS}; i++) s.add('big.f' + i, field.gauge()).set(i);
ready(s.path);
`,
      { env: { DIR: dir } },
    );
    small = runScript(
      `
const s = openStats({ name: 'Small', path: env.DIR });
s.add('small.count', field.counter()).incr(42);
ready(s.path);
`,
      { env: { DIR: dir } },
    );
    await Promise.all([big.ready, small.ready]);
    srv = await startServe(['--port', '0', '--path', dir]);
  });

  after(async () => {
    await srv?.stop();
    await Promise.all([big?.end(), small?.end()]);
  });

  test('slurp prints both files', async () => {
    const r = await runCli(['slurp', dir], SLOW);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /big\.f129999 +129999/);
    assert.match(r.stdout, /small\.count +42/);
  });

  test('slurp --json prints both files', async () => {
    const r = await runCli(['slurp', '--json', dir], SLOW);
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout) as { files: { fields: { label: string }[] }[]; errors: unknown[] };
    assert.deepEqual(doc.errors, []);
    assert.equal(doc.files.length, 2);
    const bigFile = doc.files.find((f) => f.fields.some((x) => x.label === 'big.f0'));
    assert.ok(bigFile && bigFile.fields.length >= FIELDS, 'the big file with all its fields');
    assert.ok(
      doc.files.some((f) => f.fields.some((x) => x.label === 'small.count')),
      'the small file',
    );
    assert.ok(doc.files.some((f) => f.fields.some((x) => x.label === 'big.f129999')));
  });

  test('top --batch shows both writers', async () => {
    const r = await runCli(['top', '--batch', dir], { ...SLOW, env: { COLUMNS: '120', LINES: '40' } });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Big/);
    assert.match(r.stdout, /Small/);
  });

  test('poll reads the fields of both files', async () => {
    const r = await runCli(['poll', '--json', '-c', '1', '-d', '0.1', 'small.count,big.f129999', dir], SLOW);
    assert.equal(r.code, 0, r.stderr);
    const line = JSON.parse(r.stdout.trim().split('\n')[0]!) as { files: number; values: Record<string, unknown> };
    assert.equal(line.files, 2);
    assert.equal(line.values['big.f129999'], 129999);
    assert.ok('small.count' in line.values);
  });

  test('serve: /api/fields, /metrics and /stats/?aggr=max answer with both', async () => {
    const fields = (await (await fetch(srv.url + 'api/fields?prefix=small')).json()) as { fields: { label: string }[] };
    assert.deepEqual(
      fields.fields.map((f) => f.label),
      ['small.count'],
    );
    const metrics = await (await fetch(srv.url + 'metrics')).text();
    assert.match(metrics, /^small_count_total\{.*\} 42$/m);
    assert.match(metrics, /^big_f129999\{.*\} 129999$/m);
    const max = (await (await fetch(srv.url + 'stats/big.f12999?exact=1&aggr=max')).json()) as Record<string, unknown>;
    assert.deepEqual(max, { 'big.f12999': 12999 });
  });
});
