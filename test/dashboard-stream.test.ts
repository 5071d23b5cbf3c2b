/**
 * The dashboard's server side: the `/api/stream` events and the assets as
 * `mmstats serve` (a separate process) sends them, the update encoding over
 * files that writer processes make, and the percentile arithmetic.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { test } from 'node:test';
import { labelsMatch, parseFilter } from '../src/tools/dashboard/filter.js';
import { axisIncrements, axisTicks, formatRate, formatWithUnit } from '../src/tools/dashboard/format.js';
import { HistoryLog } from '../src/tools/dashboard/history.js';
import {
  bucketQuantile,
  histogramDelta,
  isWireHistogram,
  type WireHistory,
  type WireUpdate,
  type WireWriter,
} from '../src/tools/dashboard/protocol.js';
import { FilePoller, UpdateEncoder, tickWriters, wireValue } from '../src/tools/dashboard/stream.js';
import { runScript, tempStatsDir, waitFor } from './helpers/proc.js';
import { rawGet, startServe } from './helpers/serve.js';

const WRITER = `
const stats = openStats({ name: 'Svc', path: env.STATS_DIR });
const hits = stats.add('svc.hits', field.counter({ help: 'hits', unit: 'requests' }));
const lat = stats.add('svc.latency', field.histogram({ buckets: [1, 2, 4] }));
const big = stats.add('svc.big', field.uint64());
big.set(2n ** 60n + 1n);
on('hit', (n) => { hits.incr(n); });
on('observe', (...vs) => { for (const v of vs) lat.record(v); });
on('grow', () => { stats.add('svc.added', field.gauge()).set(3); });
on('stop', () => stats.remove());
ready(stats.path);
`;

interface SseEvent {
  readonly event: string;
  readonly data: unknown;
  /** Arrival time (ms since the epoch). */
  readonly at: number;
}

/** Read the first `count` SSE events from `url` (only those named `only` when given). */
function readEvents(url: string, count: number, only?: string): Promise<{ headers: http.IncomingHttpHeaders; events: SseEvent[] }> {
  return new Promise((resolve, reject) => {
    const events: SseEvent[] = [];
    const req = http.get(url, (res) => {
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buf += chunk;
        let end: number;
        while ((end = buf.indexOf('\n\n')) >= 0) {
          const lines = buf.slice(0, end).split('\n');
          buf = buf.slice(end + 2);
          const event = lines.find((l) => l.startsWith('event: '))?.slice(7);
          const data = lines.find((l) => l.startsWith('data: '));
          if (!event || !data || (only && event !== only)) continue;
          events.push({ event, data: JSON.parse(data.slice(6)), at: Date.now() });
          if (events.length === count) {
            req.destroy();
            resolve({ headers: res.headers, events });
          }
        }
      });
    });
    req.on('error', (err) => (events.length < count ? reject(err) : undefined));
    req.setTimeout(30_000, () => req.destroy(new Error('no events within 30 s')));
  });
}

/** Read `count` SSE `update` events from `url`, with their arrival times. */
async function readUpdates(
  url: string,
  count: number,
): Promise<{ headers: http.IncomingHttpHeaders; events: { at: number; update: WireUpdate }[] }> {
  const { headers, events } = await readEvents(url, count, 'update');
  return { headers, events: events.map((e) => ({ at: e.at, update: e.data as WireUpdate })) };
}

test('bucketQuantile interpolates inside the bucket a quantile falls in, and bounds the last by max', () => {
  const le = [1, 2, 4, null];
  assert.equal(bucketQuantile(0.5, le, [0, 1, 2], [10, 10, 10]), 1.5);
  assert.equal(bucketQuantile(1, le, [0, 1, 2], [10, 10, 10]), 4);
  assert.equal(bucketQuantile(0.1, le, [0, 1, 2], [10, 10, 10]), 0.3);
  // Sparse: only the +Infinity bucket holds values, up to max 10.
  assert.equal(bucketQuantile(0.5, le, [3], [4], 4, 10), 7);
  // min narrows the first bucket.
  assert.equal(bucketQuantile(0.5, le, [0], [2], 0.5, 1), 0.75);
  assert.equal(bucketQuantile(0.5, le, [], []), null);
});

