import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CLI, runScript, tempStatsDir, waitFor, type ScriptProcess } from './helpers/proc.js';

const HAVE_TMUX = spawnSync('tmux', ['-V']).status === 0;
const SKIP = HAVE_TMUX ? false : 'tmux is not installed: install it (Debian: apt-get install tmux) to run the terminal tests';

const WRITER = `
const stats = openStats({ name: 'Top', path: env.DIR });
const done = stats.add('jobs.done', field.counter());
const queue = stats.add('jobs.queue', field.gauge());
setInterval(() => done.incr(7), 10);
on('queue', (n) => queue.set(n));
ready(stats.path);
`;

/** A private tmux server (its own socket, no user configuration). */
class Tmux {
  readonly socket: string;
  constructor(dir: string) {
    this.socket = path.join(dir, 'tmux.sock');
  }
  run(...args: string[]): string {
    const r = spawnSync('tmux', ['-S', this.socket, '-f', '/dev/null', ...args], { encoding: 'utf8', timeout: 20_000 });
    if (r.status !== 0) throw new Error(`tmux ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  }
  /** Start `command` in a new session (120x40 unless told) that stays after the command exits. */
  start(name: string, command: string, env: Record<string, string> = {}, columns = 120): void {
    const vars = Object.entries(env).flatMap(([k, v]) => ['-e', `${k}=${v}`]);
    this.run(
      'new-session',
      '-d',
      '-s',
      name,
      '-x',
      String(columns),
      '-y',
      '40',
      ...vars,
      command,
      ';',
      'set-option',
      '-t',
      name,
      'remain-on-exit',
      'on',
    );
  }
  screen(name: string, escapes = false): string {
    return this.run('capture-pane', '-p', ...(escapes ? ['-e'] : []), '-t', name);
  }
  info(name: string, format: string): string {
    return this.run('display-message', '-p', '-t', name, format).trim();
  }
  keys(name: string, ...keys: string[]): void {
    this.run('send-keys', '-t', name, ...keys);
  }
  kill(): void {
    spawnSync('tmux', ['-S', this.socket, 'kill-server']);
  }
}

const sh = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;

describe('mmstats top in a real terminal', { skip: SKIP }, () => {
  let dir: string;
  let writer: ScriptProcess;
  let tmux: Tmux;

  before(async () => {
    dir = tempStatsDir();
    tmux = new Tmux(tempStatsDir('mmstats-tmux-'));
    writer = runScript(WRITER, { env: { DIR: dir } });
    await writer.ready;
  });
  after(async () => {
    tmux.kill();
    await writer.end();
  });

  // The shell stays after top ends, so that the terminal's state can be inspected (tmux
  // reports a dead pane's cursor as hidden) and top's exit status shows on screen.
  const topThenShell = () => `${sh(process.execPath)} ${sh(CLI)} top -d 0.2 ${sh(dir)}; echo "top exited with $?"; exec sleep 600`;

  test('shows live values, filters and sorts on keys, and restores the terminal on q', async () => {
    await writer.call('queue', 111111);
    tmux.start('top', topThenShell());
    const screen = () => tmux.screen('top');
    await waitFor(() => screen().includes('111111'), 20_000, 'the gauge value on screen');
    // From the second frame on, the counter shows as a rate.
    await waitFor(() => /^ +jobs\.done +[\d.]+\/s {2}\(\d+\)/m.test(screen()), 20_000, 'the counter rate on screen');
    const first = screen();
    assert.match(first, /mmstats top .*writers: 1 \(1 alive\)/);
    assert.match(first, new RegExp(`^ +${writer.pid} +0  alive  .*writer\\.mjs`, 'm'));
    assert.equal(tmux.info('top', '#{alternate_on} #{cursor_flag}'), '1 0', 'alternate screen on, cursor hidden');

    // The value changes on screen when the writer changes it.
    await writer.call('queue', 222222);
    await waitFor(() => screen().includes('222222'), 20_000, 'the new gauge value on screen');
    // A counter's sparkline fills as samples arrive.
    await waitFor(() => /jobs\.done .*[▁▂▃▄▅▆▇█]{3}/.test(screen()), 20_000, 'a sparkline');

    tmux.keys('top', '/', 'queue');
    await waitFor(() => /filter: queue/.test(screen()) && !screen().includes('jobs.done'), 20_000, 'the filter applied');
    assert.match(screen(), /jobs\.queue/);
    tmux.keys('top', 'Enter', 's');
    await waitFor(() => /sort: value/.test(screen()), 20_000, 'the sort mode changed');

    tmux.keys('top', 'q');
    await waitFor(() => screen().includes('top exited with'), 20_000, 'top to exit');
    assert.match(screen(), /^top exited with 0$/m);
    assert.equal(tmux.info('top', '#{alternate_on} #{cursor_flag}'), '0 1', 'alternate screen left, cursor shown');
    assert.doesNotMatch(screen(), /mmstats top/, 'the normal screen is back');
  });

  // At 120 columns a timer's rate and three percentiles (wider than the 36 columns values were
  // once cut to); at 60, the rate and the two default percentiles.
  for (const [columns, percentiles] of [
    [120, '50,90,99'],
    [60, '50,99'],
  ] as const) {
    test(`at ${columns} columns every value shows whole: none cut, no digit lost at the edge`, async () => {
      const wide = runScript(
        `
const stats = openStats({ name: 'Wide', path: env.DIR });
const latency = stats.add('service.requests.latency.seconds', field.timer());
const big = stats.add('service.backlog.bytes.waiting', field.gauge({ unit: 'bytes' }));
big.set(9876543210);
setInterval(() => { for (let i = 0; i < 400; i++) latency.record(0.2 + Math.random() / 20); }, 10);
ready(stats.path);
`,
        { env: { DIR: dir } },
      );
      const name = `w${columns}`;
      try {
        await wide.ready;
        tmux.start(
          name,
          `${sh(process.execPath)} ${sh(CLI)} top -d 0.2 --percentiles ${percentiles} --path ${sh(dir)}; exec sleep 600`,
          {},
          columns,
        );
        const screen = () => tmux.screen(name);
        // From the second frame on the timer shows its rate and percentiles, whole.
        const shown = new RegExp(
          `\\d/s ${percentiles
            .split(',')
            .map((p) => `p${p}=0\\.2\\d*`)
            .join(' ')} seconds`,
        );
        await waitFor(() => shown.test(screen()), 20_000, `the timer's line at ${columns} columns`);
        const text = screen();
        assert.match(text, /9876543210 bytes/, 'the gauge value whole, with its unit');
        assert.match(text, new RegExp(`^ +${wide.pid} +0  alive`, 'm'), 'the pid whole');
        assert.match(text, /p99=0\.2\d* seconds/, 'the percentiles are not cut');
        tmux.keys(name, 'a');
        await waitFor(() => /sys\.pid/.test(screen()), 20_000, 'the write-once fields');
        assert.match(screen(), new RegExp(`sys\\.pid +${wide.pid}\\b`), 'sys.pid whole at the edge');
        tmux.keys(name, 'q');
      } finally {
        await wide.end();
      }
    });
  }

  test('SIGTERM also ends top and restores the terminal', async () => {
    tmux.start('term', topThenShell());
    await waitFor(() => tmux.screen('term').includes('jobs.queue'), 20_000, 'top to draw');
    const shell = Number(tmux.info('term', '#{pane_pid}'));
    const top = Number(fs.readFileSync(`/proc/${shell}/task/${shell}/children`, 'utf8').trim().split(/\s+/)[0]);
    assert.ok(top > 0, 'top runs under the shell');
    process.kill(top, 'SIGTERM');
    await waitFor(() => tmux.screen('term').includes('top exited with'), 20_000, 'top to exit');
    assert.match(tmux.screen('term'), /^top exited with 0$/m);
    assert.equal(tmux.info('term', '#{alternate_on} #{cursor_flag}'), '0 1');
  });

  test('colours output on a terminal, never when NO_COLOR is set', async () => {
    const cmd = `${sh(process.execPath)} ${sh(CLI)} slurp ${sh(dir)}`;
    tmux.start('colour', cmd);
    tmux.start('plain', cmd, { NO_COLOR: '1' });
    for (const name of ['colour', 'plain']) await waitFor(() => tmux.info(name, '#{pane_dead}') === '1', 20_000, `${name} to finish`);
    const colour = tmux.screen('colour', true);
    const plain = tmux.screen('plain', true);
    assert.match(colour, /jobs\.queue/);
    assert.match(plain, /jobs\.queue/);
    assert.ok(colour.includes('\x1b['), 'colour escapes on a terminal');
    assert.ok(!plain.includes('\x1b['), 'no escapes with NO_COLOR');
  });
});

