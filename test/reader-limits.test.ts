/**
 * Bounded memory on huge inputs: a file over the reader's limits is that file's
 * ERR_MMSTATS_LIMIT error (never loaded) in the tools and the server, and serve
 * over a directory of many large files decodes at most its per-read budget.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { StatsReader } from '../src/reader/index.js';
import { runCli, runScript, tempStatsDir, type ScriptProcess } from './helpers/proc.js';
import { getJson, rssKiB, startServe } from './helpers/serve.js';

const BIG_FIELDS = 20_000;
const COPIES = 40;

describe('read limits', { timeout: 180_000 }, () => {
  const dir = tempStatsDir();
  const hostile = tempStatsDir();
  let big: ScriptProcess;
  let small: ScriptProcess;
  let bigPath: string;

  before(async () => {
    big = runScript(
      `
const s = openStats({ name: 'Big', path: env.DIR });
for (let i = 0; i < ${BIG_FIELDS}; i++) s.add('big.f' + i, field.gauge()).set(i);
ready(s.path);
`,
      { env: { DIR: dir } },
    );
    small = runScript(
      `
const s = openStats({ name: 'Small', path: env.DIR });
s.add('small.count', field.counter()).incr(7);
ready(s.path);
`,
      { env: { DIR: dir } },
    );
    [bigPath] = await Promise.all([big.ready, small.ready]);
    // Many large files: copies of the big one, as a hostile user could drop them.
    const bytes = fs.readFileSync(bigPath);
    for (let i = 0; i < COPIES; i++) fs.writeFileSync(path.join(hostile, `copy-${String(i).padStart(2, '0')}.mmstats`), bytes);
  });

  after(async () => {
    await Promise.all([big?.end(), small?.end()]);
  });

  test('the reader API refuses a file over maxFields or maxBytes before decoding it', () => {
    assert.throws(() => StatsReader.open(bigPath, { maxFields: 1000 }), {
      code: 'ERR_MMSTATS_LIMIT',
      message: /holds \d+ fields, more than the 1000 this reader decodes/,
    });
    assert.throws(() => StatsReader.open(bigPath, { maxBytes: 100_000 }), {
      code: 'ERR_MMSTATS_LIMIT',
      message: /bytes, more than the 100000/,
    });
    using r = StatsReader.open(bigPath, { maxFields: BIG_FIELDS + 100 });
    assert.ok(r.read().fields.length > BIG_FIELDS);
  });

  test('slurp: the file over MMSTATS_MAX_FILE_FIELDS is its own error, the others print', async () => {
    const r = await runCli(['slurp', dir], { env: { MMSTATS_MAX_FILE_FIELDS: '1000' } });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /Big.*ERR_MMSTATS_LIMIT: holds \d+ fields, more than the 1000/);
    assert.match(r.stdout, /small\.count +7/);
    assert.doesNotMatch(r.stdout, /big\.f0/);
  });

  test('serve over many large files: decodes at most --max-total-bytes per read, the rest are LIMIT rows', async () => {
    const srv = await startServe(['--port', '0', '--path', hostile, '--max-total-bytes', String(4 * 1024 * 1024)], {
      env: { MMSTATS_MAX_FILE_BYTES: String(64 * 1024 * 1024) },
    });
    try {
      const before = rssKiB(srv.pid);
      const writers = await getJson(srv.url + 'api/writers');
      const rows = writers.body.writers as { status: string; error: { code: string; message: string } | null }[];
      assert.equal(rows.length, COPIES);
      const limited = rows.filter((w) => w.error?.code === 'ERR_MMSTATS_LIMIT');
      const read = rows.filter((w) => w.status !== 'error');
      assert.ok(read.length >= 1 && read.length < 10, `${read.length} files read within 4 MiB`);
      assert.equal(limited.length + read.length, COPIES);
      assert.match(limited[0]!.error!.message, /it would pass the 4194304 bytes one read of all files decodes/);
      // The streamed /api/fields answer holds every field of the files read.
      const fields = await getJson(srv.url + 'api/fields?prefix=big.f1999');
      assert.ok(fields.body.fields.some((f: { label: string }) => f.label === 'big.f19999'));
      const grown = rssKiB(srv.pid) - before;
      assert.ok(grown < 200 * 1024, `serve grew by ${grown} KiB`);
    } finally {
      await srv.stop();
    }
  });

  test('serve: a file over MMSTATS_MAX_FILE_BYTES is an error row, the small file is served', async () => {
    const srv = await startServe(['--port', '0', '--path', dir], { env: { MMSTATS_MAX_FILE_BYTES: '200000' } });
    try {
      const writers = await getJson(srv.url + 'api/writers');
      const rows = writers.body.writers as { name: string; status: string; error: { code: string } | null }[];
      assert.equal(rows.find((w) => w.name.includes('Big'))?.error?.code, 'ERR_MMSTATS_LIMIT');
      assert.equal(rows.find((w) => w.name.includes('Small'))?.status, 'alive');
      const metrics = await (await fetch(srv.url + 'metrics')).text();
      assert.match(metrics, /small_count_total\{.*\} 7/);
      assert.match(metrics, /mmstats_file_error\{.*code="ERR_MMSTATS_LIMIT".*\} 1/);
    } finally {
      await srv.stop();
    }
  });
});