test('wireValue keeps bigints past 2^53 exact as strings and sends histograms sparsely', () => {
  assert.equal(wireValue(2n ** 60n + 1n), '1152921504606846977');
  assert.equal(wireValue(5n), 5);
  assert.equal(wireValue(Number.NaN), null);
  const h = wireValue({
    count: 3,
    sum: 6,
    min: 1,
    max: 3,
    last: 3,
    buckets: [
      { le: 1, count: 1 },
      { le: 2, count: 0 },
      { le: Infinity, count: 2 },
    ],
  });
  assert.ok(isWireHistogram(h));
  assert.deepEqual(
    [h.idx, h.counts],
    [
      [0, 2],
      [1, 2],
    ],
  );
});

test('the encoder sends field metadata once per writer and again when fields are added', async () => {
  const dir = tempStatsDir();
  const w = runScript(WRITER, { env: { STATS_DIR: dir } });
  await w.ready;
  fs.writeFileSync(path.join(dir, 'junk.mmstats'), 'not a stats file at all, just text');
  const poller = new FilePoller([dir]);
  const encoder = new UpdateEncoder();
  try {
    await w.call('hit', 3);
    await w.call('observe', 0.5, 3, 9);
    const first = encoder.encode(1, [dir], poller.read());
    const mine = first.writers.find((x) => x.pid === w.pid)!;
    assert.ok(mine.fields, 'metadata comes with the first update');
    const at = (u: WireWriter, label: string) => u.values[mine.fields!.findIndex((f) => f.label === label)];
    assert.equal(at(mine, 'svc.hits'), 3);
    assert.equal(at(mine, 'svc.big'), '1152921504606846977');
    const lat = mine.fields!.find((f) => f.label === 'svc.latency')!;
    assert.deepEqual(lat.le, [1, 2, 4, null]);
    const hv = at(mine, 'svc.latency');
    assert.ok(isWireHistogram(hv));
    assert.deepEqual([hv.count, hv.idx, hv.counts], [3, [0, 2, 3], [1, 1, 1]]);
    assert.equal(mine.alive, true);
    assert.match(mine.cmd, /writer\.mjs/);

    // A file that is not a stats file is its own row with the reason, beside the good one.
    const junk = first.writers.find((x) => x.file === 'junk.mmstats')!;
    assert.match(junk.error!, /ERR_MMSTATS_NOT_STATS/);

    await w.call('hit', 2);
    const second = encoder.encode(2, [dir], poller.read()).writers.find((x) => x.pid === w.pid)!;
    assert.equal(second.fields, undefined, 'no metadata while the layout is unchanged');
    assert.equal(second.values[mine.fields!.findIndex((f) => f.label === 'svc.hits')], 5);

    await w.call('grow');
    const third = encoder.encode(3, [dir], poller.read()).writers.find((x) => x.pid === w.pid)!;
    assert.ok(
      third.fields?.some((f) => f.label === 'svc.added'),
      'a new field brings the metadata again',
    );
    // A second page gets everything from its own first update.
    assert.ok(new UpdateEncoder().encode(4, [dir], poller.read()).writers.find((x) => x.pid === w.pid)!.fields);

    await w.call('stop');
    await w.end();
    assert.equal(
      encoder.encode(5, [dir], poller.read()).writers.some((x) => x.pid === w.pid),
      false,
      'a writer whose file is removed leaves the updates',
    );
  } finally {
    poller.close();
    if (w.child.exitCode === null) w.child.kill('SIGKILL');
  }
});

