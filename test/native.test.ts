/// <reference types="node" />
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';

import {
  allocate,
  faultCount,
  isLockedByOther,
  lockExclusive,
  map,
  pageSize,
  sync,
  threadId,
  unmap,
  type NativeError,
} from '../src/native/index.js';

// dist/test/native.test.js -> dist/src/native/index.js, for child processes.
const nativeModulePath = fileURLToPath(new URL('../src/native/index.js', import.meta.url));
const nativeModuleUrl = pathToFileURL(nativeModulePath).href;

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mmstats-native-'));
process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
let counter = 0;

/** A new file of `size` zero bytes; returns its path. */
function makeFile(size: number): string {
  const file = path.join(dir, `f${counter++}.bin`);
  fs.writeFileSync(file, Buffer.alloc(size));
  return file;
}

function writeScript(source: string): string {
  const file = path.join(dir, `child${counter++}.mjs`);
  fs.writeFileSync(file, source);
  return file;
}

const ps = pageSize();
const badFd = 999_999; // far above any descriptor this process opens

test('pageSize is a positive power of two', () => {
  assert.ok(ps >= 4096);
  assert.equal(ps & (ps - 1), 0);
});

test('writes through a mapping are seen by another mapping and by read()', () => {
  const file = makeFile(ps);
  const fdW = fs.openSync(file, 'r+');
  const fdR = fs.openSync(file, 'r');
  const bufW = map(fdW, ps, true);
  const bufR = map(fdR, ps, false);
  try {
    assert.ok(bufW instanceof ArrayBuffer);
    assert.equal(bufW.byteLength, ps);
    const w = new Float64Array(bufW);
    w[0] = Math.PI;
    w[ps / 8 - 1] = -42.5;
    const r = new Float64Array(bufR);
    assert.equal(r[0], Math.PI);
    assert.equal(r[ps / 8 - 1], -42.5);
    const disk = fs.readFileSync(file);
    assert.equal(disk.readDoubleLE(0), Math.PI);
    assert.equal(disk.readDoubleLE(ps - 8), -42.5);
    assert.equal(faultCount(bufW), 0);
  } finally {
    unmap(bufW);
    unmap(bufR);
    fs.closeSync(fdW);
    fs.closeSync(fdR);
  }
});

test('a mapping longer than the file becomes usable after allocate()', () => {
  const file = makeFile(ps);
  const fd = fs.openSync(file, 'r+');
  const buf = map(fd, 4 * ps, true);
  try {
    assert.equal(buf.byteLength, 4 * ps);
    new Uint8Array(buf)[10] = 7; // the first page exists already
    allocate(fd, 0, 4 * ps);
    assert.equal(fs.fstatSync(fd).size, 4 * ps);
    const view = new Float64Array(buf);
    view[(3 * ps) / 8 + 1] = 123.25;
    sync(buf, true);
    const disk = fs.readFileSync(file);
    assert.equal(disk.length, 4 * ps);
    assert.equal(disk[10], 7);
    assert.equal(disk.readDoubleLE(3 * ps + 8), 123.25);
    assert.equal(faultCount(buf), 0);
    allocate(fd, 0, ps); // within the file: no change of size
    assert.equal(fs.fstatSync(fd).size, 4 * ps);
  } finally {
    unmap(buf);
    fs.closeSync(fd);
  }
});

test('use after unmap throws instead of crashing, and unmap is idempotent', () => {
  const file = makeFile(ps);
  const fd = fs.openSync(file, 'r+');
  const buf = map(fd, ps, true);
  fs.closeSync(fd); // the mapping outlives the descriptor
  const view = new Int32Array(buf);
  view[0] = 5;
  assert.equal(Atomics.add(view, 0, 1), 5);
  unmap(buf);
  assert.equal(buf.byteLength, 0);
  assert.equal(view.length, 0);
  assert.equal(view[0], undefined);
  assert.throws(() => new Float64Array(buf), TypeError);
  assert.throws(() => Atomics.add(view, 0, 1), TypeError);
  unmap(buf);
  unmap(buf);
  assert.equal(faultCount(buf), 0);
  assert.throws(() => sync(buf, false), { code: 'ERR_MMSTATS_UNMAPPED' });
  assert.equal(fs.readFileSync(file).readInt32LE(0), 6);
});

test('functions taking a mapping reject other ArrayBuffers', () => {
  assert.throws(() => unmap(new ArrayBuffer(8)), TypeError);
  assert.throws(() => faultCount(new ArrayBuffer(8)), TypeError);
  assert.throws(() => sync(new ArrayBuffer(8), true), TypeError);
});

