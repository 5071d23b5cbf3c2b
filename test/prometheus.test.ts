import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runScript, tempStatsDir, type ScriptProcess } from './helpers/proc.js';
import { startServe, systemProgram, type ServeProcess } from './helpers/serve.js';

/** A writer with every kind the exposition maps, and labels that need sanitising. */
const WRITER = `
const s = openStats({ name: 'Prom', path: env.DIR });
const ok = s.add('web.stats.status.2XX', field.counter({ help: 'responses with a "2XX" status\\nand a backslash \\\\' }));
const nine = s.add('9lives', field.gauge());
const ab1 = s.add('p.q', field.gauge());
const ab2 = s.add('p_q', field.gauge());
const hits = s.add('cache-hits:total', field.counter());
const busy = s.add('job.duration.total', field.counter({ unit: 'seconds' }));
const lat = s.add('latency', field.timer());
const sizes = s.add('sizes', field.histogram({ buckets: [10, 100, 1000], unit: 'bytes' }));
const motd = s.add('motd', field.string({ size: 64 }));
const odd = s.add('untyped.thing', field.float64({ kind: 'untyped' }));
const flag = s.add('flag', field.bool());
const pair = s.add('pair', field.compound(['x', 'y']));
on('fill', (n) => {
  ok.incr(n); nine.set(9); ab1.set(1); ab2.set(2); hits.incr(3); busy.incr(1.5);
  for (const v of [0.002, 0.02, 0.2, 2]) lat.record(v);
  for (const v of [5, 50, 500, 5000, 50]) sizes.record(v);
  motd.set('say "hi"\\nback\\\\slash'); odd.set(1.5); flag.set(true); pair.set({ x: 1, y: 2 });
});
ready(s.path);
`;

async function scrape(url: string, accept?: string): Promise<{ type: string; text: string }> {
  const res = await fetch(`${url}metrics`, { headers: accept ? { accept } : {} });
  assert.equal(res.status, 200);
  return { type: res.headers.get('content-type') ?? '', text: await res.text() };
}

/** Sample lines of a metric name (exact name, any labels). */
function samples(text: string, name: string): string[] {
  return text.split('\n').filter((l) => l.startsWith(name + '{') || l.startsWith(name + ' '));
}