test('/api/stream pushes an update at least once a second as writers come and go', async () => {
  const dir = tempStatsDir();
  const serve = await startServe(['--port', '0', '--path', dir]);
  const w = runScript(WRITER, { env: { STATS_DIR: dir } });
  try {
    await w.ready;
    await w.call('hit', 1);
    const { headers, events } = await readUpdates(`${serve.url}api/stream`, 4);
    assert.match(String(headers['content-type']), /^text\/event-stream/);
    for (let i = 1; i < events.length; i++) {
      const gap = events[i]!.at - events[i - 1]!.at;
      // One a second when the machine keeps up; a busy machine delays timers, so only a stall fails.
      assert.ok(gap < 5000, `updates ${gap} ms apart`);
      assert.ok(events[i]!.update.t > events[i - 1]!.update.t);
    }
    const first = events[0]!.update.writers.find((x) => x.pid === w.pid)!;
    assert.ok(first.fields?.some((f) => f.label === 'svc.hits'));
    assert.deepEqual(events[0]!.update.paths, [dir]);
    assert.equal(events[1]!.update.writers.find((x) => x.pid === w.pid)!.fields, undefined);

    await w.call('stop');
    await w.end();
    await waitFor(
      async () => (await readUpdates(`${serve.url}api/stream`, 1)).events[0]!.update.writers.every((x) => x.pid !== w.pid),
      10_000,
      'the writer to leave the stream',
    );
  } finally {
    if (w.child.exitCode === null) w.child.kill('SIGKILL');
    await serve.stop();
  }
});

test('the page and its assets are served with a strict content security policy; other paths are 404', async () => {
  const dir = tempStatsDir();
  const serve = await startServe(['--port', '0', '--path', dir]);
  try {
    const page = await fetch(serve.url);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type')!, /^text\/html/);
    const csp = page.headers.get('content-security-policy')!;
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'self'/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
    const html = await page.text();
    for (const asset of ['/dashboard/app.js', '/dashboard/app.css']) {
      assert.ok(html.includes(asset));
      const res = await fetch(new URL(asset, serve.url));
      assert.equal(res.status, 200, asset);
      assert.ok((await res.arrayBuffer()).byteLength > 1000, `${asset} is the real bundle`);
    }
    const js = await (await fetch(new URL('/dashboard/app.js', serve.url))).text();
    assert.doesNotMatch(js, /https?:\/\/(cdn|unpkg|cdnjs|jsdelivr)/, 'nothing is loaded from a CDN');
    for (const p of ['/dashboard/nope.js', '/dashboard/../package.json', '/dashboard/%2e%2e/package.json', '/nothing-here']) {
      const { status } = await rawGet(serve.url, p);
      assert.ok(status === 404 || status === 400, `${p} answered ${status}`);
    }
  } finally {
    await serve.stop();
  }
});

test('axis ticks are round in the unit’s own base, share one scale, and the unit reads right for one', () => {
  // Binary steps for bytes, written in one binary unit: never 488.3 KiB for a decimal step.
  assert.deepEqual(axisTicks([0, 131072, 262144, 393216, 524288], 'bytes'), ['0 KiB', '128 KiB', '256 KiB', '384 KiB', '512 KiB']);
  assert.deepEqual(axisTicks([0, 512, 1024], 'bytes'), ['0 KiB', '0.5 KiB', '1 KiB']);
  const bytesSteps = axisIncrements('bytes')!;
  assert.ok(bytesSteps.includes(256 * 1024) && !bytesSteps.includes(500_000), 'byte steps are powers of two of binary units');
  assert.equal(axisIncrements('seconds'), undefined, 'seconds keep decimal steps');
  // One scale per axis: no "0 s" beside "200 ms".
  assert.deepEqual(axisTicks([0, 0.2, 0.4, 0.6], 'seconds'), ['0 ms', '200 ms', '400 ms', '600 ms']);
  assert.deepEqual(axisTicks([0, 0.5, 1, 1.5], 'seconds'), ['0 s', '0.5 s', '1 s', '1.5 s']);
  assert.deepEqual(axisTicks([0, 20_000, 40_000], 'requests'), ['0', '20k', '40k']);
  assert.deepEqual(axisTicks([0, 2.5, 5, 7.5], ''), ['0', '2.5', '5', '7.5']);
  assert.equal(formatWithUnit(1, 'requests'), '1 request');
  assert.equal(formatWithUnit(2, 'requests'), '2 requests');
  assert.equal(formatWithUnit(1, 'celsius'), '1 celsius');
  assert.equal(formatRate(1, 'requests'), '1 request/s');
  assert.equal(formatRate(2048, 'bytes'), '2 KiB/s');
  assert.equal(formatWithUnit(0.0002, 'seconds'), '200 µs');
});