test('map errors carry the errno name', () => {
  const file = makeFile(ps);
  const fd = fs.openSync(file, 'r');
  try {
    assert.throws(
      () => map(fd, ps, true), // PROT_WRITE + MAP_SHARED on a read-only fd
      (e: NativeError) => e.code === 'EACCES' && /map/.test(e.message),
    );
    assert.throws(() => map(fd, 0, false), { code: 'EINVAL' });
    assert.throws(() => map(fd, -1, false), TypeError);
  } finally {
    fs.closeSync(fd);
  }
  assert.throws(() => map(badFd, ps, false), { code: 'EBADF' });
});

const truncateChild = `
import fs from 'node:fs';
import { map, faultCount, pageSize } from ${JSON.stringify(nativeModuleUrl)};
const file = process.argv[2];
const ps = pageSize();
const badFd = 999_999; // far above any descriptor this process opens
const fd = fs.openSync(file, 'r');
const buf = map(fd, 4 * ps, false);
const before = new Uint8Array(buf)[3 * ps];
const other = fs.openSync(file, 'r+');
fs.ftruncateSync(other, 0);
const after = new Uint8Array(buf)[3 * ps];
console.log(JSON.stringify({ before, after, faults: faultCount(buf) }));
`;

test('reading a mapping after the file was truncated returns zeros', () => {
  const file = makeFile(4 * ps);
  fs.writeFileSync(file, Buffer.alloc(4 * ps, 0xab));
  const fd = fs.openSync(file, 'r');
  const buf = map(fd, 4 * ps, false);
  const bytes = new Uint8Array(buf);
  assert.equal(bytes[3 * ps], 0xab);
  const other = fs.openSync(file, 'r+');
  fs.ftruncateSync(other, 0);
  fs.closeSync(other);
  assert.equal(bytes[3 * ps], 0);
  assert.equal(bytes[3 * ps + 1], 0);
  assert.equal(bytes[0], 0);
  assert.ok(faultCount(buf) >= 1, `faultCount ${faultCount(buf)}`);
  unmap(buf);
  fs.closeSync(fd);

  // The same in a fresh process: it exits normally instead of dying of SIGBUS.
  const file2 = makeFile(4 * ps);
  fs.writeFileSync(file2, Buffer.alloc(4 * ps, 0xcd));
  const child = spawnSync(process.execPath, [writeScript(truncateChild), file2], {
    encoding: 'utf8',
  });
  assert.equal(child.signal, null, child.stderr);
  assert.equal(child.status, 0, child.stderr);
  const out = JSON.parse(child.stdout) as { before: number; after: number; faults: number };
  assert.equal(out.before, 0xcd);
  assert.equal(out.after, 0);
  assert.ok(out.faults >= 1);
});

test('faults outside any mapping still reach the default SIGBUS action', () => {
  // A SIGBUS not caused by one of our mappings is chained to the previous
  // disposition: with the default one, the process dies of SIGBUS as usual.
  const script = writeScript(`
import ${JSON.stringify(nativeModuleUrl)};
process.kill(process.pid, 'SIGBUS');
setTimeout(() => {}, 5000);
`);
  const child = spawnSync(process.execPath, [script], { encoding: 'utf8' });
  assert.equal(child.signal, 'SIGBUS', child.stderr);
});

const lockChild = `
import fs from 'node:fs';
import { lockExclusive } from ${JSON.stringify(nativeModuleUrl)};
const fd = fs.openSync(process.argv[2], 'r+');
if (!lockExclusive(fd)) process.exit(3);
console.log('locked');
setInterval(() => {}, 1000);
`;

