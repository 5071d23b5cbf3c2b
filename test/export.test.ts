import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { CLI, runScript, tempStatsDir, waitFor } from './helpers/proc.js';
import { systemProgram } from './helpers/serve.js';

const WRITER = `
const Web = defineModel('Web', { requests: field.counter({ help: 'requests served' }) }, { prefix: 'web.' });
const s = Web.open({ path: env.DIR });
on('incr', (n) => s.requests.incr(n));
ready(s.path);
`;

/** The writer's counter, from its series (labelled cmd and model: one writer of the model). */
function requests(text: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith('web_requests_total{cmd="writer",model="Web"}'));
  return line === undefined ? undefined : Number(line.split(' ').pop());
}

describe('mmstats export --textfile', () => {
  test('writes DIR/mmstats.prom once, in the text format promtool accepts, leaving no temporary file', async (t) => {
    const dir = tempStatsDir();
    const out = tempStatsDir('mmstats-textfile-');
    const w = runScript(WRITER, { env: { DIR: dir } });
    await w.ready;
    await w.call('incr', 3);
    try {
      const r = spawnSync(process.execPath, [CLI, 'export', '--textfile', out, '--path', dir], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(fs.readdirSync(out), ['mmstats.prom']);
      const text = fs.readFileSync(path.join(out, 'mmstats.prom'), 'utf8');
      assert.equal(requests(text), 3);
      assert.ok(text.includes('# TYPE web_requests_total counter\n'));
      assert.ok(!text.includes('# EOF'), 'the textfile collector reads the text format, not OpenMetrics');
      const promtool = systemProgram('promtool');
      if (!promtool) t.diagnostic('promtool is not installed (apt-get install prometheus): format not checked by it');
      else {
        const check = spawnSync(promtool, ['check', 'metrics'], { input: text, encoding: 'utf8' });
        assert.equal(check.status, 0, check.stdout + check.stderr);
      }
    } finally {
      await w.end();
    }
  });

  test('with --interval it rewrites the file atomically: every read sees a whole file, and values follow the writer', async () => {
    const dir = tempStatsDir();
    const out = tempStatsDir('mmstats-textfile-');
    const w = runScript(WRITER, { env: { DIR: dir } });
    await w.ready;
    await w.call('incr', 1);
    const child = spawn(process.execPath, [CLI, 'export', '--textfile', out, '--interval', '0.05', '--path', dir], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const file = path.join(out, 'mmstats.prom');
    try {
      await waitFor(() => fs.existsSync(file), 10_000, 'the first file');
      let reads = 0;
      let total = 1;
      const until = Date.now() + 1500;
      while (Date.now() < until) {
        const text = fs.readFileSync(file, 'utf8');
        reads++;
        // A whole file: it starts with our first family and ends with a complete line.
        assert.ok(text.startsWith('# HELP mmstats_files '), text.slice(0, 80));
        assert.ok(text.endsWith('\n'));
        assert.ok(requests(text)! >= 1);
        if (reads % 20 === 0) await w.call('incr', 1).then(() => total++);
        await new Promise((r) => setImmediate(r));
      }
      assert.ok(reads > 50, `${reads} reads`);
      await waitFor(() => requests(fs.readFileSync(file, 'utf8')) === total, 10_000, `the file to show ${total}`);
      child.kill('SIGTERM');
      assert.equal(await exited, 0, stderr);
      assert.deepEqual(fs.readdirSync(out), ['mmstats.prom'], 'no temporary file is left behind');
    } finally {
      child.kill('SIGKILL');
      await w.end();
    }
  });

  test('bad command lines are usage errors (exit 2) naming the problem; a missing directory exits 1', () => {
    const missing = spawnSync(process.execPath, [CLI, 'export'], { encoding: 'utf8' });
    assert.equal(missing.status, 2);
    assert.match(missing.stderr, /--textfile DIR is required/);
    const out = tempStatsDir('mmstats-textfile-');
    const badName = spawnSync(process.execPath, [CLI, 'export', '--textfile', out, '--name', '../x.prom'], { encoding: 'utf8' });
    assert.equal(badName.status, 2);
    assert.match(badName.stderr, /--name must be a plain file name ending in \.prom/);
    const badInterval = spawnSync(process.execPath, [CLI, 'export', '--textfile', out, '--interval', 'soon'], { encoding: 'utf8' });
    assert.equal(badInterval.status, 2);
    assert.match(badInterval.stderr, /--interval/);
    const noDir = spawnSync(process.execPath, [CLI, 'export', '--textfile', path.join(out, 'nope'), '--path', out], { encoding: 'utf8' });
    assert.equal(noDir.status, 1);
    assert.match(noDir.stderr, /nope/);
  });
});
