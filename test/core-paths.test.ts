/**
 * Where stats files go and the safety checks on those places: directory mode,
 * symlinks, ownership, live and stale files, file modes, the MMSTATS_* variables
 * and the {CMD} {PID} {TID} {CLASS} name templates.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { defaultStatsDir, defaultGlob, defineModel, field, findFiles, openStats, StatsReader, MmstatsError } from '../src/index.js';
import { runScript, tempStatsDir } from './helpers/proc.js';

const isRoot = process.getuid?.() === 0;
const OTHER_UID = 54321;

function unsafe(pattern: RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof MmstatsError, `an MmstatsError, not ${String(err)}`);
    assert.equal(err.code, 'ERR_MMSTATS_UNSAFE_PATH');
    assert.match(err.message, pattern);
    return true;
  };
}

test('a missing stats directory is created with mode 0700 by a writer in another process', async () => {
  const base = tempStatsDir();
  const dir = path.join(base, 'deeper', 'stats');
  // A permissive umask must not widen the directory.
  const w = runScript(`process.umask(0); const s = openStats({ name: 'Mk' }); ready(s.path);`, { env: { MMSTATS_PATH: dir } });
  try {
    const file: string = await w.ready;
    assert.equal(path.dirname(file), dir);
    assert.equal(fs.statSync(dir).mode & 0o777, 0o700);
    assert.equal(fs.statSync(file).mode & 0o777, 0o600, 'files are 0600 by default, whatever the umask');
  } finally {
    await w.end();
  }
});

test('the default directory is per user, on a memory file system when there is one, and MMSTATS_PATH overrides it', () => {
  const user = os.userInfo().username;
  const env = { XDG_RUNTIME_DIR: undefined } as NodeJS.ProcessEnv;
  const expectedBase = fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir();
  assert.equal(defaultStatsDir(env), path.join(expectedBase, `mmstats-${user}`));
  assert.equal(defaultStatsDir({ MMSTATS_PATH: '/some/where' }), '/some/where');
  assert.equal(defaultGlob({ MMSTATS_PATH: '/some/where' }), '/some/where/*.mmstats');
  assert.equal(defaultGlob({ MMSTATS_PATH: '/x', MMSTATS_GLOB: '/y/*.stats' }), '/y/*.stats');
});

test('a stats directory that is a symbolic link is refused', () => {
  const base = tempStatsDir();
  const real = path.join(base, 'real');
  fs.mkdirSync(real, { mode: 0o700 });
  const link = path.join(base, 'link');
  fs.symlinkSync(real, link);
  assert.throws(() => openStats({ name: 'L', path: link }), unsafe(/symbolic link/));
  assert.deepEqual(fs.readdirSync(real), [], 'nothing written through the link');
});

for (const [mode, who] of [
  [0o770, 'group'],
  [0o707, 'others'],
  [0o1777, 'others (sticky, like /tmp)'],
] as const) {
  test(`a stats directory writable by ${who} (mode ${mode.toString(8)}) is refused, naming the mode`, () => {
    const dir = tempStatsDir();
    fs.chmodSync(dir, mode);
    assert.throws(
      () => openStats({ name: 'W', path: dir }),
      unsafe(new RegExp(`writable by group or others \\(mode ${(mode & 0o777).toString(8)}\\)`)),
    );
    assert.deepEqual(fs.readdirSync(dir), []);
  });
}

test('a stats path that is a regular file is refused', () => {
  const dir = tempStatsDir();
  const file = path.join(dir, 'plain');
  fs.writeFileSync(file, 'x');
  assert.throws(() => openStats({ name: 'F', path: file }), unsafe(/not a directory/));
});

test(
  'a stats directory that belongs to another user is refused',
  { skip: !isRoot && 'needs root to chown a directory to another uid' },
  () => {
    const dir = tempStatsDir();
    fs.chownSync(dir, OTHER_UID, OTHER_UID);
    assert.throws(() => openStats({ name: 'O', path: dir }), unsafe(new RegExp(`belongs to uid ${OTHER_UID}`)));
  },
);

test('an existing file of that name owned by another user is not taken over', { skip: !isRoot && 'needs root to chown a file' }, () => {
  const dir = tempStatsDir();
  const file = path.join(dir, 'theirs.mmstats');
  fs.writeFileSync(file, 'their data');
  fs.chownSync(file, OTHER_UID, OTHER_UID);
  assert.throws(() => openStats({ name: 'T', path: dir, filename: 'theirs.mmstats' }), unsafe(/not a regular file of this user/));
  assert.equal(fs.readFileSync(file, 'utf8'), 'their data');
});

test('a symbolic link planted at the file name is not followed, and its target is untouched', () => {
  const dir = tempStatsDir();
  const outside = tempStatsDir();
  const target = path.join(outside, 'precious');
  fs.writeFileSync(target, 'precious data');
  fs.symlinkSync(target, path.join(dir, 'planted.mmstats'));
  assert.throws(() => openStats({ name: 'P', path: dir, filename: 'planted.mmstats' }), unsafe(/symbolic link/));
  assert.equal(fs.readFileSync(target, 'utf8'), 'precious data');
  assert.ok(fs.lstatSync(path.join(dir, 'planted.mmstats')).isSymbolicLink(), 'the link itself stays');

  // A dangling link must not create its target either.
  const missing = path.join(outside, 'would-be-created');
  fs.symlinkSync(missing, path.join(dir, 'dangling.mmstats'));
  assert.throws(() => openStats({ name: 'P', path: dir, filename: 'dangling.mmstats' }), unsafe(/symbolic link/));
  assert.equal(fs.existsSync(missing), false);
});

test('a FIFO at the file name is refused, not opened for writing', () => {
  const dir = tempStatsDir();
  const fifo = path.join(dir, 'fifo.mmstats');
  mkfifo(fifo);
  assert.throws(() => openStats({ name: 'F', path: dir, filename: 'fifo.mmstats' }), unsafe(/not a regular file/));
});

/** mkfifo through the system tool (coreutils). */
function mkfifo(p: string): void {
  const r = spawnSync('mkfifo', [p]);
  if (r.error || r.status !== 0) throw new Error(`mkfifo failed (install coreutils): ${r.error?.message ?? r.stderr}`);
}

