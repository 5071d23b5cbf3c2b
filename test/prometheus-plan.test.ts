import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MetricsRenderer, renderMetrics } from '../src/tools/server/prometheus.js';
import { StatsStore } from '../src/tools/server/store.js';
import { runScript, tempStatsDir } from './helpers/proc.js';

/** A writer (another process) whose values, fields and files the test changes step by step. */
const WRITER = `
const a = openStats({ name: 'PlanA', path: env.DIR, defaultFields: true });
const hits = a.add('web.hits', field.counter());
const state = a.add('web.state', field.string({ size: 32 }));
const lat = a.add('web.latency', field.timer());
const io = a.add('web.io', field.compound(['read', 'written']));
state.set('starting');
let b;
on('values', (n) => {
  hits.incr(n);
  state.set('serving ' + n);
  lat.record(n / 1000);
  io.update((v) => { v.read += n; v.written += 2 * n; });
});
on('addField', () => { a.add('web.errors', field.counter()).incr(3); });
on('addFile', () => { b = openStats({ name: 'PlanB', path: env.DIR, defaultFields: false }); b.add('web.hits', field.counter()).incr(7); });
on('removeFile', () => { b.remove(); });
ready(null);
`;

test('a renderer that keeps its plan renders each scrape exactly as a fresh rendering does, as values, fields and files change', async () => {
  const dir = tempStatsDir();
  const writer = runScript(WRITER, { env: { DIR: dir } });
  await writer.ready;
  const store = new StatsStore({ paths: [dir], cacheMs: 0, rescanMs: 0 });
  const text = new MetricsRenderer();
  const om = new MetricsRenderer({ openMetrics: true });
  const same = (what: string) => {
    const view = store.read();
    const kept = text.render(view).toString('utf8');
    assert.equal(kept, renderMetrics(view), `text format, ${what}`);
    assert.equal(om.render(view).toString('utf8'), renderMetrics(view, { openMetrics: true }), `OpenMetrics, ${what}`);
    return kept;
  };
  try {
    const first = same('first scrape');
    assert.match(first, /^web_hits_total\{.*\} 0$/m);
    await writer.call('values', 5);
    const second = same('new values');
    assert.match(second, /^web_hits_total\{.*\} 5$/m, 'the kept plan shows the new counter value');
    assert.match(second, /^web_state_info\{.*value="serving 5"\} 1$/m, 'and the new string');
    assert.match(second, /^web_io\{.*part="written"\} 10$/m, 'and the new compound part');
    assert.match(second, /^web_latency_seconds_count\{.*\} 1$/m, 'and the new histogram');
    await writer.call('values', 2);
    assert.match(same('values again'), /^web_hits_total\{.*\} 7$/m);
    assert.equal(text.plansMade, 1, 'while only values change, the first plan serves every scrape');
    await writer.call('addField');
    assert.match(same('a field added'), /^web_errors_total\{.*\} 3$/m, 'a field added while served appears');
    assert.equal(text.plansMade, 2, 'a new field makes a new plan');
    await writer.call('addFile');
    const two = same('a file added');
    assert.equal(two.match(/^web_hits_total\{/gm)?.length, 2, 'a second file is a second series');
    await writer.call('removeFile');
    const gone = same('a file removed');
    assert.equal(gone.match(/^web_hits_total\{/gm)?.length, 1);
  } finally {
    store.close();
    await writer.end();
  }
});

test('a kept plan follows a family whose children come and go, a freed slot reused by another label set included', async () => {
  const dir = tempStatsDir();
  const writer = runScript(
    `
    const s = openStats({ name: 'PlanF', path: env.DIR });
    const hits = s.add('web.hits', field.counter({ labels: ['route'] }));
    on('hit', (route, n) => { hits.with(route).incr(n); });
    on('remove', (route) => { hits.remove(route); });
    ready(null);
    `,
    { env: { DIR: dir } },
  );
  await writer.ready;
  const store = new StatsStore({ paths: [dir], cacheMs: 0, rescanMs: 0 });
  const kept = new MetricsRenderer();
  const same = (what: string) => {
    const view = store.read();
    const text = kept.render(view).toString('utf8');
    assert.equal(text, renderMetrics(view), what);
    return text
      .split('\n')
      .filter((l) => l.startsWith('web_hits_total{'))
      .sort();
  };
  try {
    await writer.call('hit', '/a', 1);
    await writer.call('hit', '/b', 2);
    assert.deepEqual(same('two children'), [
      'web_hits_total{cmd="writer",model="PlanF",route="/a"} 1',
      'web_hits_total{cmd="writer",model="PlanF",route="/b"} 2',
    ]);
    await writer.call('hit', '/a', 1);
    assert.deepEqual(same('a value changed'), [
      'web_hits_total{cmd="writer",model="PlanF",route="/a"} 2',
      'web_hits_total{cmd="writer",model="PlanF",route="/b"} 2',
    ]);
    const plans = kept.plansMade;
    // /a's slot is freed and taken by /c: as many children as before, under other labels.
    await writer.call('remove', '/a');
    await writer.call('hit', '/c', 5);
    assert.deepEqual(same('a slot reused'), [
      'web_hits_total{cmd="writer",model="PlanF",route="/b"} 2',
      'web_hits_total{cmd="writer",model="PlanF",route="/c"} 5',
    ]);
    assert.ok(kept.plansMade > plans, 'a new set of children makes a new plan');
  } finally {
    store.close();
    await writer.end();
  }
});

test('sample values are written as Prometheus reads them: integers digit for digit, others as JavaScript prints them', async () => {
  const values = [
    0,
    -0,
    7,
    -7,
    10,
    99,
    100,
    123456789012,
    2 ** 31,
    -(2 ** 31) - 1,
    2 ** 53 - 1,
    -(2 ** 53 - 1),
    2 ** 53,
    1e21,
    0.5,
    -1.25,
    1e-7,
  ];
  const dir = tempStatsDir();
  const writer = runScript(
    `
const s = openStats({ name: 'Digits', path: env.DIR, defaultFields: false });
const values = ${JSON.stringify(values)};
values.forEach((v, i) => s.add('v' + i, field.gauge()).set(Object.is(v, 0) && i === 1 ? -0 : v));
s.add('big.count', field.counter()).incr(4294967296);
ready(null);
`,
    { env: { DIR: dir } },
  );
  await writer.ready;
  const store = new StatsStore({ paths: [dir], cacheMs: 0, rescanMs: 0 });
  try {
    const text = new MetricsRenderer().render(store.read()).toString('utf8');
    values.forEach((v, i) => {
      const shown = String(i === 1 ? -0 : v); // -0 prints as 0
      assert.match(text, new RegExp(`^v${i}\\{[^}]*\\} ${shown.replace(/[.+]/g, '\\$&')}$`, 'm'), `v${i} = ${shown}`);
    });
    assert.match(text, /^big_count_total\{[^}]*\} 4294967296$/m);
  } finally {
    store.close();
    await writer.end();
  }
});
