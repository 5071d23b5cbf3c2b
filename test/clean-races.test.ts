/**
 * `mmstats clean` against writers at their worst moments: a writer restarting
 * under the same file name while clean removes the stale file, and writers
 * SIGKILLed while creating their file.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { StatsReader } from '../src/index.js';
import { FileState, Header, MAGIC } from '../src/format/v2.js';
import { CLI, runCli, runScript, tempStatsDir, waitFor, type ScriptProcess } from './helpers/proc.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A writer of a fixed file name, opened on request (`open`), as a service restarted under one name. */
const SERVICE = `
let stats;
on('open', () => {
  stats = openStats({ name: 'svc', path: env.DIR, filename: 'svc.mmstats' });
  stats.add('up', field.counter()).incr();
  return stats.path;
});
ready();
`;

/** Whether `file` is there and is the live file of writer `pid`. */
function liveFileOf(file: string, pid: number): string | undefined {
  let r: StatsReader;
  try {
    r = StatsReader.open(file);
  } catch (err) {
    return `cannot be read: ${(err as Error).message}`;
  }
  try {
    const w = r.writer();
    if (w.pid !== pid) return `belongs to pid ${w.pid}, not ${pid}`;
    return w.alive ? undefined : 'is not held by its writer';
  } finally {
    r.close();
  }
}

/** A stale svc.mmstats: its writer SIGKILLed. */
async function staleServiceFile(dir: string): Promise<string> {
  const w = runScript(SERVICE, { env: { DIR: dir } });
  await w.ready;
  const file = (await w.call('open')) as string;
  w.child.kill('SIGKILL');
  await w.exited;
  return file;
}

function straceWorks(): boolean {
  const r = spawnSync('strace', ['-qq', '-o', '/dev/null', 'true'], { stdio: 'ignore' });
  return r.status === 0;
}

/** The syscall number a thread of `pid` is in (or stopped at), from /proc. */
function syscallOf(pid: number): number | undefined {
  try {
    return Number(fs.readFileSync(`/proc/${pid}/syscall`, 'latin1').split(' ')[0]);
  } catch {
    return undefined;
  }
}

/** Pids whose parent is `pid`. */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${name}/stat`, 'latin1');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) out.push(Number(name));
    } catch {
      // Gone meanwhile.
    }
  }
  return out;
}

const UNLINK = 87; // x86-64; the interleaving test runs there only

test(
  'a writer restarting under the same name while clean removes the stale file keeps its file (clean held in its unlink by strace)',
  {
    skip:
      process.platform !== 'linux' || process.arch !== 'x64'
        ? 'needs Linux x86-64'
        : !straceWorks() && 'needs strace (apt-get install strace) and ptrace permission',
  },
  async (t) => {
    const dir = tempStatsDir();
    const file = await staleServiceFile(dir);
    const next = runScript(SERVICE, { env: { DIR: dir } });
    t.after(() => next.child.kill('SIGKILL'));
    await next.ready;
    // clean, its unlink held back 700 ms: the widest possible gap between its check and its removal.
    const clean = spawn(
      'strace',
      [
        '-f',
        '-qq',
        '-o',
        '/dev/null',
        '-e',
        'trace=unlink,unlinkat',
        '-e',
        'inject=unlink,unlinkat:delay_enter=700000',
        process.execPath,
        CLI,
        'clean',
        dir,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    clean.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const cleanDone = new Promise<number | null>((resolve) => clean.on('close', resolve));
    // The node process under strace: the child of strace whose main thread sits in unlink.
    const nodePid = await waitFor(
      () => {
        return childrenOf(clean.pid!).find((p) => syscallOf(p) === UNLINK);
      },
      30_000,
      'clean to reach its unlink',
    );
    assert.ok(nodePid);
    // Now, while clean is between its check and its unlink, the restarted service opens the same name.
    assert.equal(syscallOf(nodePid), UNLINK);
    const opened = (await next.call('open')) as string;
    assert.equal(opened, file);
    assert.equal(await cleanDone, 0, out);
    assert.match(out, /removed +.*svc\.mmstats/);
    assert.equal(liveFileOf(file, next.pid), undefined, `the restarted writer's file after clean: ${liveFileOf(file, next.pid)}`);
    await next.end();
  },
);

test('restart cycles under concurrent clean runs: the live writer file is always at its path', async () => {
  const dir = tempStatsDir();
  let stop = false;
  let cleans = 0;
  const cleaner = (async () => {
    while (!stop) {
      const r = await runCli(['clean', dir]);
      assert.equal(r.code, 0, r.stderr);
      cleans++;
    }
  })();
  const problems: string[] = [];
  let cycles = 0;
  const end = Date.now() + 4000;
  while (Date.now() < end || cycles < 5) {
    const w: ScriptProcess = runScript(SERVICE, { env: { DIR: dir } });
    await w.ready;
    let file: string;
    try {
      file = (await w.call('open')) as string;
    } catch (err) {
      problems.push(`cycle ${cycles}: open failed: ${(err as Error).message}`);
      w.child.kill('SIGKILL');
      await w.exited;
      continue;
    }
    // Look a few times while the cleaner runs, then die without removing the file (a crash).
    for (let i = 0; i < 3; i++) {
      const why = liveFileOf(file, w.pid);
      if (why) problems.push(`cycle ${cycles}: the live writer's file ${why}`);
      await sleep(5);
    }
    w.child.kill('SIGKILL');
    await w.exited;
    cycles++;
  }
  stop = true;
  await cleaner;
  assert.deepEqual(problems, [], `${cycles} restarts, ${cleans} clean runs`);
});