const FIXED_WRITER = `
const stats = openStats({ name: 'Fixed', path: env.DIR, filename: 'fixed.mmstats' });
const c = stats.add('c', field.counter());
on('incr', () => { c.incr(); return c.value; });
ready(stats.path);
`;

test('a file held by a live writer in another process is never clobbered: ERR_MMSTATS_IN_USE names its pid', async () => {
  const dir = tempStatsDir();
  const w = runScript(FIXED_WRITER, { env: { DIR: dir } });
  try {
    const file: string = await w.ready;
    assert.equal(await w.call('incr'), 1);
    const before = fs.readFileSync(file);
    assert.throws(
      () => openStats({ name: 'Fixed', path: dir, filename: 'fixed.mmstats' }),
      (err: unknown) => err instanceof MmstatsError && err.code === 'ERR_MMSTATS_IN_USE' && err.message.includes(`pid ${w.pid}`),
    );
    assert.deepEqual(fs.readFileSync(file), before, 'not a byte changed');
    assert.equal(await w.call('incr'), 2, 'the live writer goes on');
    const r = StatsReader.open(file);
    try {
      const snap = r.read();
      assert.equal(snap.writer.pid, w.pid);
      assert.equal(snap.fields.find((f) => f.label === 'c')?.value, 2);
    } finally {
      r.close();
    }
  } finally {
    await w.end();
  }
});

test('a stale file (its writer SIGKILLed) is taken over by a new writer', async () => {
  const dir = tempStatsDir();
  const w = runScript(FIXED_WRITER, { env: { DIR: dir } });
  let file: string;
  try {
    file = await w.ready;
    await w.call('incr');
  } finally {
    w.child.kill('SIGKILL');
    await w.exited;
  }
  assert.ok(fs.existsSync(file));
  const stats = openStats({ name: 'Fixed', path: dir, filename: 'fixed.mmstats' });
  try {
    assert.equal(stats.path, file);
    const c = stats.add('c', field.counter());
    assert.equal(c.value, 0, 'no keep: starts afresh');
    const reader = runScript(
      `on('read', (f) => { const r = StatsReader.open(f); try { return r.read().writer; } finally { r.close(); } }); ready();`,
    );
    try {
      await reader.ready;
      const writer = await reader.call('read', file);
      assert.equal(writer.pid, process.pid);
      assert.equal(writer.alive, true);
    } finally {
      await reader.end();
    }
  } finally {
    stats.remove();
  }
});

test('the mode option sets the file mode whatever the umask', () => {
  const dir = tempStatsDir();
  const old = process.umask(0o077);
  try {
    const a = openStats({ name: 'ModeA', path: dir, mode: 0o640 });
    const b = openStats({ name: 'ModeB', path: dir, mode: 0o644 });
    try {
      assert.equal(fs.statSync(a.path).mode & 0o777, 0o640);
      assert.equal(fs.statSync(b.path).mode & 0o777, 0o644);
    } finally {
      a.remove();
      b.remove();
    }
  } finally {
    process.umask(old);
  }
});

test('MMSTATS_PATH and MMSTATS_FILES with {CMD} {PID} {TID} {CLASS} place and name a writer file', async () => {
  const dir = tempStatsDir();
  const w = runScript(`const s = defineModel('Web.Server', { n: field.counter() }).open(); ready(s.path);`, {
    env: { MMSTATS_PATH: dir, MMSTATS_FILES: '{CLASS}~{CMD}~{PID}~{TID}.mmstats' },
  });
  try {
    const file: string = await w.ready;
    // runScript's script is writer.mjs: {CMD} is "writer"; the main thread's {TID} is 0.
    assert.equal(file, path.join(dir, `Web.Server~writer~${w.pid}~0.mmstats`));
    assert.ok(fs.existsSync(file));
  } finally {
    await w.end();
  }
});

