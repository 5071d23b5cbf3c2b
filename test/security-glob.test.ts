/**
 * Globs from requests and command lines are matched in linear time: a pattern
 * that makes a backtracking matcher run for minutes (`*?*?...Z`) over many long
 * names answers at once, and `/metrics` keeps answering meanwhile.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runCli, runScript, tempStatsDir, type ScriptProcess } from './helpers/proc.js';
import { startServe, type ServeProcess } from './helpers/serve.js';

/** Names of 240 characters, the shape that makes `*?` pairs backtrack. */
const LONG_NAMES = 300;
/** 16 `*?` pairs and a letter no name has: about 2.7^16 times a 10-pair pattern's 90 s on a regex matcher. */
const EVIL = '*?'.repeat(16) + 'Z';

async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const t = performance.now();
  const value = await fn();
  return { ms: performance.now() - t, value };
}

describe('glob matching takes linear time', { timeout: 60_000 }, () => {
  const dir = tempStatsDir();
  let w: ScriptProcess;
  let srv: ServeProcess;

  before(async () => {
    for (let i = 0; i < LONG_NAMES; i++) fs.writeFileSync(path.join(dir, `${'a'.repeat(228)}-${String(i).padStart(3, '0')}.mmstats`), 'x');
    w = runScript(
      `
const s = openStats({ name: 'Glob', path: env.DIR });
s.add('glob.hits', field.counter()).incr(3);
ready(s.path);
`,
      { env: { DIR: dir } },
    );
    await w.ready;
    srv = await startServe(['--port', '0', '--path', dir]);
  });

  after(async () => {
    // A server stuck in a backtracking match never handles SIGTERM.
    const kill = setTimeout(() => srv?.child.kill('SIGKILL'), 3000);
    await srv?.stop();
    clearTimeout(kill);
    await w?.end();
  });

  for (const route of ['stats/?glob=', 'api/writers?glob=', 'api/fields?glob=', 'files/']) {
    test(`GET /${route}<pathological glob> answers in milliseconds while /metrics keeps answering`, async () => {
      const evil = timed(() => fetch(srv.url + route + encodeURIComponent(EVIL), { signal: AbortSignal.timeout(10_000) }));
      const metrics = await timed(() => fetch(srv.url + 'metrics', { signal: AbortSignal.timeout(10_000) }).then((r) => r.text()));
      const { ms, value: res } = await evil;
      assert.equal(res.status, 404, 'no file matches');
      assert.ok(ms < 2000, `the glob request took ${ms.toFixed(0)} ms`);
      assert.ok(metrics.value.includes('glob_hits_total'), 'metrics answered with the writer');
      assert.ok(metrics.ms < 2000, `/metrics took ${metrics.ms.toFixed(0)} ms`);
    });
  }

  test('the same glob still selects what it should', async () => {
    const res = await fetch(srv.url + 'files/' + encodeURIComponent('*?*?*-29[0-9].mmstats'));
    const body = (await res.json()) as { files: string[] };
    assert.equal(body.files.length, 10);
  });

  test('mmstats slurp with a pathological glob finishes at once', async () => {
    const t = performance.now();
    const r = await runCli(['slurp', path.join(dir, EVIL)], { timeoutMs: 20_000 });
    const ms = performance.now() - t;
    assert.equal(r.code, 0, r.stderr);
    assert.ok(ms < 5000, `slurp took ${ms.toFixed(0)} ms`);
    const hit = await runCli(['slurp', path.join(dir, '*?*?*Glob*?*?')]);
    assert.match(hit.stdout, /glob\.hits\s+3/);
  });
});
