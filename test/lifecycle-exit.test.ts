/**
 * Files removed when their process or thread ends, however it ends short of
 * SIGKILL: a signal the program does not handle (and the signal still does what
 * it would have done), process.exit() in the main thread while worker threads
 * have stats open, worker.terminate(), close() then a normal exit. Kept files
 * stay. All in real processes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { StatsReader } from '../src/index.js';
import { ENTRY_URL, runScript, tempStatsDir, waitFor } from './helpers/proc.js';

/** A worker thread that opens stats, sends their path and stays. */
const WORKER_CODE = `
  const { parentPort } = require('node:worker_threads');
  import(process.env.ENTRY).then(({ openStats }) => {
    const s = openStats({ name: 'W', path: process.env.DIR });
    parentPort.postMessage(s.path);
    setInterval(() => {}, 1000);
  });
`;

/**
 * A main thread with a v2 and a v1 file, and `WORKERS` worker threads with a file
 * each. `ready` gives every path, main thread's first.
 */
const WITH_WORKERS = `
import { Worker } from 'node:worker_threads';
const A = defineModel('A', { n: field.counter() });
const B = defineModel('B', { n: field.counter() });
const a = A.open({ path: env.DIR });
const b = B.open({ path: env.DIR, format: 1 });
const workerCode = ${JSON.stringify(WORKER_CODE)};
const workers = [];
const paths = [a.path, b.path];
for (let i = 0; i < Number(env.WORKERS ?? 2); i++) {
  const w = new Worker(workerCode, { eval: true });
  workers.push(w);
  paths.push(await new Promise((r) => w.once('message', r)));
}
on('ping', () => 'pong');
on('exit', (code) => { process.exit(code); });
on('crash', () => { setTimeout(() => { throw new Error('uncaught'); }); });
on('terminate', async () => { await workers[0].terminate(); });
on('handle', (how) => {
  process.on('SIGTERM', () => { if (how === 'exit') process.exit(7); else send('handled'); });
});
ready(paths);
`;

function start(dir: string, workers = 2, body = WITH_WORKERS) {
  return runScript(body, { env: { DIR: dir, ENTRY: ENTRY_URL, WORKERS: String(workers) } });
}

const exists = (files: string[]) => files.filter((f) => fs.existsSync(f));

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  test(`${signal} on a program with no handler of its own: every file of every thread removed, and the process dies of ${signal}`, async () => {
    const dir = tempStatsDir();
    const w = start(dir);
    const files: string[] = await w.ready;
    assert.equal(exists(files).length, 4);
    const died = new Promise<NodeJS.Signals | null>((r) => w.child.once('exit', (_code, sig) => r(sig)));
    w.child.kill(signal);
    assert.equal(await died, signal, 'the signal still kills the process');
    assert.deepEqual(exists(files), []);
    assert.deepEqual(fs.readdirSync(dir), []);
  });
}

/**
 * A main thread that opens no stats, and `WORKERS` worker threads with a file each:
 * signals go to the main thread, which has no exit hook of mmstats' here. `handle`
 * (or HANDLE_FIRST, before any worker opens stats) gives the program a SIGTERM
 * handler of its own that counts the signals.
 */
const WORKERS_ONLY = `
import { Worker } from 'node:worker_threads';
let handled = 0;
const handle = () => process.on('SIGTERM', () => { handled++; });
if (env.HANDLE_FIRST) handle();
const workerCode = ${JSON.stringify(WORKER_CODE)};
const paths = [];
for (let i = 0; i < Number(env.WORKERS); i++) {
  const w = new Worker(workerCode, { eval: true });
  paths.push(await new Promise((r) => w.once('message', r)));
}
on('handle', handle);
on('handled', () => handled);
ready(paths);
`;

for (const [signal, workers] of [
  ['SIGTERM', 1],
  ['SIGTERM', 3],
  ['SIGINT', 1],
  ['SIGINT', 3],
  ['SIGHUP', 1],
] as const) {
  test(`stats only in ${workers} worker thread(s), ${signal}, no handler: the files go and the process dies of ${signal}`, async () => {
    const dir = tempStatsDir();
    const w = start(dir, workers, WORKERS_ONLY);
    const files: string[] = await w.ready;
    assert.equal(exists(files).length, workers);
    const died = new Promise<NodeJS.Signals | null>((r) => w.child.once('exit', (_code, sig) => r(sig)));
    w.child.kill(signal);
    assert.equal(await died, signal, 'the signal still kills the process');
    assert.deepEqual(exists(files), []);
    assert.deepEqual(fs.readdirSync(dir), []);
  });
}

