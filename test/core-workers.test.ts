/**
 * Worker threads: each thread that opens a model gets its own file ({TID}), with
 * its own values, read from another process.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { StatsReader, findFiles } from '../src/index.js';
import { ENTRY_URL, runScript, tempStatsDir, waitFor } from './helpers/proc.js';

/** A child process that starts `n` workers, each opening the same model in DIR. */
const WORKERS_BODY = `
import { Worker } from 'node:worker_threads';
const workerCode = \`
const { parentPort, threadId } = require('node:worker_threads');
import(${JSON.stringify(ENTRY_URL)}).then(({ defineModel, field }) => {
  const Job = defineModel('Job', { done: field.counter(), name: field.string({ size: 32 }) }, { prefix: 'job.' });
  const stats = Job.open({ path: process.env.DIR });
  for (let i = 0; i < threadId * 10; i++) stats.done.incr();
  stats.name.set('worker-' + threadId);
  parentPort.on('message', (m) => {
    if (m === 'remove') stats.remove();
    parentPort.postMessage({ removed: true });
    if (m === 'exit' || m === 'remove') parentPort.close();
  });
  parentPort.postMessage({ path: stats.path, threadId });
});
\`;
const workers = [];
on('start', async (n) => {
  const started = [];
  for (let i = 0; i < n; i++) {
    const w = new Worker(workerCode, { eval: true, env: process.env });
    workers.push(w);
    started.push(new Promise((resolve, reject) => { w.once('message', resolve); w.once('error', reject); }));
  }
  return Promise.all(started);
});
on('stop', async (how) => {
  await Promise.all(workers.map((w) => new Promise((resolve) => { w.once('exit', resolve); w.postMessage(how); })));
  workers.length = 0;
});
ready();
`;

test('three worker threads opening one model each get their own file with their own values', async () => {
  const dir = tempStatsDir();
  const child = runScript(WORKERS_BODY, { env: { DIR: dir } });
  try {
    await child.ready;
    const started: { path: string; threadId: number }[] = await child.call('start', 3);
    const paths = started.map((s) => s.path);
    assert.equal(new Set(paths).size, 3, `three distinct files: ${paths.join(', ')}`);
    assert.deepEqual(findFiles([dir]), [...paths].sort());
    const osTids = new Set<number>();
    for (const { path: file, threadId } of started) {
      // {CMD} is the program's name (runScript's writer.mjs) in every thread, not the worker's.
      assert.equal(path.basename(file), `writer-Job-${child.pid}-${threadId}.mmstats`);
      const r = StatsReader.open(file);
      try {
        const snap = r.read();
        const values = Object.fromEntries(snap.fields.map((f) => [f.label, f.value]));
        assert.equal(values['job.done'], threadId * 10);
        assert.equal(values['job.name'], `worker-${threadId}`);
        assert.equal(values['sys.pid'], child.pid);
        assert.equal(snap.writer.pid, child.pid);
        assert.equal(snap.writer.threadId, threadId);
        assert.equal(snap.writer.alive, true);
        assert.equal(values['sys.tid'], snap.writer.osTid);
        osTids.add(snap.writer.osTid);
      } finally {
        r.close();
      }
    }
    assert.equal(osTids.size, 3, 'each file names its own OS thread');
    // A worker that ends normally removes its file, as a process does.
    await child.call('stop', 'exit');
    await waitFor(() => findFiles([dir]).length === 0, 10_000, 'worker files removed at thread exit');
  } finally {
    await child.end();
  }
});

test('remove() in a worker deletes that worker file', async () => {
  const dir = tempStatsDir();
  const child = runScript(WORKERS_BODY, { env: { DIR: dir } });
  try {
    await child.ready;
    const started: { path: string }[] = await child.call('start', 2);
    for (const s of started) assert.ok(fs.existsSync(s.path));
    await child.call('stop', 'remove');
    for (const s of started) assert.equal(fs.existsSync(s.path), false, `${s.path} removed`);
  } finally {
    await child.end();
  }
});

test("remove() in the main thread also deletes this process's leftover files of finished workers", async () => {
  const dir = tempStatsDir();
  const child = runScript(
    `
import { Worker } from 'node:worker_threads';
const Job = defineModel('Job', { done: field.counter() });
on('leftover', async () => {
  // A worker whose file is kept (keep: true) leaves it behind when it ends.
  const w = new Worker(\`import(${JSON.stringify(ENTRY_URL)}).then(({ defineModel, field }) => {
    const Job = defineModel('Job', { done: field.counter() });
    require('node:worker_threads').parentPort.postMessage(Job.open({ path: process.env.DIR, keep: true }).path);
  });\`, { eval: true });
  // Both listeners first: a worker's exit drains its messages and emits 'exit' in the same turn.
  const exited = new Promise((resolve) => w.once('exit', resolve));
  const file = await new Promise((resolve) => w.once('message', resolve));
  await exited;
  return file;
});
on('openRemove', () => {
  const stats = Job.open({ path: env.DIR });
  const file = stats.path;
  stats.remove();
  return file;
});
ready();
`,
    { env: { DIR: dir } },
  );
  try {
    await child.ready;
    const leftover: string = await child.call('leftover');
    assert.ok(fs.existsSync(leftover), 'the kept worker file outlives its thread');
    const main: string = await child.call('openRemove');
    assert.notEqual(main, leftover);
    assert.equal(fs.existsSync(main), false);
    assert.equal(fs.existsSync(leftover), false, 'leftover thread file removed with the main one');
  } finally {
    await child.end();
  }
});