// ---------------------------------------------------------------------------
// Writers killed while creating their file

/** A model of many fields: creating its file takes long enough to be caught in the middle. */
const MAKER = `
const schema = {};
for (let i = 0; i < Number(env.FIELDS); i++) schema['f' + i] = field.counter();
const Making = defineModel('Making', schema);
on('open', () => Making.open({ path: env.DIR }).path);
ready();
`;

function stopped(pid: number): boolean {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
  return stat.slice(stat.lastIndexOf(')') + 2).startsWith('T');
}

function headState(file: string): number | undefined {
  const b = Buffer.alloc(Header.SIZE);
  const fd = fs.openSync(file, 'r');
  try {
    if (fs.readSync(fd, b, 0, Header.SIZE, 0) < Header.SIZE || !b.subarray(0, 8).equals(Buffer.from(MAGIC))) return undefined;
    return b.readUInt32LE(Header.STATE);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Start a writer creating its file and stop it (SIGSTOP) at random moments until
 * one lands while the file has its header but is not ready yet. The writer is
 * left stopped; undefined if it finished first.
 */
async function stopDuringCreation(dir: string): Promise<{ w: ScriptProcess; file: string } | undefined> {
  const w = runScript(MAKER, { env: { DIR: dir, FIELDS: '20000' } });
  await w.ready;
  void w.call('open').catch(() => undefined);
  for (;;) {
    await sleep(Math.random() * 4);
    w.child.kill('SIGSTOP');
    await waitFor(() => stopped(w.pid), 5000, 'the writer to stop');
    const name = fs.readdirSync(dir).find((n) => n.includes(`-${w.pid}-`));
    const state = name === undefined ? undefined : headState(path.join(dir, name));
    if (name !== undefined && state === FileState.INITIALISING) return { w, file: path.join(dir, name) };
    if (state !== undefined && state !== FileState.INITIALISING) {
      w.child.kill('SIGKILL');
      await w.exited;
      return undefined;
    }
    w.child.kill('SIGCONT');
  }
}

test('files whose writer was SIGKILLed while creating them: slurp reports them and exits 0, clean removes them; a writer still creating its file is kept', async (t) => {
  const dir = tempStatsDir();
  const abandoned: string[] = [];
  while (abandoned.length < 3) {
    const caught = await stopDuringCreation(dir);
    if (!caught) continue;
    caught.w.child.kill('SIGKILL');
    await caught.w.exited;
    abandoned.push(caught.file);
  }
  // A pid reused by another process: the header names a live pid (this one) with another start token.
  const reused = path.join(dir, 'reused-pid.mmstats');
  const withToken = abandoned.map((f) => fs.readFileSync(f)).find((b) => b.readDoubleLE(Header.START_TOKEN) !== 0);
  assert.ok(withToken, 'a writer killed while creating its file left its start token in the header');
  const bytes = Buffer.from(withToken);
  bytes.writeUInt32LE(process.pid, Header.PID);
  fs.writeFileSync(reused, bytes, { mode: 0o600 });
  abandoned.push(reused);
  // Killed before its header: zeros, unchanged for a minute, and no lock.
  const zeros = path.join(dir, 'zeros.mmstats');
  fs.writeFileSync(zeros, Buffer.alloc(16384), { mode: 0o600 });
  const minuteAgo = new Date(Date.now() - 60_000);
  fs.utimesSync(zeros, minuteAgo, minuteAgo);
  abandoned.push(zeros);
  // Still possibly in the making: zeros just written, and a live writer stopped while creating (it holds the lock).
  const fresh = path.join(dir, 'fresh.mmstats');
  fs.writeFileSync(fresh, Buffer.alloc(16384), { mode: 0o600 });
  let making: { w: ScriptProcess; file: string } | undefined;
  while (!making) making = await stopDuringCreation(dir);
  const stoppedWriter = making.w;
  t.after(() => stoppedWriter.child.kill('SIGKILL'));

  const slurp = await runCli(['slurp', dir]);
  assert.equal(slurp.code, 0, `slurp exits 0 when the only unreadable files are unfinished ones: ${slurp.stderr}`);
  for (const f of abandoned) assert.match(slurp.stderr, new RegExp(`${f}: ERR_MMSTATS_ABANDONED`));
  assert.match(slurp.stderr, new RegExp(`${making.file}: ERR_MMSTATS_INITIALISING`));
  assert.match(slurp.stderr, new RegExp(`${fresh}: ERR_MMSTATS_INITIALISING`));

  const clean = await runCli(['clean', dir]);
  assert.equal(clean.code, 0, clean.stderr);
  for (const f of abandoned) {
    assert.match(clean.stdout, new RegExp(`removed +${f}: `));
    assert.equal(fs.existsSync(f), false, `${f} removed`);
  }
  assert.match(clean.stdout, new RegExp(`kept +${making.file}: still being created`));
  assert.match(clean.stdout, new RegExp(`kept +${fresh}: still being created`));

  // The stopped writer goes on and finishes its file.
  making.w.child.kill('SIGCONT');
  await waitFor(() => headState(making.file) === FileState.READY, 30_000, 'the stopped writer to finish');
  const r = StatsReader.open(making.file);
  assert.equal(r.read().fields.filter((f) => f.label.startsWith('f')).length, 20000);
  r.close();
  await making.w.end();
});