test('top refuses to start without a terminal and points to --batch', async () => {
  const r = spawnSync(process.execPath, [CLI, 'top', tempStatsDir()], { encoding: 'utf8', timeout: 20_000 });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /top needs a terminal; use --batch/);
});

test('top --batch prints plain frames of the writers and their fields', async () => {
  const dir = tempStatsDir();
  const w = runScript(WRITER, { env: { DIR: dir } });
  await w.ready;
  await w.call('queue', 42);
  fs.writeFileSync(path.join(dir, 'broken.mmstats'), 'not stats');
  try {
    const r = spawnSync(process.execPath, [CLI, 'top', '--batch', '-c', '2', '-d', '0.2', dir], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(r.status, 0, r.stderr);
    const frames = r.stdout.trimEnd().split(/\n\n(?=mmstats top)/);
    assert.equal(frames.length, 2);
    assert.match(frames[1]!, new RegExp(`^ +${w.pid} +0  alive`, 'm'));
    assert.match(frames[1]!, /^ +jobs\.queue +42( |$)/m);
    assert.match(frames[1]!, /^unreadable .*broken\.mmstats: ERR_MMSTATS_NOT_STATS/m);
    // The second frame knows the counter's rate from the first.
    assert.match(frames[1]!, /^ +jobs\.done +[\d.]+\/s {2}\(\d+\)/m);
  } finally {
    await w.end();
  }
});

test('top with no stats files says where it looked', () => {
  const empty = tempStatsDir();
  const r = spawnSync(process.execPath, [CLI, 'top', '--batch', '--path', empty], { encoding: 'utf8', timeout: 20_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /writers: 0 \(0 alive\)/);
  assert.match(r.stdout, new RegExp(`^no stats files in ${empty}$`, 'm'));
});
