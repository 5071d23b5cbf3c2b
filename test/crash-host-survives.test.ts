/**
 * The host program is never taken down by its stats: no space, a read-only file
 * system or no permission give a clear MmstatsError at open (or at a later add),
 * `onError: 'memory'` goes on in memory with one warning, and a field used after
 * close throws a JavaScript error. Each scenario runs the writer in its own process.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { ENTRY_URL, runScript, tempStatsDir } from './helpers/proc.js';

const run = promisify(execFile);
const isRoot = process.getuid?.() === 0;
const NOBODY = 65534;

/** Mount a small tmpfs (root only) for the test; returns its path. */
function tinyFs(t: TestContext, kib: number, readOnly = false): string | undefined {
  if (!isRoot) {
    t.skip('mounting a small tmpfs needs root');
    return undefined;
  }
  const dir = tempStatsDir('mmstats-tinyfs-');
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${kib}k,mode=0700${readOnly ? ',ro' : ''}`, 'tmpfs', dir]);
  if (r.error || r.status !== 0) throw new Error(`mount failed (util-linux mount): ${r.error?.message ?? r.stderr}`);
  t.after(() => spawnSync('umount', ['-l', dir]));
  return dir;
}

/** Fill `dir` until about `leaveKib` KiB are free. */
function fill(dir: string, leaveKib: number): void {
  const { bavail, bsize } = fs.statfsSync(dir);
  const bytes = bavail * bsize - leaveKib * 1024;
  if (bytes > 0) fs.writeFileSync(path.join(dir, 'filler'), Buffer.alloc(bytes));
}

const OPENER = `
const warnings = [];
process.on('warning', (w) => warnings.push(w.code));
on('open', async (dir, onError) => {
  try {
    const s = openStats({ name: 'Host', path: dir, onError, defaultFields: false });
    const c = s.add('c', field.counter());
    c.incr(41);
    c.incr();
    const again = openStats({ name: 'Second', path: dir, onError, defaultFields: false });
    const result = { inMemory: s.inMemory, secondInMemory: again.inMemory, value: c.value, path: s.path };
    s.close();
    again.close();
    await new Promise((r) => setImmediate(r)); // warnings are emitted on the next tick
    let afterClose = 'no error';
    try { c.incr(); } catch (err) { afterClose = err.code; }
    return { ...result, afterClose, warnings: [...new Set(warnings)], warningCount: warnings.length };
  } catch (err) {
    return { code: err.code, message: err.message };
  }
});
on('grow', async (dir, onError, n) => {
  const s = openStats({ name: 'Grow', path: dir, onError, defaultFields: false });
  const first = s.add('first', field.counter());
  first.incr(7);
  const fileAtStart = s.inMemory ? null : s.path;
  let added = 0;
  let error = null;
  try {
    for (; added < n; added++) s.add('f.' + added, field.string({ size: 1000 })).set('x'.repeat(1000));
  } catch (err) {
    error = err.code + ': ' + err.message;
  }
  first.incr();
  const out = { added, error, first: first.value, inMemory: s.inMemory, warnings, fileLeft: fileAtStart !== null && (await import('node:fs')).existsSync(fileAtStart) };
  s.remove();
  return out;
});
ready();
`;

test('a full file system: open throws ERR_MMSTATS_IO naming ENOSPC and leaves no file; onError memory goes on in memory', async (t) => {
  const dir = tinyFs(t, 64);
  if (!dir) return;
  fill(dir, 4);
  const w = runScript(OPENER);
  try {
    await w.ready;
    const thrown = await w.call('open', dir, 'throw');
    assert.equal(thrown.code, 'ERR_MMSTATS_IO');
    assert.match(thrown.message, /ENOSPC|space/i);
    assert.deepEqual(fs.readdirSync(dir), ['filler'], 'no half-made file is left');

    const mem = await w.call('open', dir, 'memory');
    assert.equal(mem.inMemory, true);
    assert.equal(mem.secondInMemory, true);
    assert.equal(mem.value, 42, 'the fields work in memory');
    assert.equal(mem.afterClose, 'ERR_MMSTATS_CLOSED');
    assert.deepEqual(mem.warnings, ['MMSTATS_IN_MEMORY']);
    assert.equal(mem.warningCount, 1, 'one warning per process, however many opens fell back');
    assert.deepEqual(fs.readdirSync(dir), ['filler']);
  } finally {
    await w.end();
  }
});

test('a file system that fills up later: add throws ERR_MMSTATS_IO and the fields already there keep working', async (t) => {
  const dir = tinyFs(t, 64);
  if (!dir) return;
  fill(dir, 24);
  const w = runScript(OPENER);
  try {
    await w.ready;
    const r = await w.call('grow', dir, 'throw', 1000);
    assert.ok(r.added > 0 && r.added < 1000, `added ${r.added} fields before the disk was full`);
    assert.match(r.error, /^ERR_MMSTATS_IO: .*(ENOSPC|space)/i);
    assert.equal(r.first, 8);
    assert.equal(r.inMemory, false);
  } finally {
    await w.end();
  }
});

test('with onError memory, a file system that fills up later moves the stats to memory and deletes the stale file', async (t) => {
  const dir = tinyFs(t, 64);
  if (!dir) return;
  fill(dir, 24);
  const w = runScript(OPENER);
  try {
    await w.ready;
    const r = await w.call('grow', dir, 'memory', 1000);
    assert.equal(r.error, null);
    assert.equal(r.added, 1000, 'every field was added');
    assert.equal(r.first, 8, 'a field placed before the move kept its value and keeps counting');
    assert.equal(r.inMemory, true);
    assert.equal(r.fileLeft, false);
    assert.deepEqual(r.warnings, ['MMSTATS_IN_MEMORY']);
  } finally {
    await w.end();
  }
});

test('a read-only file system: open throws ERR_MMSTATS_IO naming EROFS; onError memory goes on in memory', async (t) => {
  const dir = tinyFs(t, 64, true);
  if (!dir) return;
  const w = runScript(OPENER);
  try {
    await w.ready;
    const thrown = await w.call('open', dir, undefined);
    assert.equal(thrown.code, 'ERR_MMSTATS_IO');
    assert.match(thrown.message, /EROFS|read-only/i);
    const mem = await w.call('open', dir, 'memory');
    assert.equal(mem.inMemory, true);
    assert.equal(mem.value, 42);
  } finally {
    await w.end();
  }
});

test('no permission to create the file: open throws ERR_MMSTATS_IO naming EACCES; onError memory goes on', async () => {
  // A directory the writer owns but may not write to; as root, the writer runs as nobody.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mmstats-noperm-'));
  process.once('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  const uid = isRoot ? NOBODY : process.getuid!();
  if (isRoot) fs.chownSync(dir, NOBODY, NOBODY);
  fs.chmodSync(dir, 0o500);
  const script = `
import { openStats, field } from ${JSON.stringify(ENTRY_URL)};
const out = {};
try { openStats({ name: 'P', path: ${JSON.stringify(dir)} }); } catch (err) { out.code = err.code; out.message = err.message; }
const s = openStats({ name: 'P', path: ${JSON.stringify(dir)}, onError: 'memory' });
s.add('c', field.counter()).incr(3);
out.inMemory = s.inMemory;
out.value = s.get('c').value;
process.stdout.write(JSON.stringify(out));
`;
  const { stdout } = await run(process.execPath, ['--no-warnings', '--input-type=module', '-e', script], {
    uid,
    gid: isRoot ? NOBODY : process.getgid!(),
    cwd: '/',
  });
  const out = JSON.parse(stdout) as { code: string; message: string; inMemory: boolean; value: number };
  assert.equal(out.code, 'ERR_MMSTATS_IO');
  assert.match(out.message, /EACCES|permission/i);
  assert.equal(out.inMemory, true);
  assert.equal(out.value, 3);
  assert.deepEqual(fs.readdirSync(dir), []);
});

test('every field type, in both formats, throws ERR_MMSTATS_CLOSED on use after close or remove, and the process lives on', async () => {
  const dir = tempStatsDir();
  const w = runScript(
    `
on('closeAndPoke', (format, how) => {
  const s = openStats({ name: 'Closed' + format + how, path: env.DIR, format, defaultFields: false });
  const fields = [
    ['counter', s.add('counter', field.counter()), (f) => f.incr()],
    ['gauge', s.add('gauge', field.gauge()), (f) => f.set(1)],
    ['int32', s.add('int32', field.int32()), (f) => f.set(1)],
    ['uint64', s.add('uint64', field.uint64()), (f) => f.set(1n)],
    ['bool', s.add('bool', field.bool()), (f) => f.set(true)],
    ['string', s.add('string', field.string({ size: 8 })), (f) => f.set('x')],
  ];
  if (format === 2) fields.push(['compound', s.add('compound', field.compound(['a'])), (f) => f.set({ a: 1 })]);
  if (how === 'close') s.close(); else s.remove();
  const codes = {};
  for (const [name, f, poke] of fields) {
    try { poke(f); codes[name] = 'no error'; } catch (err) { codes[name] = err.code; }
  }
  try { s.add('late', field.counter()); codes.add = 'no error'; } catch (err) { codes.add = err.code; }
  try { s.flush(); codes.flush = 'no error'; } catch (err) { codes.flush = err.code; }
  return codes;
});
ready();
`,
    { env: { DIR: dir } },
  );
  try {
    await w.ready;
    for (const format of [1, 2]) {
      for (const how of ['close', 'remove']) {
        const codes = (await w.call('closeAndPoke', format, how)) as Record<string, string>;
        for (const [name, code] of Object.entries(codes)) assert.equal(code, 'ERR_MMSTATS_CLOSED', `format ${format}, ${how}: ${name}`);
      }
    }
  } finally {
    assert.equal(await w.end(), 0, w.stderr());
  }
});
