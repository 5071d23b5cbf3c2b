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
import { bucketQuantile, isWireHistogram, type WireUpdate, type WireWriter } from '../src/tools/dashboard/protocol.js';
import { FilePoller, UpdateEncoder, wireValue } from '../src/tools/dashboard/stream.js';
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

/** Read `count` SSE `update` events from `url`, with their arrival times. */
function readUpdates(
  url: string,
  count: number,
): Promise<{ headers: http.IncomingHttpHeaders; events: { at: number; update: WireUpdate }[] }> {
  return new Promise((resolve, reject) => {
    const events: { at: number; update: WireUpdate }[] = [];
    const req = http.get(url, (res) => {
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buf += chunk;
        let end: number;
        while ((end = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, end);
          buf = buf.slice(end + 2);
          const lines = block.split('\n');
          if (!lines.includes('event: update')) continue;
          const data = lines.find((l) => l.startsWith('data: '));
          events.push({ at: Date.now(), update: JSON.parse(data!.slice(6)) as WireUpdate });
          if (events.length === count) {
            req.destroy();
            resolve({ headers: res.headers, events });
          }
        }
      });
    });
    req.on('error', (err) => (events.length < count ? reject(err) : undefined));
    req.setTimeout(30_000, () => req.destroy(new Error('no updates within 30 s')));
  });
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
      assert.ok(gap < 1600, `updates ${gap} ms apart`);
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