test('histogramDelta keeps only what was observed since the previous value, and all of it after a restart', () => {
  const prev = { count: 3, sum: 6, min: 1, max: 3, idx: [0, 2], counts: [1, 2] };
  const cur = { count: 6, sum: 16, min: 1, max: 5, idx: [0, 2, 3], counts: [2, 2, 2] };
  assert.deepEqual(histogramDelta(prev, cur), { count: 3, sum: 10, min: 1, max: 5, idx: [0, 3], counts: [1, 2] });
  const restarted = { count: 1, sum: 1, min: 1, max: 1, idx: [0], counts: [1] };
  assert.equal(histogramDelta(cur, restarted), restarted);
  assert.equal(histogramDelta(undefined, cur), cur);
});

test('the history keeps ticks of a real writer within its time and byte bounds, histograms as deltas', async () => {
  const dir = tempStatsDir();
  const w = runScript(WRITER, { env: { STATS_DIR: dir } });
  await w.ready;
  const poller = new FilePoller([dir]);
  try {
    const log = new HistoryLog({ keepMs: 10_000, maxBytes: 1 << 20, intervalMs: 1000 });
    let t = 1_000_000;
    for (let i = 0; i < 30; i++) {
      await w.call('hit', 1);
      await w.call('observe', 0.5, 3);
      log.record((t += 1000), tickWriters(poller.read()));
    }
    // Ten seconds at one tick a second: 11 ticks (both ends), the oldest dropped first.
    assert.equal(log.length, 11);
    assert.equal(log.spanMs, 10_000);
    const h = JSON.parse(log.replay([dir])) as WireHistory;
    assert.equal(h.ticks.length, 11);
    assert.equal(h.ticks[0]!.t, t - 10_000);
    const [key, generation, alive, , values] = h.ticks.at(-1)!.w[0]!;
    assert.equal(alive, 1);
    const fields = h.layouts[`${key}/${generation}`]!;
    const at = (label: string) => fields.findIndex((f) => f.label === label);
    assert.equal(values[at('svc.hits')], 30, 'counters are kept as read');
    const lat = values[at('svc.latency')];
    assert.ok(isWireHistogram(lat));
    assert.deepEqual([lat.count, lat.idx, lat.counts], [2, [0, 2], [1, 1]], 'a tick holds the observations since the one before');
    assert.equal((h.last[key]![at('svc.latency')] as { count: number }).count, 60, 'last carries the whole histogram');
    assert.equal(h.writers[key]!.pid, w.pid);

    // A byte bound smaller than an hour's ticks: the oldest go, the memory stays under it.
    const small = new HistoryLog({ keepMs: 3_600_000, maxBytes: 4096, intervalMs: 1000 });
    for (let i = 0; i < 100; i++) small.record((t += 1000), tickWriters(poller.read()));
    assert.ok(small.size <= 4096, `${small.size} bytes kept`);
    assert.ok(small.length > 1 && small.length < 100, `${small.length} ticks kept`);
    assert.equal((JSON.parse(small.replay([dir])) as WireHistory).ticks.length, small.length);
  } finally {
    poller.close();
    await w.call('stop');
    await w.end();
  }
});

test('a page connecting to /api/stream gets the history first, then updates', async () => {
  const dir = tempStatsDir();
  const w = runScript(WRITER, { env: { STATS_DIR: dir } });
  await w.ready;
  const serve = await startServe(['--port', '0', '--path', dir]);
  try {
    await w.call('hit', 4);
    // The server ticks from its start, page or not.
    await new Promise((r) => setTimeout(r, 3500));
    const { events } = await readEvents(`${serve.url}api/stream`, 2);
    assert.equal(events[0]!.event, 'history');
    const h = events[0]!.data as WireHistory;
    assert.ok(h.ticks.length >= 3, `${h.ticks.length} ticks of history`);
    assert.equal(h.keepMs, 3_600_000);
    assert.ok(Object.values(h.writers).some((x) => x.pid === w.pid));
    assert.equal(events[1]!.event, 'update');
    assert.ok((events[1]!.data as WireUpdate).t > h.ticks.at(-1)!.t);
  } finally {
    await w.call('stop');
    await w.end();
    await serve.stop();
  }
});