test('SIGTERM while worker threads open and remove stats flat out: the handler reads the list as it changes, and the process still dies of SIGTERM with its files gone', async () => {
  const dir = tempStatsDir();
  const w = runScript(
    `
import { Worker } from 'node:worker_threads';
const churn = \`
  const { parentPort } = require('node:worker_threads');
  const churned = new Int32Array(require('node:worker_threads').workerData);
  import(process.env.ENTRY).then(({ openStats }) => {
    const kept = openStats({ name: 'Stable', path: process.env.DIR });
    parentPort.postMessage(kept.path);
    for (let i = 0; ; i++) {
      openStats({ name: 'Churn' + (i % 4), path: process.env.DIR }).remove();
      Atomics.add(churned, 0, 1);
    }
  });
\`;
const churned = new SharedArrayBuffer(4);
const paths = [];
for (let i = 0; i < 3; i++) {
  const w = new Worker(churn, { eval: true, workerData: churned });
  paths.push(await new Promise((r) => w.once('message', r)));
}
on('churned', () => Atomics.load(new Int32Array(churned), 0));
ready(paths);
`,
    { env: { DIR: dir, ENTRY: ENTRY_URL } },
  );
  const stable: string[] = await w.ready;
  assert.equal(exists(stable).length, 3);
  // The slots change all the time now.
  await waitFor(async () => (await w.call('churned')) > 200, 20_000, 'the workers to open and remove stats');
  const died = new Promise<NodeJS.Signals | null>((r) => w.child.once('exit', (_code, sig) => r(sig)));
  w.child.kill('SIGTERM');
  // A handler that hung (on a lock, in a list being changed) would keep the process: SIGKILL then says so.
  const hung = setTimeout(() => w.child.kill('SIGKILL'), 20_000);
  assert.equal(await died, 'SIGTERM');
  clearTimeout(hung);
  assert.deepEqual(exists(stable), [], 'every thread’s listed file removed');
  // A churned file created but not yet listed when the signal came may stay (its
  // window is between the file's creation and its listing); no more than one per thread.
  assert.ok(fs.readdirSync(dir).length <= 3, fs.readdirSync(dir).join(', '));
});

for (const when of ['after', 'before'] as const) {
  test(`stats only in worker threads, the program's own SIGTERM handler installed ${when} they open: it runs, the program lives on with its files`, async () => {
    const dir = tempStatsDir();
    const w = runScript(WORKERS_ONLY, {
      env: { DIR: dir, ENTRY: ENTRY_URL, WORKERS: '2', ...(when === 'before' ? { HANDLE_FIRST: '1' } : {}) },
    });
    const files: string[] = await w.ready;
    if (when === 'after') await w.call('handle');
    w.child.kill('SIGTERM');
    await waitFor(async () => (await w.call('handled')) === 1, 10_000, 'the program’s handler to run');
    assert.equal(w.child.exitCode, null, 'still running');
    assert.equal(w.child.signalCode, null, 'not killed');
    assert.deepEqual(exists(files), files, 'its files stay while it runs');
    assert.equal(await w.end(), 0);
    assert.deepEqual(exists(files), []);
  });
}

test('a program with its own SIGTERM handler keeps running with its files; when it exits its own way they go', async () => {
  const dir = tempStatsDir();
  const w = start(dir, 1);
  const files: string[] = await w.ready;
  await w.call('handle', 'ignore');
  w.child.kill('SIGTERM');
  // The handler ran and the process still answers: mmstats did not exit for it.
  assert.equal(await w.call('ping'), 'pong');
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(w.child.exitCode, null, 'still running');
  assert.deepEqual(exists(files), files, 'its files stay while it runs');
  assert.equal(await w.end(), 0);
  assert.deepEqual(exists(files), []);

  const x = start(dir, 1);
  const xfiles: string[] = await x.ready;
  await x.call('handle', 'exit');
  x.child.kill('SIGTERM');
  assert.equal(await x.exited, 7, 'the exit code is the handler’s');
  assert.deepEqual(exists(xfiles), []);
});

