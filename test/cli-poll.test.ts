import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { runCli, runScript, startCli, tempStatsDir, waitFor, type ScriptProcess } from './helpers/proc.js';

// A counter that tracks elapsed milliseconds exactly (1000 per second whatever the timer
// jitter), a gauge set from the environment, and a string that filters can match.
const WRITER = `
const stats = openStats({ name: 'Jobs', path: env.DIR });
const done = stats.add('jobs.done', field.counter());
stats.add('jobs.queue', field.gauge()).set(Number(env.QUEUE));
stats.add('jobs.role', field.string({ size: 16 })).set(env.ROLE);
const latency = stats.add('jobs.latency', field.histogram());
let n = 0;
const t0 = performance.now();
setInterval(() => {
  const target = Math.floor(performance.now() - t0);
  done.incr(target - n);
  n = target;
  for (let i = 0; i < 5; i++) latency.record(Math.random());
}, 4);
ready(stats.path);
`;

interface Line {
  files: number;
  seconds: number;
  values: Record<string, number | string | null>;
}

function jsonLines(stdout: string): Line[] {
  return stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Line);
}

/**
 * A counter's rate over several lines: the sum of its changes over the sum of the
 * intervals. One line alone is noisy on a loaded machine (a starved writer catches
 * up in the next interval); the sum is not.
 */
function rate(lines: readonly Line[], label: string): number {
  for (const l of lines) assert.ok(typeof l.values[label] === 'number' && l.values[label] >= 0, JSON.stringify(l));
  const total = lines.reduce((a, l) => a + (l.values[label] as number), 0);
  return total / lines.reduce((a, l) => a + l.seconds, 0);
}

function within(v: unknown, lo: number, hi: number, what: string): void {
  assert.ok(typeof v === 'number' && v >= lo && v <= hi, `${what}: ${String(v)} is not within [${lo}, ${hi}]`);
}