test('the filter’s label selector picks label sets as PromQL does, with * in values', () => {
  assert.deepEqual(parseFilter('web.'), { prefix: 'web.' });
  const f = parseFilter('http.server{method="GET", status!=500,route=/users/*}');
  assert.equal(f.prefix, 'http.server');
  assert.deepEqual(f.labels, [
    { name: 'method', value: 'GET', negate: false },
    { name: 'status', value: '500', negate: true },
    { name: 'route', value: '/users/*', negate: false },
  ]);
  const sel = f.labels!;
  assert.equal(labelsMatch({ method: 'GET', status: '200', route: '/users/:id' }, sel), true);
  assert.equal(labelsMatch({ method: 'GET', status: '500', route: '/users/:id' }, sel), false);
  assert.equal(labelsMatch({ method: 'POST', status: '200', route: '/users/:id' }, sel), false);
  assert.equal(labelsMatch({ method: 'GET', status: '200', route: '/items' }, sel), false);
  assert.equal(labelsMatch(undefined, sel), false, 'an unlabelled field has no label set to match');
  assert.deepEqual(parseFilter('{q="a,\\"b\\""}').labels, [{ name: 'q', value: 'a,"b"', negate: false }]);
  assert.equal(labelsMatch({ route: '/a/b/c' }, parseFilter('{route=/a*c}').labels!), true);
  assert.equal(labelsMatch({ route: '/ac' }, parseFilter('{route=/a*c*}').labels!), true);
  assert.equal(labelsMatch({ route: '/a' }, parseFilter('{route=/a*a}').labels!), false);
});

test('a family child that comes or goes brings the metadata again, though the file’s generation stays', async () => {
  const dir = tempStatsDir();
  const w = runScript(
    `
const stats = openStats({ name: 'Fam', path: env.STATS_DIR });
const requests = stats.add('fam.requests', field.counter({ help: 'by route', labels: ['route'] }));
requests.with('/a').incr(2);
on('child', (route) => { requests.with(route).incr(); });
on('drop', (route) => { requests.remove(route); });
on('stop', () => stats.remove());
ready(stats.path);
`,
    { env: { STATS_DIR: dir } },
  );
  await w.ready;
  const poller = new FilePoller([dir]);
  const encoder = new UpdateEncoder();
  const mine = (u: WireUpdate) => u.writers.find((x) => x.pid === w.pid)!;
  try {
    const first = mine(encoder.encode(1, [dir], poller.read()));
    const a = first.fields!.find((f) => f.family === 'fam.requests')!;
    assert.equal(a.label, 'fam.requests{route="/a"}');
    assert.deepEqual(a.labels, { route: '/a' });
    assert.equal(first.values[first.fields!.indexOf(a)], 2);
    assert.equal(mine(encoder.encode(2, [dir], poller.read())).fields, undefined, 'no metadata while the children stay');
    const generation = poller.read().snapshots[0]!.generation;

    await w.call('child', '/b');
    const read = poller.read();
    assert.equal(read.snapshots[0]!.generation, generation, 'the file’s generation does not move for a child');
    const third = mine(encoder.encode(3, [dir], read));
    assert.deepEqual(
      third.fields?.filter((f) => f.family).map((f) => f.labels!.route),
      ['/a', '/b'],
    );

    await w.call('drop', '/a');
    const fourth = mine(encoder.encode(4, [dir], poller.read()));
    assert.deepEqual(
      fourth.fields?.filter((f) => f.family).map((f) => f.labels!.route),
      ['/b'],
    );
    assert.equal(fourth.values.length, fourth.fields!.length);
  } finally {
    poller.close();
    await w.call('stop');
    await w.end();
  }
});
