/**
 * `mmstats/server` as a user's program uses it: a separate process that imports
 * the package by name (node_modules/mmstats linked to this package), starts the
 * server on a stats directory, adds a route and the dashboard, and answers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { DIST, runScript, tempStatsDir } from './helpers/proc.js';
import { getJson } from './helpers/serve.js';

test("mmstats/server is importable by package name: createServer, addRoute and mountDashboard work from a user's program", async () => {
  const dir = tempStatsDir();
  const app = tempStatsDir('mmstats-app-');
  fs.mkdirSync(path.join(app, 'node_modules'));
  fs.symlinkSync(path.resolve(DIST, '..'), path.join(app, 'node_modules', 'mmstats'));
  fs.writeFileSync(
    path.join(app, 'main.mjs'),
    `
import { createServer, mountDashboard, sendJson, HttpError } from 'mmstats/server';
import { StatsReader } from 'mmstats';
const app = await createServer({ paths: [process.env.DIR], port: 0 });
mountDashboard(app);
app.addRoute('GET', '/health', (req, res, ctx) => sendJson(res, 200, { writers: ctx.store.writers().length, reader: typeof StatsReader }));
app.addRoute('GET', '/teapot', () => { throw new HttpError(418, 'short and stout'); });
console.log(app.url);
process.on('SIGTERM', () => app.close().then(() => process.exit(0)));
`,
  );
  const writer = runScript(`const s = openStats({ name: 'Api', path: env.DIR }); s.add('n', field.counter()).incr(3); ready(s.path);`, {
    env: { DIR: dir },
  });
  await writer.ready;
  const child = spawn(process.execPath, [path.join(app, 'main.mjs')], {
    env: { ...process.env, DIR: dir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  try {
    const url = await new Promise<string>((resolve, reject) => {
      readline.createInterface({ input: child.stdout }).once('line', resolve);
      child.once('exit', (code) => reject(new Error(`the program exited (${code}): ${err}`)));
    });
    assert.deepEqual((await getJson(`${url}health`)).body, { writers: 1, reader: 'function' });
    const teapot = await getJson(`${url}teapot`);
    assert.equal(teapot.status, 418);
    assert.deepEqual(teapot.body, { error: 'short and stout' });
    const fields = await getJson(`${url}api/fields`);
    assert.ok(
      (fields.body.fields as { label: string }[]).some((f) => f.label === 'n'),
      'the built-in routes are there',
    );
    const page = await fetch(url);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /dashboard\/app\.js/, 'the dashboard is mounted');
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    await writer.end();
  }
});