test('process.exit() in the main thread while worker threads have stats open removes the workers’ files too', async () => {
  const dir = tempStatsDir();
  for (let run = 0; run < 3; run++) {
    const w = start(dir, 3);
    const files: string[] = await w.ready;
    assert.equal(exists(files).length, 5);
    w.call('exit', 0).catch(() => undefined);
    assert.equal(await w.exited, 0);
    assert.deepEqual(exists(files), [], `run ${run}`);
  }
  assert.deepEqual(fs.readdirSync(dir), []);
});

test('an uncaught exception in the main thread removes every thread’s files, and the exit code stays 1', async () => {
  const dir = tempStatsDir();
  const w = start(dir, 2);
  const files: string[] = await w.ready;
  await w.call('crash');
  assert.equal(await w.exited, 1);
  assert.match(w.stderr(), /uncaught/);
  assert.deepEqual(exists(files), []);
});

test('worker.terminate() removes that worker’s file at once; the process and its other files go on', async () => {
  const dir = tempStatsDir();
  const w = start(dir, 2);
  const files: string[] = await w.ready;
  await w.call('terminate');
  assert.deepEqual(exists(files), [files[0], files[1], files[3]]);
  assert.equal(await w.end(), 0);
  assert.deepEqual(exists(files), []);
});

test('close() then a normal exit removes the file; a kept file stays, closed, through a signal too', async () => {
  const dir = tempStatsDir();
  const w = runScript(
    `
const closed = openStats({ name: 'Closed', path: env.DIR });
const kept = openStats({ name: 'Kept', path: env.DIR, filename: 'kept.mmstats', keep: true });
closed.close();
ready([closed.path, kept.path]);
`,
    { env: { DIR: dir } },
  );
  const [closedFile, keptFile]: string[] = await w.ready;
  assert.ok(fs.existsSync(closedFile!), 'close() leaves the file while the process lives');
  assert.equal(await w.end(), 0);
  assert.equal(fs.existsSync(closedFile!), false, 'gone at exit');
  assert.ok(fs.existsSync(keptFile!));

  const k = runScript(`const kept = openStats({ name: 'Kept', path: env.DIR, filename: 'kept.mmstats', keep: true }); ready(kept.path);`, {
    env: { DIR: dir },
  });
  assert.equal(await k.ready, keptFile);
  k.child.kill('SIGTERM');
  await k.exited;
  const r = StatsReader.open(keptFile!);
  try {
    assert.equal(r.writer().state, 'closed', 'a kept file is closed cleanly on the signal');
  } finally {
    r.close();
  }
});

test('a file closed by one process and taken over by another is not removed when the first exits', async () => {
  const dir = tempStatsDir();
  const first = runScript(
    `const s = openStats({ name: 'X', path: env.DIR, filename: 'fixed.mmstats' }); on('close', () => s.close()); ready(s.path);`,
    { env: { DIR: dir } },
  );
  const file: string = await first.ready;
  await first.call('close');
  const second = runScript(`const s = openStats({ name: 'X', path: env.DIR, filename: 'fixed.mmstats' }); ready(s.path);`, {
    env: { DIR: dir },
  });
  assert.equal(await second.ready, file);
  assert.equal(await first.end(), 0);
  assert.ok(fs.existsSync(file), 'the live writer keeps its file');
  assert.equal(await second.end(), 0);
  assert.equal(fs.existsSync(file), false);
});

test('opening many models adds no exit or signal listener per model, and no MaxListenersExceededWarning', async () => {
  const dir = tempStatsDir();
  const w = runScript(
    `
const warnings = [];
process.on('warning', (w) => warnings.push(w.name));
const count = () => ['exit', 'SIGTERM', 'SIGINT'].map((e) => process.listenerCount(e));
openStats({ name: 'First', path: env.DIR });
const after1 = count();
for (let i = 0; i < 30; i++) openStats({ name: 'M' + i, path: env.DIR });
await new Promise((r) => setTimeout(r, 50));
ready({ after1, after31: count(), warnings });
`,
    { env: { DIR: dir } },
  );
  const { after1, after31, warnings } = await w.ready;
  assert.deepEqual(after31, after1);
  assert.deepEqual(warnings, []);
  assert.equal(await w.end(), 0);
  await waitFor(() => fs.readdirSync(dir).length === 0, 5000, 'the files to go');
});
