/**
 * Smaller reader hardening: a record that declares more than its value holds is
 * reported as malformed in words; a reader that saw its file truncated reads it
 * again once it has regrown; serve lets go of removed files without waiting for
 * a request.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { StatsReader } from '../src/reader/index.js';
import { DataType, Header, Record as Rec } from '../src/format/v2.js';
import { runCli, runScript, tempStatsDir, waitFor, type ScriptProcess } from './helpers/proc.js';
import { fdCount, getJson, mappingCount, startServe } from './helpers/serve.js';

/** The offset of the first record of `dataType` in a v2 file. */
function recordOf(bytes: Buffer, dataType: number): number {
  const count = bytes.readUInt32LE(Header.FIELD_COUNT);
  let at = bytes.readUInt32LE(Header.FIRST_RECORD);
  for (let i = 0; i < count; i++) {
    if (bytes.readUInt16LE(at + Rec.DATA_TYPE) === dataType) return at;
    at = bytes.readUInt32LE(at + Rec.NEXT);
  }
  throw new Error(`no record of type ${dataType}`);
}

describe('reader hardening', { timeout: 60_000 }, () => {
  const dir = tempStatsDir();
  let w: ScriptProcess;
  let file: string;

  before(async () => {
    w = runScript(
      `
const s = openStats({ name: 'Hist', path: env.DIR, keep: true });
const h = s.add('lat', field.histogram({ buckets: [1, 2, 4] }));
h.record(1.5);
s.add('ok.count', field.counter()).incr(9);
// Records past the first page: a read of a file cut to one page touches pages past its end.
for (let i = 0; i < 200; i++) s.add('pad.' + i, field.gauge()).set(i);
ready(s.path);
`,
      { env: { DIR: dir } },
    );
    file = await w.ready;
  });

  after(async () => {
    await w?.end();
  });

  test('a histogram whose value block is smaller than it declares: ERR_MMSTATS_MALFORMED with the reason', async () => {
    const copy = path.join(dir, 'copy-hist.mmstats');
    const bytes = fs.readFileSync(file);
    const at = recordOf(bytes, DataType.HISTOGRAM);
    bytes.writeUInt32LE(16, at + Rec.VALUE_SIZE);
    bytes.writeUInt32LE(0xffff_fff0, at + Rec.PARAM);
    fs.writeFileSync(copy, bytes);
    const r = await runCli(['slurp', dir]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /copy-hist\.mmstats: ERR_MMSTATS_MALFORMED: .*histogram value of 16 bytes cannot hold its 5 scalars/);
    assert.doesNotMatch(r.stderr, /typed array/i);
    assert.match(r.stdout, /ok\.count +9/, 'the good file is still printed');

    // More buckets than the block holds is refused the same way, not read short.
    bytes.writeUInt32LE(8 + (5 + 4) * 8, at + Rec.VALUE_SIZE);
    fs.writeFileSync(copy, bytes);
    const r2 = await runCli(['slurp', copy]);
    assert.match(r2.stderr, /ERR_MMSTATS_MALFORMED: .*histogram declares 4294967280 buckets but its 80-byte value holds 4/);
    fs.rmSync(copy);
  });

  test('a reader that saw its file truncated reads it again once it regrows', () => {
    const copy = path.join(dir, 'regrow.mmstats');
    const bytes = fs.readFileSync(file);
    fs.writeFileSync(copy, bytes);
    const reader = StatsReader.open(copy);
    try {
      // Truncated between open and the first read: the read touches pages past the end (they fault).
      fs.truncateSync(copy, 4096);
      assert.throws(() => reader.read(), { code: 'ERR_MMSTATS_TRUNCATED' });
      assert.throws(() => reader.read(), { code: 'ERR_MMSTATS_TRUNCATED' });
      fs.writeFileSync(copy, bytes);
      const again = reader.read();
      assert.equal(again.fields.find((f) => f.label === 'ok.count')?.value, 9);
      assert.equal((again.fields.find((f) => f.label === 'lat')?.value as { count: number }).count, 1);
      assert.equal(again.fields.find((f) => f.label === 'pad.199')?.value, 199);
    } finally {
      reader.close();
      fs.rmSync(copy);
    }
  });

  test('serve closes the descriptor and mapping of a removed file without a request', async () => {
    const served = tempStatsDir();
    const names = ['a', 'b', 'c'].map((n) => path.join(served, `${n}.mmstats`));
    const bytes = fs.readFileSync(file);
    for (const n of names) fs.writeFileSync(n, bytes);
    const srv = await startServe(['--port', '0', '--path', served]);
    try {
      const first = await getJson(srv.url + 'api/status');
      assert.equal(first.body.openReaders, 3);
      assert.equal(mappingCount(srv.pid, served), 3);
      const fds = fdCount(srv.pid);
      for (const n of names) fs.rmSync(n);
      // No request from here on: only the server's own sweep may let go of them.
      await waitFor(() => mappingCount(srv.pid, served) === 0, 10_000, 'the mappings of the removed files to go');
      assert.ok(fdCount(srv.pid) <= fds - 3, 'their descriptors closed');
    } finally {
      await srv.stop();
    }
  });
});