test('exclusive locks belong to the open file description', async () => {
  const file = makeFile(ps);
  const a = fs.openSync(file, 'r+');
  const b = fs.openSync(file, 'r+');
  const c = fs.openSync(file, 'r');
  try {
    assert.equal(isLockedByOther(c), false);
    assert.equal(lockExclusive(a), true);
    assert.equal(lockExclusive(b), false);
    assert.equal(isLockedByOther(c), true);
    const d = fs.openSync(file, 'r');
    fs.closeSync(d); // closing another descriptor of the file keeps the lock
    assert.equal(isLockedByOther(c), true);
    assert.equal(lockExclusive(b), false);
    fs.closeSync(a);
    assert.equal(isLockedByOther(c), false);
    assert.equal(lockExclusive(b), true);
  } finally {
    fs.closeSync(b);
    fs.closeSync(c);
  }

  // Across processes: a child holds the lock until it is killed.
  const fd = fs.openSync(file, 'r');
  try {
    const child = spawn(process.execPath, [writeScript(lockChild), file], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
    await new Promise<void>((resolve, reject) => {
      let out = '';
      child.stdout.setEncoding('utf8');
      child.stdout.on('data', (chunk: string) => {
        out += chunk;
        if (out.includes('locked')) resolve();
      });
      child.on('exit', (code) => reject(new Error(`child exited early with ${code}`)));
    });
    assert.equal(isLockedByOther(fd), true);
    const probe = fs.openSync(file, 'r+');
    assert.equal(lockExclusive(probe), false);
    fs.closeSync(probe);
    child.kill('SIGKILL');
    assert.equal(await exited, 'SIGKILL');
    assert.equal(isLockedByOther(fd), false);
  } finally {
    fs.closeSync(fd);
  }
});

test('allocate on a read-only descriptor throws EBADF naming the operation', () => {
  const file = makeFile(ps);
  const fd = fs.openSync(file, 'r');
  try {
    assert.throws(
      () => allocate(fd, 0, 4 * ps),
      (e: NativeError) => e instanceof Error && e.code === 'EBADF' && /allocate/.test(e.message),
    );
  } finally {
    fs.closeSync(fd);
  }
  assert.throws(() => lockExclusive(badFd), { code: 'EBADF' });
  assert.throws(() => isLockedByOther(badFd), { code: 'EBADF' });
});

test('threadId is the OS thread id and differs in a worker', async () => {
  const main = threadId();
  assert.ok(Number.isSafeInteger(main) && main > 0);
  if (process.platform === 'linux') assert.equal(main, process.pid);
  assert.equal(threadId(), main);
  const worker = new Worker(
    `const { parentPort } = require('node:worker_threads');
     import(${JSON.stringify(nativeModuleUrl)}).then((m) => {
       const fs = require('node:fs');
       const fd = fs.openSync(${JSON.stringify(makeFile(ps))}, 'r+');
       const buf = m.map(fd, m.pageSize(), true);
       new Uint8Array(buf)[0] = 9;
       m.unmap(buf);
       fs.closeSync(fd);
       parentPort.postMessage(m.threadId());
     });`,
    { eval: true },
  );
  const id = await new Promise<number>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  await worker.terminate();
  assert.ok(Number.isSafeInteger(id) && id > 0);
  assert.notEqual(id, main);
});

test('sync in both modes does not throw', () => {
  const file = makeFile(2 * ps);
  const fd = fs.openSync(file, 'r+');
  const buf = map(fd, 2 * ps, true);
  try {
    new Uint8Array(buf)[ps + 3] = 1;
    sync(buf, false);
    sync(buf, true);
    assert.equal(fs.readFileSync(file)[ps + 3], 1);
  } finally {
    unmap(buf);
    fs.closeSync(fd);
  }
});

test('the native clock runs on performance.now()’s time base, forward, in every thread', async () => {
  const { now, since } = await import('../src/platform/clock.js');
  // Bracketed by two performance.now() reads: a busy machine may pause the thread between
  // any two of them, which widens the bracket instead of failing the test.
  const p0 = performance.now();
  const a = now();
  const p1 = performance.now();
  assert.ok(a >= p0 - 1 && a <= p1 + 1, `clock ${a} ms, performance.now() ${p0} .. ${p1} ms`);
  let last = a;
  for (let i = 0; i < 10_000; i++) {
    const t = now();
    assert.ok(t >= last, `went back from ${last} to ${t}`);
    last = t;
  }
  const start = now();
  await new Promise((r) => setTimeout(r, 30));
  const waited = since(start);
  assert.ok(waited >= 29 && waited < 2000, `a 30 ms sleep measured ${waited} ms`);
  // A worker has its own clock slot (the addon is loaded once per thread).
  const clockUrl = new URL('../src/platform/clock.js', import.meta.url).href;
  const beforeWorker = performance.now();
  const w = new Worker(`import(${JSON.stringify(clockUrl)}).then((c) => require('node:worker_threads').parentPort.postMessage(c.now()))`, {
    eval: true,
  });
  const inWorker = await new Promise<number>((resolve, reject) => {
    w.once('message', resolve);
    w.once('error', reject);
  });
  const afterWorker = performance.now();
  await w.terminate();
  assert.ok(
    inWorker >= beforeWorker - 1 && inWorker <= afterWorker + 1,
    `worker clock ${inWorker} ms, main ${beforeWorker} .. ${afterWorker} ms`,
  );
});
