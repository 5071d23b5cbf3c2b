/**
 * Hostile files and directories: what a writer refuses to create or overwrite,
 * and what a reader does with things planted where stats files are expected.
 * (The plain directory and file checks are in core-paths.test.ts.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { MmstatsError, openStats, StatsReader } from '../src/index.js';
import { runScript, tempStatsDir } from './helpers/proc.js';

const isRoot = process.getuid?.() === 0;
const NOBODY = 65534;

function unsafe(pattern: RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof MmstatsError, `an MmstatsError, not ${String(err)}`);
    assert.equal(err.code, 'ERR_MMSTATS_UNSAFE_PATH');
    assert.match(err.message, pattern);
    return true;
  };
}

test('a stats directory owned by another user is refused and nothing is created in it', () => {
  let dir: string;
  if (isRoot) {
    dir = tempStatsDir();
    fs.chownSync(dir, NOBODY, NOBODY);
  } else {
    // Without root, a directory of root's is the foreign one at hand.
    dir = '/';
  }
  const before = fs.readdirSync(dir);
  assert.throws(() => openStats({ name: 'Foreign', path: dir }), unsafe(/belongs to uid \d+, not to this user/));
  assert.deepEqual(fs.readdirSync(dir), before);
});

test('a hard link planted at the file name is not truncated through: the linked file keeps its data', () => {
  const dir = tempStatsDir();
  const outside = tempStatsDir();
  const victim = path.join(outside, 'precious.db');
  fs.writeFileSync(victim, 'precious data');
  fs.linkSync(victim, path.join(dir, 'linked.mmstats'));
  assert.throws(() => openStats({ name: 'L', path: dir, filename: 'linked.mmstats' }), unsafe(/hard links/));
  assert.equal(fs.readFileSync(victim, 'utf8'), 'precious data');
});

test('a file of the same name that is not a stats file is not overwritten; a half-made stats file is taken over', () => {
  const dir = tempStatsDir();
  const other = path.join(dir, 'notes.mmstats');
  fs.writeFileSync(other, 'not metrics, but somebody needs this');
  assert.throws(() => openStats({ name: 'N', path: dir, filename: 'notes.mmstats' }), unsafe(/not a stats file/));
  assert.equal(fs.readFileSync(other, 'utf8'), 'not metrics, but somebody needs this');

  // A writer that died between creating and writing its header leaves zeros: that is a stats file.
  const zeros = path.join(dir, 'zeros.mmstats');
  fs.writeFileSync(zeros, Buffer.alloc(16384));
  const stats = openStats({ name: 'Z', path: dir, filename: 'zeros.mmstats' });
  try {
    assert.equal(stats.path, zeros);
    const r = StatsReader.open(zeros);
    assert.ok(r.read().fields.some((f) => f.label === 'sys.pid'));
    r.close();
  } finally {
    stats.remove();
  }
});

const READ_ALL = `
on('readAll', (dir) => {
  const t0 = Date.now();
  const { snapshots, errors } = mmstats.readAll([dir]);
  return {
    ms: Date.now() - t0,
    ok: snapshots.map((s) => s.path),
    errors: Object.fromEntries(errors.map((e) => [e.path.split('/').pop(), e.error.code])),
  };
});
ready();
`;

test(
  'things planted under stats names give a reader in another process one typed error each, in bounded time',
  { timeout: 60_000 },
  async () => {
    const dir = tempStatsDir();
    const p = (name: string) => path.join(dir, name);
    fs.symlinkSync('/dev/zero', p('zero.mmstats'));
    fs.symlinkSync('/etc/passwd', p('passwd.mmstats'));
    const fifo = spawnSync('mkfifo', [p('fifo.mmstats')]);
    if (fifo.error || fifo.status !== 0) throw new Error(`mkfifo failed (install coreutils): ${fifo.error?.message ?? fifo.stderr}`);
    fs.mkdirSync(p('dir.mmstats'));
    // Sparse files: larger than any stats file can be, and a big file of zeros.
    fs.writeFileSync(p('huge.mmstats'), '');
    fs.truncateSync(p('huge.mmstats'), 2 ** 32 + 4096);
    fs.writeFileSync(p('zeros.mmstats'), '');
    fs.truncateSync(p('zeros.mmstats'), 1 << 30);
    fs.writeFileSync(p('text.mmstats'), 'hello, I am not a stats file\n');
    const server = net.createServer().listen(p('socket.mmstats'));
    await new Promise((r) => server.once('listening', r));
    const reader = runScript(READ_ALL);
    try {
      await reader.ready;
      const r = (await reader.call('readAll', dir)) as { ms: number; ok: string[]; errors: Record<string, string> };
      assert.deepEqual(r.ok, []);
      assert.deepEqual(r.errors, {
        'dir.mmstats': 'ERR_MMSTATS_UNSAFE_PATH',
        'fifo.mmstats': 'ERR_MMSTATS_UNSAFE_PATH',
        'huge.mmstats': 'ERR_MMSTATS_MALFORMED',
        'passwd.mmstats': 'ERR_MMSTATS_UNSAFE_PATH',
        'socket.mmstats': 'ERR_MMSTATS_IO',
        'text.mmstats': 'ERR_MMSTATS_NOT_STATS',
        'zero.mmstats': 'ERR_MMSTATS_UNSAFE_PATH',
        'zeros.mmstats': 'ERR_MMSTATS_INITIALISING',
      });
      assert.ok(r.ms < 10_000, `readAll took ${r.ms} ms`);
    } finally {
      await reader.end();
      server.close();
    }
  },
);

test('a file replaced by a symlink after a reader opened it: the reader keeps its file, a new open refuses the link', async () => {
  const dir = tempStatsDir();
  const writer = runScript(
    `
const stats = openStats({ name: 'Swap', path: env.DIR, defaultFields: false });
stats.add('c', field.counter()).incr(7);
ready(stats.path);
`,
    { env: { DIR: dir } },
  );
  try {
    const file = (await writer.ready) as string;
    const r = StatsReader.open(file);
    const elsewhere = path.join(tempStatsDir(), 'elsewhere');
    fs.writeFileSync(elsewhere, 'x'.repeat(100));
    fs.renameSync(file, `${file}.moved`);
    fs.symlinkSync(elsewhere, file);
    assert.equal(r.read().fields.find((f) => f.label === 'c')?.value, 7);
    r.close();
    assert.throws(() => StatsReader.open(file), unsafe(/symbolic link/));
  } finally {
    await writer.end();
  }
});