test('the default file name is {CMD}-{CLASS}-{PID}-{TID}.mmstats, and options win over the variables', async () => {
  const dir = tempStatsDir();
  const other = tempStatsDir();
  const w = runScript(
    `
const M = defineModel('Shop', { n: field.counter() });
const a = M.open();
const b = M.open({ path: env.OTHER, filename: 'x-{PID}.mmstats' });
ready([a.path, b.path]);
`,
    { env: { MMSTATS_PATH: dir, MMSTATS_FILES: '', OTHER: other } },
  );
  try {
    const [a, b]: string[] = await w.ready;
    assert.equal(a, path.join(dir, `writer-Shop-${w.pid}-0.mmstats`));
    assert.equal(b, path.join(other, `x-${w.pid}.mmstats`));
  } finally {
    await w.end();
  }
});

test('a class name with unsafe characters is made safe in the file name, and a template with a slash is refused', () => {
  const dir = tempStatsDir();
  const s = openStats({ name: 'a/b c', path: dir, filename: '{CLASS}.mmstats' });
  try {
    assert.equal(path.basename(s.path), 'a_b_c.mmstats');
  } finally {
    s.remove();
  }
  assert.throws(() => openStats({ name: 'X', path: dir, filename: '../escape-{PID}.mmstats' }), unsafe(/plain name/));
  assert.throws(() => openStats({ name: 'X', path: dir, filename: '..' }), unsafe(/plain name/));
  assert.throws(() => openStats({ name: 'X', path: dir, filename: '' }), unsafe(/plain name/));
});

test('MMSTATS_GLOB decides what a reader in another process finds by default', async () => {
  const dir = tempStatsDir();
  const a = openStats({ name: 'GlobA', path: dir, filename: 'a.mmstats' });
  const b = openStats({ name: 'GlobB', path: dir, filename: 'b.stats' });
  const reader = runScript(
    `
on('find', () => mmstats.findFiles());
on('readAll', () => mmstats.readAll().snapshots.map((s) => s.path));
ready();
`,
    { env: { MMSTATS_PATH: dir, MMSTATS_GLOB: path.join(dir, '*.stats') } },
  );
  const byPath = runScript(`on('find', () => mmstats.findFiles()); ready();`, { env: { MMSTATS_PATH: dir, MMSTATS_GLOB: '' } });
  try {
    await reader.ready;
    await byPath.ready;
    assert.deepEqual(await reader.call('find'), [b.path]);
    assert.deepEqual(await reader.call('readAll'), [b.path]);
    // Without MMSTATS_GLOB: every *.mmstats in MMSTATS_PATH.
    assert.deepEqual(await byPath.call('find'), [a.path]);
  } finally {
    a.remove();
    b.remove();
    await reader.end();
    await byPath.end();
  }
});

test('findFiles takes directories, globs with * ? [..] and plain paths, sorted and without duplicates', () => {
  const dir = tempStatsDir();
  for (const n of ['w-1.mmstats', 'w-2.mmstats', 'w-10.mmstats', 'other.txt']) fs.writeFileSync(path.join(dir, n), '');
  const p = (n: string) => path.join(dir, n);
  assert.deepEqual(findFiles([dir]), [p('w-1.mmstats'), p('w-10.mmstats'), p('w-2.mmstats')]);
  assert.deepEqual(findFiles([p('w-?.mmstats')]), [p('w-1.mmstats'), p('w-2.mmstats')]);
  assert.deepEqual(findFiles([p('w-[2-9].mmstats'), p('w-2.mmstats')]), [p('w-2.mmstats')]);
  assert.deepEqual(findFiles([p('*.txt')]), [p('other.txt')]);
  assert.deepEqual(findFiles([path.join(dir, 'missing', '*.mmstats')]), []);
});

test('opening the same model twice in one thread is ERR_MMSTATS_IN_USE, and the first stays intact', () => {
  const dir = tempStatsDir();
  const M = defineModel('Twice', { n: field.counter() });
  const first = M.open({ path: dir });
  try {
    first.n.incr(4);
    assert.throws(
      () => M.open({ path: dir }),
      (err: unknown) => err instanceof MmstatsError && err.code === 'ERR_MMSTATS_IN_USE',
    );
    first.n.incr();
    const r = StatsReader.open(first.path);
    try {
      assert.equal(r.read().fields.find((f) => f.label === 'n')?.value, 5);
      assert.equal(r.writer().alive, true);
    } finally {
      r.close();
    }
  } finally {
    first.remove();
  }
});