describe('/metrics: Prometheus text format and OpenMetrics from real writers', () => {
  let dir: string;
  let w1: ScriptProcess;
  let w2: ScriptProcess;
  let srv: ServeProcess;

  before(async () => {
    dir = tempStatsDir();
    w1 = runScript(WRITER, { env: { DIR: dir } });
    w2 = runScript(WRITER, { env: { DIR: dir } });
    await Promise.all([w1.ready, w2.ready]);
    await w1.call('fill', 7);
    await w2.call('fill', 11);
    fs.writeFileSync(path.join(dir, 'junk.mmstats'), 'not stats at all\n');
    // Each writer its own series: pid and tid asked for.
    srv = await startServe(['--port', '0', '--path', dir, '--writer-labels', 'cmd,model,pid,tid']);
  });

  after(async () => {
    await srv?.stop();
    await Promise.all([w1?.end(), w2?.end()]);
  });

  test('passes promtool check metrics', async (t) => {
    const promtool = systemProgram('promtool');
    if (!promtool) {
      t.skip('promtool is not installed: apt-get install prometheus');
      return;
    }
    const { text } = await scrape(srv.url);
    const r = spawnSync(promtool, ['check', 'metrics'], { input: text, encoding: 'utf8' });
    assert.equal(r.status, 0, `promtool: ${r.stdout}${r.stderr}\n${text}`);
  });

  test('text format: counters as _total with TYPE and escaped HELP, one series per writer labelled cmd, model, pid, tid when asked', async () => {
    const { type, text } = await scrape(srv.url);
    assert.equal(type, 'text/plain; version=0.0.4; charset=utf-8');
    assert.ok(text.includes('# TYPE web_stats_status_2xx_total counter\n'));
    assert.ok(text.includes('# HELP web_stats_status_2xx_total responses with a "2XX" status\\nand a backslash \\\\\n'));
    const lines = samples(text, 'web_stats_status_2xx_total');
    assert.equal(lines.length, 2);
    assert.ok(lines.includes(`web_stats_status_2xx_total{cmd="writer",model="Prom",pid="${w1.pid}",tid="0"} 7`), lines.join('\n'));
    assert.ok(lines.includes(`web_stats_status_2xx_total{cmd="writer",model="Prom",pid="${w2.pid}",tid="0"} 11`), lines.join('\n'));
    // A label ending in "total" is not doubled; the unit is appended before the suffix.
    assert.ok(text.includes('# TYPE cache_hits_total counter\n'));
    assert.equal(samples(text, 'job_duration_seconds_total').length, 2);
  });

  test('names are sanitised: invalid characters to _, a leading digit prefixed, collisions numbered', async () => {
    const { text } = await scrape(srv.url);
    assert.ok(text.includes('# TYPE _9lives gauge\n'));
    assert.match(samples(text, '_9lives')[0]!, / 9$/);
    // "p.q" and "p_q" both sanitise to p_q: the later label (in label order) becomes p_q_2.
    assert.match(samples(text, 'p_q')[0]!, / 1$/);
    assert.match(samples(text, 'p_q_2')[0]!, / 2$/);
    for (const line of text.split('\n')) {
      if (line === '' || line.startsWith('#')) continue;
      assert.match(line, /^[a-zA-Z_][a-zA-Z0-9_]*(\{.*\})? \S+$/, line);
    }
  });

  test('histograms and timers as cumulative _bucket{le}, _sum and _count; strings as _info with an escaped value label', async () => {
    const { text } = await scrape(srv.url);
    assert.ok(text.includes('# TYPE sizes_bytes histogram\n'));
    const buckets = samples(text, 'sizes_bytes_bucket').filter((l) => l.includes(`pid="${w1.pid}"`));
    assert.deepEqual(
      buckets.map((l) => [/le="([^"]+)"/.exec(l)![1], Number(l.split(' ').pop())]),
      [
        ['10', 1],
        ['100', 3],
        ['1000', 4],
        ['+Inf', 5],
      ],
    );
    assert.ok(samples(text, 'sizes_bytes_count').some((l) => l.endsWith(' 5')));
    assert.ok(samples(text, 'sizes_bytes_sum').some((l) => l.endsWith(' 5605')));
    const timer = samples(text, 'latency_seconds_bucket').filter((l) => l.includes(`pid="${w2.pid}"`));
    assert.ok(timer.length > 2 && timer.length <= 41, `${timer.length} timer buckets`);
    const counts = timer.map((l) => Number(l.split(' ').pop()));
    assert.deepEqual(
      counts,
      [...counts].sort((a, b) => a - b),
      'cumulative counts never decrease',
    );
    assert.equal(counts.at(-1), 4);
    assert.match(timer.at(-1)!, /le="\+Inf"/);
    // The timer's moving mean (the original's TimerField value) is a gauge of its own.
    assert.ok(text.includes('# TYPE latency_moving_mean_seconds gauge\n'));
    const mean = Number(samples(text, 'latency_moving_mean_seconds')[0]!.split(' ').pop());
    assert.ok(Math.abs(mean - 2.222 / 4) < 1e-9, `moving mean ${mean}`);
    const info = samples(text, 'motd_info')[0]!;
    assert.ok(info.includes('value="say \\"hi\\"\\nback\\\\slash"'), info);
    assert.ok(text.includes('# TYPE untyped_thing untyped\n'));
    assert.match(samples(text, 'flag')[0]!, / 1$/);
    assert.ok(samples(text, 'pair').some((l) => l.includes('part="y"') && l.endsWith(' 2')));
  });

  test('a malformed file is an error series and a comment, and the rest of the scrape is intact', async () => {
    const { text } = await scrape(srv.url);
    assert.ok(text.includes('mmstats_file_error{file="junk.mmstats",code="ERR_MMSTATS_NOT_STATS"} 1\n'));
    assert.match(text, /^# mmstats: junk\.mmstats: ERR_MMSTATS_NOT_STATS: /m);
    assert.ok(text.includes('mmstats_files 3\n'));
    assert.equal(samples(text, 'mmstats_writer_alive').length, 2);
  });

  test('OpenMetrics when Accept asks for it: family names, _total samples, UNIT, info type and # EOF', async () => {
    const { type, text } = await scrape(srv.url, 'application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5');
    assert.equal(type, 'application/openmetrics-text; version=1.0.0; charset=utf-8');
    assert.ok(text.endsWith('# EOF\n'));
    assert.ok(text.includes('# TYPE web_stats_status_2xx counter\n'));
    assert.equal(samples(text, 'web_stats_status_2xx_total').length, 2);
    assert.ok(text.includes('# TYPE latency_seconds histogram\n# UNIT latency_seconds seconds\n'));
    assert.ok(text.includes('# TYPE job_duration_seconds counter\n# UNIT job_duration_seconds seconds\n'));
    assert.ok(text.includes('# TYPE motd info\n'));
    assert.ok(text.includes('# TYPE untyped_thing unknown\n'));
    assert.ok(text.includes('# HELP web_stats_status_2xx responses with a \\"2XX\\" status\\nand a backslash \\\\\n'));
    // OpenMetrics allows no free comments: the malformed file is only its error series.
    assert.equal(text.split('\n').filter((l) => l.startsWith('#') && !/^# (HELP|TYPE|UNIT|EOF)/.test(l)).length, 0);
    assert.ok(text.includes('mmstats_file_error{file="junk.mmstats",code="ERR_MMSTATS_NOT_STATS"} 1\n'));
    // Each family's samples are contiguous: a name never comes back after another family.
    const order: string[] = [];
    for (const l of text.split('\n')) {
      const m = /^# TYPE (\S+)/.exec(l);
      if (m) order.push(m[1]!);
    }
    assert.equal(new Set(order).size, order.length);
    const plain = await scrape(srv.url, 'application/openmetrics-text;q=0,text/plain');
    assert.ok(plain.type.startsWith('text/plain'));
  });
});

describe('/metrics for files in the original format (v1)', () => {
  test('v1 numbers are untyped series and strings info series, labelled from the file name (v1 has no sys.program)', async () => {
    const dir = tempStatsDir();
    const w = runScript(
      `
      const Old = defineModel('Old', { hits: field.counter(), name: field.string({ size: 16 }) }, { prefix: 'old.' });
      const s = Old.open({ path: env.DIR, format: 1 });
      s.hits.incr(12); s.name.set('legacy');
      ready(s.path);
      `,
      { env: { DIR: dir } },
    );
    await w.ready;
    const srv = await startServe(['--port', '0', '--path', dir]);
    try {
      const { text } = await scrape(srv.url);
      assert.ok(text.includes('# TYPE old_hits untyped\n'), text);
      assert.ok(samples(text, 'old_hits').includes(`old_hits{cmd="writer",model="Old"} 12`), text);
      assert.ok(samples(text, 'old_name_info').some((l) => l.includes('value="legacy"')));
      const stats = (await (await fetch(`${srv.url}stats/old.hits`)).json()) as Record<string, unknown>;
      assert.deepEqual(stats, { 'old.hits': [12] });
    } finally {
      await srv.stop();
      await w.end();
    }
  });
});