describe('mmstats poll', () => {
  let dir: string;
  let a: ScriptProcess;
  let b: ScriptProcess;

  before(async () => {
    dir = tempStatsDir();
    a = runScript(WRITER, { env: { DIR: dir, QUEUE: '3', ROLE: 'a' } });
    b = runScript(WRITER, { env: { DIR: dir, QUEUE: '4', ROLE: 'b' } });
    await Promise.all([a.ready, b.ready]);
  });
  after(async () => {
    await Promise.all([a.end(), b.end()]);
  });

  test('shows counters as their change per interval summed over writers, and gauges as values', async () => {
    const r = await runCli(['poll', '--json', '-d', '0.5', '-c', '3', 'jobs.done,jobs.queue', dir]);
    assert.equal(r.code, 0, r.stderr);
    const lines = jsonLines(r.stdout);
    assert.equal(lines.length, 3);
    for (const l of lines) {
      assert.equal(l.files, 2);
      assert.equal(l.values['jobs.queue'], 7);
    }
    // Two writers at 1000/s each; the band allows a loaded machine.
    within(rate(lines, 'jobs.done'), 1200, 2800, 'jobs.done per second of lines');
  });

  test('--per-second turns counter changes into rates per second', async () => {
    const r = await runCli(['poll', '--json', '--per-second', '-d', '0.4', '-c', '2', 'jobs.done', dir]);
    assert.equal(r.code, 0, r.stderr);
    const lines = jsonLines(r.stdout);
    // Per second already: weigh each line by its interval.
    const perSecond =
      lines.reduce((a, l) => a + (l.values['jobs.done'] as number) * l.seconds, 0) / lines.reduce((a, l) => a + l.seconds, 0);
    within(perSecond, 1200, 2800, 'jobs.done per second');
  });

  test('--aggr combines gauges across writers', async () => {
    for (const [aggr, expected] of [
      ['sum', 7],
      ['max', 4],
      ['min', 3],
      ['avg', 3.5],
    ] as const) {
      const r = await runCli(['poll', '--json', '--aggr', aggr, '-d', '0.1', '-c', '1', 'jobs.queue', dir]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(jsonLines(r.stdout)[0]!.values['jobs.queue'], expected, aggr);
    }
  });

  test('-p prefixes the fields and -f KEY=VALUE keeps only the matching files', async () => {
    const r = await runCli(['poll', '--json', '-p', 'jobs.', '-f', 'jobs.role=b', '-d', '0.3', '-c', '3', 'queue,done', dir]);
    assert.equal(r.code, 0, r.stderr);
    const lines = jsonLines(r.stdout);
    for (const l of lines) {
      assert.equal(l.files, 1);
      assert.equal(l.values['jobs.queue'], 4);
    }
    within(rate(lines, 'jobs.done'), 600, 1400, 'one writer');
  });

  test('shows timers and histograms as percentiles of the values recorded in each interval', async () => {
    const r = await runCli(['poll', '--json', '--percentiles', '50,99', '-d', '0.4', '-c', '2', 'jobs.latency', dir]);
    assert.equal(r.code, 0, r.stderr);
    for (const l of jsonLines(r.stdout)) {
      // Uniform on [0, 1): the median near 0.5, p99 near 0.99.
      within(l.values['jobs.latency:p50'], 0.35, 0.65, 'p50');
      within(l.values['jobs.latency:p99'], 0.9, 1, 'p99');
    }
  });

  test('prints aligned columns under a header repeated every -n lines', async () => {
    const r = await runCli(['poll', '-d', '0.15', '-c', '5', '-n', '2', 'jobs.done,jobs.queue', dir]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    const headers = lines.filter((l) => /files +jobs\.done +jobs\.queue/.test(l));
    assert.equal(headers.length, 3, r.stdout);
    assert.equal(lines.length, 8);
    const rows = lines.filter((l) => !headers.includes(l));
    for (const row of rows) assert.match(row, /^ +2 +\d+ +7$/);
    assert.equal(new Set(lines.map((l) => l.length)).size, 1, 'columns line up');
  });
});

test('poll picks up writers that start and drops writers that stop, and no change goes negative', async () => {
  const dir = tempStatsDir();
  const first = runScript(WRITER, { env: { DIR: dir, QUEUE: '1', ROLE: 'first' } });
  await first.ready;
  const poll = startCli(['poll', '--json', '-d', '0.25', '-c', '200', 'jobs.done,jobs.queue', dir]);
  const lines = () => jsonLines(poll.stdout().split('\n').slice(0, -1).join('\n'));
  let second: ScriptProcess | undefined;
  try {
    await waitFor(() => lines().length >= 2, 20_000, 'two lines with one writer');
    second = runScript(WRITER, { env: { DIR: dir, QUEUE: '10', ROLE: 'second' } });
    await second.ready;
    await waitFor(() => lines().some((l) => l.files === 2 && l.values['jobs.queue'] === 11), 20_000, 'a line with both writers');
    await first.end();
    const seen = lines().length;
    await waitFor(
      () =>
        lines()
          .slice(seen)
          .some((l) => l.files === 1 && l.values['jobs.queue'] === 10),
      20_000,
      'a line without the first writer',
    );
    const n = lines().length;
    await waitFor(() => lines().length >= n + 2, 20_000, 'two more lines');
    rate(lines(), 'jobs.done');
    // With the second writer alone, the counter's rate is one writer's again.
    within(rate(lines().slice(n), 'jobs.done'), 500, 1500, 'one writer');
    // Interrupting poll is a normal end.
    poll.child.kill('SIGINT');
    const r = await poll.exited;
    assert.equal(r.code, 0, r.stderr);
  } finally {
    poll.child.kill('SIGKILL');
    await Promise.all([first.end(), second?.end()]);
  }
});

test('poll shows the change of v1 numbers per line, as the original pollstats did', async () => {
  const dir = tempStatsDir();
  const w = runScript(
    `const stats = openStats({ name: 'Old', path: env.DIR, format: 1 });
     const n = stats.add('old.count', field.uint32());
     const t0 = performance.now();
     setInterval(() => n.set(Math.floor(performance.now() - t0)), 5);
     ready(stats.path);`,
    { env: { DIR: dir } },
  );
  await w.ready;
  try {
    const r = await runCli(['poll', '--json', '-d', '0.4', '-c', '3', 'old.count,sys.pid', dir]);
    assert.equal(r.code, 0, r.stderr);
    const lines = jsonLines(r.stdout);
    for (const l of lines) assert.equal(l.values['sys.pid'], 0, 'an unchanged number shows no change');
    // The writer's number follows elapsed milliseconds: 1000 per second.
    within(rate(lines, 'old.count'), 600, 1400, 'old.count per second');
  } finally {
    await w.end();
  }
});

test('poll warns about a field that no file has, and about no files at all, saying where it looked', async () => {
  const dir = tempStatsDir();
  const w = runScript(`const s = openStats({ name: 'Typo', path: env.DIR }); s.add('jobs.done', field.counter()); ready(s.path);`, {
    env: { DIR: dir },
  });
  try {
    await w.ready;
    const typo = await runCli(['poll', '-d', '0.05', '-c', '2', 'nosuch.field,jobs.done', dir]);
    assert.equal(typo.code, 0, typo.stderr);
    assert.match(typo.stderr, /^mmstats poll: no field nosuch\.field in the 1 files read; it shows as - /m);
    assert.doesNotMatch(typo.stderr, /jobs\.done/, 'a field that exists is not warned about');
    assert.equal(typo.stderr.split('\n').filter((l) => l.includes('nosuch.field')).length, 1, 'warned once, not every line');
  } finally {
    await w.end();
  }
  const empty = tempStatsDir();
  const none = await runCli(['poll', '-d', '0.05', '-c', '1', 'x', empty]);
  assert.equal(none.code, 0);
  assert.match(none.stderr, new RegExp(`^mmstats poll: no stats files in ${empty}; waiting for writers$`, 'm'));
});
