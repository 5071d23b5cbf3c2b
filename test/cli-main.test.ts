import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { CLI, DIST, runCli, tempStatsDir } from './helpers/proc.js';

test('mmstats --help lists every command with a summary', async () => {
  const r = await runCli(['--help']);
  assert.equal(r.code, 0);
  for (const cmd of ['slurp', 'poll', 'top', 'clean', 'serve', 'export']) assert.match(r.stdout, new RegExp(`^  ${cmd} +\\S`, 'm'));
});

test('mmstats --version prints the package version', async () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(DIST, '..', 'package.json'), 'utf8')) as { version: string };
  const r = await runCli(['--version']);
  assert.equal(r.code, 0);
  assert.equal(r.stdout, `mmstats ${pkg.version}\n`);
});

test('every command has --help', async () => {
  for (const cmd of ['slurp', 'poll', 'top', 'clean']) {
    const r = await runCli([cmd, '--help']);
    assert.equal(r.code, 0, `${cmd}: ${r.stderr}`);
    assert.match(r.stdout, new RegExp(`^Usage: mmstats ${cmd}`), cmd);
  }
});

test('usage errors exit with status 2 and name the problem', async () => {
  const none = await runCli([]);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /Usage: mmstats/);
  const unknown = await runCli(['slurpp']);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /unknown command "slurpp"/);
  const option = await runCli(['slurp', '--bogus']);
  assert.equal(option.code, 2);
  assert.match(option.stderr, /--bogus/);
  assert.match(option.stderr, /mmstats slurp --help/);
  const fields = await runCli(['poll']);
  assert.equal(fields.code, 2);
  assert.match(fields.stderr, /FIELDS is missing/);
  const delay = await runCli(['poll', '-d', 'soon', 'x']);
  assert.equal(delay.code, 2);
  assert.match(delay.stderr, /--delay must be a number/);
  const aggr = await runCli(['poll', '--aggr', 'median', 'x']);
  assert.equal(aggr.code, 2);
  assert.match(aggr.stderr, /--aggr must be one of sum, avg, min, max/);
});

test('the original tool names select their command', async () => {
  const bin = tempStatsDir('mmstats-bin-');
  const expected: Record<string, RegExp> = {
    slurpstats: /^Usage: mmstats slurp/,
    pollstats: /^Usage: mmstats poll/,
    cleanstats: /^Usage: mmstats clean/,
    mmash: /^Usage: mmstats serve/,
  };
  for (const [name, usage] of Object.entries(expected)) {
    fs.symlinkSync(CLI, path.join(bin, name));
    const r = await runCli(['--help'], { script: path.join(bin, name) });
    assert.equal(r.code, 0, `${name}: ${r.stderr}`);
    assert.match(r.stdout, usage, name);
  }
});

test('the built CLI starts with a shebang so that npm can link it as a program', () => {
  assert.match(fs.readFileSync(CLI, 'utf8'), /^#!\/usr\/bin\/env node\n/);
});
