import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CLI, runCli, runScript, tempStatsDir, type ScriptProcess } from './helpers/proc.js';

const WRITER = `
const stats = openStats({ name: 'Web', path: env.DIR });
const requests = stats.add('web.requests', field.counter({ unit: 'requests', help: 'requests served' }));
const load = stats.add('web.load', field.gauge());
const url = stats.add('web.url', field.string({ size: 64 }));
const latency = stats.add('web.latency', field.histogram({ unit: 'seconds' }));
for (const v of [1, 2, 3, 4]) latency.record(v);
on('set', (n, l, u) => { requests.incr(n); load.set(l); url.set(u); });
ready(stats.path);
`;

describe('mmstats slurp', () => {
  let dir: string;
  let writer: ScriptProcess;
  let file: string;
  let bad: string;
  let truncated: string;

  before(async () => {
    dir = tempStatsDir();
    writer = runScript(WRITER, { env: { DIR: dir } });
    file = await writer.ready;
    await writer.call('set', 41, 2.5, '/index.html');
    bad = path.join(dir, 'aaa-garbage.mmstats');
    fs.writeFileSync(bad, 'this is not a stats file\n');
    truncated = path.join(dir, 'zzz-truncated.mmstats');
    fs.writeFileSync(truncated, fs.readFileSync(file).subarray(0, 100));
  });
  after(async () => {
    await writer.end();
  });

  test('prints each readable file with its writer, labels aligned, values and units, and reports bad files on stderr with exit 1', async () => {
    const r = await runCli(['slurp', dir]);
    assert.equal(r.code, 1, r.stderr);
    const lines = r.stdout.split('\n');
    const head = lines.indexOf(`==> ${file}`);
    assert.ok(head >= 0, `stdout: ${r.stdout}\nstderr: ${r.stderr}`);
    assert.match(lines[head + 1]!, new RegExp(`pid ${writer.pid} .*alive.*format 2`));
    const fields = lines.slice(head + 2).filter((l) => l !== '');
    const req = fields.find((l) => l.startsWith('web.requests '));
    assert.match(req ?? '', /^web\.requests +41 requests$/);
    assert.match(fields.find((l) => l.startsWith('web.load ')) ?? '', /^web\.load +2\.5$/);
    assert.match(fields.find((l) => l.startsWith('web.url ')) ?? '', /^web\.url +\/index\.html$/);
    assert.match(
      fields.find((l) => l.startsWith('web.latency ')) ?? '',
      /^web\.latency +count=4 sum=10 min=1 max=4 p50=[\d.]+ p90=[\d.]+ p99=[\d.]+ seconds$/,
    );
    // Labels padded to one width: every value starts in the same column.
    const columns = new Set(fields.map((l) => l.search(/ \S/)));
    assert.equal(columns.size, 1, fields.join('\n'));
    assert.ok(!r.stdout.includes('\x1b['), 'no colour when stdout is not a terminal');
    assert.match(r.stderr, new RegExp(`${bad}: ERR_MMSTATS_NOT_STATS`));
    assert.match(r.stderr, new RegExp(`${truncated}: ERR_MMSTATS_MALFORMED`));
    assert.doesNotMatch(r.stdout, /garbage|truncated/);
  });

  test('shows the change of a value between two runs', async () => {
    await writer.call('set', 9, 7, '/other');
    const r = await runCli(['slurp', file]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^web\.requests +50 requests$/m);
    assert.match(r.stdout, /^web\.url +\/other$/m);
  });

  test('--json prints one document with writer identity, field metadata and values, and the errors', async () => {
    const r = await runCli(['slurp', '--json', dir]);
    assert.equal(r.code, 1);
    const doc = JSON.parse(r.stdout) as {
      files: { path: string; format: number; writer: { pid: number; alive: boolean }; fields: Record<string, unknown>[] }[];
      errors: { path: string; code: string }[];
    };
    assert.equal(doc.files.length, 1);
    const f = doc.files[0]!;
    assert.equal(f.path, file);
    assert.equal(f.format, 2);
    assert.equal(f.writer.pid, writer.pid);
    assert.equal(f.writer.alive, true);
    const requests = f.fields.find((x) => x.label === 'web.requests');
    assert.deepEqual(
      { kind: requests?.kind, unit: requests?.unit, help: requests?.help, value: requests?.value },
      { kind: 'counter', unit: 'requests', help: 'requests served', value: 50 },
    );
    assert.equal(f.fields.find((x) => x.label === 'web.url')?.type, 'string');
    assert.deepEqual(doc.errors.map((e) => [path.basename(e.path), e.code]).sort(), [
      ['aaa-garbage.mmstats', 'ERR_MMSTATS_NOT_STATS'],
      ['zzz-truncated.mmstats', 'ERR_MMSTATS_MALFORMED'],
    ]);
  });

  test('--prefix keeps only the fields whose label starts with it', async () => {
    const r = await runCli(['slurp', '--json', '--prefix', 'web.', file]);
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout) as { files: { fields: { label: string }[] }[] };
    assert.deepEqual(doc.files[0]!.fields.map((x) => x.label).sort(), ['web.latency', 'web.load', 'web.requests', 'web.url']);
  });

  test('reads the default glob from MMSTATS_GLOB when given no paths', async () => {
    const r = await runCli(['slurp'], { env: { MMSTATS_GLOB: path.join(dir, '*-Web-*.mmstats'), MMSTATS_PATH: '' } });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^==> ${file}$`, 'm'));
  });

  test('ends quietly with status 0 when its output pipe is closed early', () => {
    // Enough copies of the file that the output overflows the pipe buffer after head leaves.
    const many = tempStatsDir();
    const bytes = fs.readFileSync(file);
    for (let i = 0; i < 300; i++) fs.writeFileSync(path.join(many, `copy-${i}.mmstats`), bytes);
    const r = spawnSync('bash', ['-c', `set -o pipefail; "${process.execPath}" "${CLI}" slurp "${many}" | head -n 2`], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.split('\n').length, 3);
    assert.equal(r.stderr, '');
  });
});
