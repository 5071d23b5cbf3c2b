import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { CLI, DIST, runCli, runScript, tempStatsDir } from './helpers/proc.js';

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

test("option errors are said in the tool's own words, with balanced quotes and the options it takes", async () => {
  const cases: [string[], RegExp][] = [
    [
      ['slurp', '--bogus'],
      /^mmstats slurp: unknown option --bogus; options: --prefix, -p .*--path .*--help, -h\nsee: mmstats slurp --help\n$/,
    ],
    [['top', '-x', '--batch'], /^mmstats top: unknown option -x; options: /],
    [['poll', '--delay'], /^mmstats poll: option --delay needs a value\n/],
    [
      ['poll', '-d', '--json', 'x'],
      /^mmstats poll: option -d needs a value, not the option --json \(a value that starts with - goes as --delay=--json\)\n/,
    ],
    [['slurp', '--json=yes'], /^mmstats slurp: option --json takes no value\n/],
    [['serve', '--prot', '80'], /^mmstats serve: unknown option --prot; /],
  ];
  for (const [args, message] of cases) {
    const r = await runCli(args);
    assert.equal(r.code, 2, args.join(' '));
    assert.match(r.stderr, message, args.join(' '));
    for (const line of r.stderr.split('\n')) {
      assert.equal((line.match(/['"]/g) ?? []).length % 2, 0, `unbalanced quote: ${line}`);
    }
    assert.doesNotMatch(r.stderr, /To specify a positional argument/, "not node's parseArgs text");
  }
});

test('every command takes --path as serve and export do', async () => {
  const dir = tempStatsDir();
  const w = runScript(`const s = openStats({ name: 'P', path: env.DIR }); s.add('p.n', field.counter()).incr(5); ready(s.path);`, {
    env: { DIR: dir },
  });
  try {
    const file: string = await w.ready;
    const slurp = await runCli(['slurp', '--path', dir]);
    assert.equal(slurp.code, 0, slurp.stderr);
    assert.ok(slurp.stdout.includes(`==> ${file}`));
    const poll = await runCli(['poll', '--json', '-d', '0.05', '-c', '1', '--path', dir, 'p.n']);
    assert.equal(poll.code, 0, poll.stderr);
    assert.equal(JSON.parse(poll.stdout).files, 1);
    const top = await runCli(['top', '--batch', '--path', dir]);
    assert.equal(top.code, 0, top.stderr);
    assert.match(top.stdout, /p\.n/);
    const clean = await runCli(['clean', '--dry-run', '--path', dir]);
    assert.equal(clean.code, 0, clean.stderr);
    assert.match(clean.stdout, /Would remove 0 - 1 alive/);
  } finally {
    await w.end();
  }
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
