import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CLI, runScript, tempStatsDir, waitFor, type ScriptProcess } from './helpers/proc.js';
import { getJson, rawGet, startServe, type ServeProcess } from './helpers/serve.js';

/** A writer with a counter, a gauge, a string and a histogram, driven by the test. */
const WRITER = `
const Web = defineModel('Web', {
  requests: field.counter({ help: 'requests served' }),
  inflight: field.gauge(),
  url: field.string({ size: 64 }),
  latency: field.histogram({ buckets: [0.01, 0.1, 1], unit: 'seconds' }),
  wait: field.timer(),
}, { prefix: 'web.' });
const s = Web.open({ path: env.DIR });
on('set', (n, g, u) => { s.requests.incr(n); s.inflight.set(g); s.url.set(u); });
on('record', (...vals) => { for (const v of vals) { s.latency.record(v); s.wait.record(v); } });
on('add', (name, value) => { s.add(name, field.gauge()).set(value); });
ready(s.path);
`;

describe('mmstats serve: the JSON API over real writer processes', () => {
  let dir: string;
  let a: ScriptProcess;
  let b: ScriptProcess;
  let fileA: string;
  let fileB: string;
  let srv: ServeProcess;

  before(async () => {
    dir = tempStatsDir();
    a = runScript(WRITER, { env: { DIR: dir } });
    b = runScript(WRITER, { env: { DIR: dir } });
    [fileA, fileB] = await Promise.all([a.ready, b.ready]);
    await a.call('set', 3, 2, '/a');
    await b.call('set', 5, 4, '/b');
    await a.call('record', 0.005, 0.05, 0.05, 0.5);
    await b.call('record', 0.05, 2);
    srv = await startServe(['--port', '0', '--path', dir]);
  });

  after(async () => {
    await srv?.stop();
    await Promise.all([a?.end(), b?.end()]);
  });

  test('GET /stats/ lists every label of every file, sorted, as the original did', async () => {
    const { status, body } = await getJson(`${srv.url}stats/`);
    assert.equal(status, 200);
    assert.deepEqual(Object.keys(body), ['stats']);
    for (const l of ['web.requests', 'web.inflight', 'web.url', 'web.latency', 'sys.pid']) assert.ok(body.stats.includes(l), l);
    assert.deepEqual(body.stats, [...body.stats].sort());
  });

  test('GET /stats/<name> gives one value per file for each label starting with the name', async () => {
    const { body } = await getJson(`${srv.url}stats/web.re`);
    assert.deepEqual(Object.keys(body), ['web.requests']);
    assert.deepEqual([...body['web.requests']].sort(), [3, 5]);
    const urls = (await getJson(`${srv.url}stats/web.url`)).body['web.url'];
    assert.deepEqual([...urls].sort(), ['/a', '/b']);
  });

  test('exact=1 matches the label only, not the labels it prefixes', async () => {
    const prefix = await getJson(`${srv.url}stats/web.in`);
    assert.ok('web.inflight' in prefix.body);
    const exact = await getJson(`${srv.url}stats/web.in?exact=1`);
    assert.deepEqual(exact.body, {});
    const exact2 = await getJson(`${srv.url}stats/web.inflight?exact=1`);
    assert.deepEqual(Object.keys(exact2.body), ['web.inflight']);
  });

  test('aggr reduces each list: avg, one, max, min, sum, nonzero-min, nonzero-avg', async () => {
    const expected: Record<string, number> = { avg: 4, max: 5, min: 3, sum: 8, 'nonzero-min': 3, 'nonzero-avg': 4 };
    for (const [aggr, want] of Object.entries(expected)) {
      const { status, body } = await getJson(`${srv.url}stats/web.requests?aggr=${aggr}`);
      assert.equal(status, 200);
      assert.equal(body['web.requests'], want, aggr);
    }
    const one = (await getJson(`${srv.url}stats/web.requests?aggr=one`)).body['web.requests'];
    assert.ok(one === 3 || one === 5);
    // A field added while the server runs, 0 in one writer and 6 in the other: the nonzero forms skip the 0.
    await a.call('add', 'level', 0);
    await b.call('add', 'level', 6);
    await waitFor(async () => (await getJson(`${srv.url}stats/web.level`)).body['web.level']?.length === 2, 10_000, 'web.level in both');
    const level: Record<string, number> = { avg: 3, min: 0, max: 6, sum: 6, 'nonzero-min': 6, 'nonzero-avg': 6 };
    for (const [aggr, want] of Object.entries(level)) {
      assert.equal((await getJson(`${srv.url}stats/web.level?aggr=${aggr}`)).body['web.level'], want, aggr);
    }
  });

  test('aggr on a histogram merges the buckets of every writer and gives percentiles of the merged data', async () => {
    const { body } = await getJson(`${srv.url}stats/web.latency?aggr=sum`);
    const h = body['web.latency'];
    assert.equal(h.count, 6);
    assert.deepEqual(
      h.buckets.map((x: { lo: unknown; le: unknown; count: number }) => [x.lo, x.le, x.count]),
      [
        ['-Inf', 0.01, 1],
        [0.01, 0.1, 3],
        [0.1, 1, 1],
        [1, '+Inf', 1],
      ],
    );
    assert.ok(h.summary.percentiles.p50 > 0.01 && h.summary.percentiles.p50 <= 0.1, `p50 ${h.summary.percentiles.p50}`);
    assert.equal(h.summary.max, 2);
  });

  test('a bad aggr is a 400 that names the choices', async () => {
    const { status, body } = await getJson(`${srv.url}stats/web.requests?aggr=median`);
    assert.equal(status, 400);
    assert.match(body.error, /avg, one, max, min, sum, nonzero-min, nonzero-avg/);
  });

  test('glob restricts /stats/<name> and /files/ to the files it matches', async () => {
    const nameA = path.basename(fileA);
    const { body } = await getJson(`${srv.url}stats/web.requests?glob=${encodeURIComponent(nameA)}`);
    assert.deepEqual(body['web.requests'], [3]);
    const files = await getJson(`${srv.url}files/${encodeURIComponent(`*-${a.pid}-*`)}`);
    assert.deepEqual(files.body.files, [fileA]);
    const all = await getJson(`${srv.url}files/`);
    assert.deepEqual(all.body.files, [fileA, fileB].sort());
    assert.deepEqual(all.body.errors, []);
    const none = await getJson(`${srv.url}files/nothing-*.mmstats`);
    assert.equal(none.status, 404);
  });

  test('/api/writers gives identity and liveness; /api/fields combines by kind with per-writer values and percentiles', async () => {
    const { body } = await getJson(`${srv.url}api/writers`);
    const rows = body.writers.filter((w: { pid: number }) => w.pid === a.pid || w.pid === b.pid);
    assert.equal(rows.length, 2);
    for (const w of rows) {
      assert.equal(w.alive, true);
      assert.equal(w.status, 'alive');
      assert.equal(w.model, 'Web');
      assert.equal(w.tid, 0);
      assert.equal(w.error, null);
      assert.equal(w.format, 2);
    }
    const fields = (await getJson(`${srv.url}api/fields?prefix=web.`)).body.fields;
    const byLabel = new Map(fields.map((f: { label: string }) => [f.label, f]));
    const req = byLabel.get('web.requests') as any;
    assert.equal(req.kind, 'counter');
    assert.equal(req.value, 8);
    assert.equal(req.writers, 2);
    assert.equal(req.help, 'requests served');
    assert.deepEqual(req.byWriter.map((w: { value: number }) => w.value).sort(), [3, 5]);
    const lat = byLabel.get('web.latency') as any;
    assert.equal(lat.unit, 'seconds');
    assert.equal(lat.summary.count, 6);
    assert.deepEqual(Object.keys(lat.summary.percentiles), ['p50', 'p90', 'p99', 'p99.9']);
    assert.ok(fields.every((f: { label: string }) => f.label.startsWith('web.')));
    // A log-linear timer has thousands of buckets: JSON lists the non-empty ones, percentiles use them all.
    const wait = byLabel.get('web.wait') as any;
    assert.equal(wait.kind, 'timer');
    assert.equal(wait.value.count, 6);
    assert.ok(wait.value.buckets.length <= 5, `${wait.value.buckets.length} buckets`);
    const p50 = wait.summary.percentiles.p50;
    assert.ok(Math.abs(p50 - 0.05) / 0.05 < 0.01, `timer p50 ${p50}`);
    const max = (await getJson(`${srv.url}api/fields?prefix=web.inflight&gauge=max`)).body.fields[0];
    assert.equal(max.value, 4);
    assert.equal((await getJson(`${srv.url}api/fields?gauge=median`)).status, 400);
  });

  test('/api/files/<name> gives one file with its fields', async () => {
    const { status, body } = await getJson(`${srv.url}api/files/${encodeURIComponent(path.basename(fileB))}`);
    assert.equal(status, 200);
    assert.equal(body.writer.pid, b.pid);
    const req = body.fields.find((f: { label: string }) => f.label === 'web.requests');
    assert.equal(req.value, 5);
    assert.equal((await getJson(`${srv.url}api/files/missing.mmstats`)).status, 404);
  });

  test('unknown routes are 404 and other methods than GET and HEAD are 405', async () => {
    assert.equal((await rawGet(srv.url, '/nope')).status, 404);
    const post = await fetch(`${srv.url}stats/`, { method: 'POST', body: 'x' });
    assert.equal(post.status, 405);
    await post.body?.cancel();
    const head = await fetch(`${srv.url}stats/`, { method: 'HEAD' });
    assert.equal(head.status, 200);
  });
});

describe('mmstats serve: files that come, go and break', () => {
  test('a malformed file is an error on its own row; writers that start and end appear and vanish without a restart', async () => {
    const dir = tempStatsDir();
    fs.writeFileSync(path.join(dir, 'broken.mmstats'), Buffer.from('MMSTATS\0garbage that is not a header'));
    fs.writeFileSync(path.join(dir, 'foreign.mmstats'), 'hello, I am a text file\n');
    const srv = await startServe(['--port', '0', '--path', dir]);
    try {
      const first = await getJson(`${srv.url}api/writers`);
      assert.equal(first.body.writers.length, 2);
      for (const w of first.body.writers) {
        assert.equal(w.status, 'error');
        assert.match(w.error.code, /^ERR_MMSTATS_(MALFORMED|NOT_STATS)$/);
      }
      const files = await getJson(`${srv.url}files/`);
      assert.equal(files.body.files.length, 2);
      assert.deepEqual(files.body.errors.map((e: { code: string }) => e.code).sort(), ['ERR_MMSTATS_MALFORMED', 'ERR_MMSTATS_NOT_STATS']);
      assert.equal((await getJson(`${srv.url}stats/`)).status, 200);

      const w = runScript(WRITER, { env: { DIR: dir } });
      const file = await w.ready;
      await w.call('set', 1, 1, '/late');
      await waitFor(
        async () =>
          (await getJson(`${srv.url}api/writers`)).body.writers.some((r: { pid: number; alive: boolean }) => r.pid === w.pid && r.alive),
        10_000,
        'the new writer to appear',
      );
      assert.deepEqual((await getJson(`${srv.url}stats/web.url`)).body, { 'web.url': ['/late'] });
      await w.end();
      assert.equal(fs.existsSync(file), false);
      await waitFor(
        async () => !(await getJson(`${srv.url}api/writers`)).body.writers.some((r: { pid: number }) => r.pid === w.pid),
        10_000,
        'the writer to vanish',
      );
      assert.equal((await getJson(`${srv.url}files/`)).body.files.length, 2);
    } finally {
      await srv.stop();
    }
  });

  test('damaged copies of a real file, an empty file and a FIFO never break a page or a scrape', async () => {
    const dir = tempStatsDir();
    const w = runScript(WRITER, { env: { DIR: dir } });
    const file: string = await w.ready;
    await w.call('set', 4, 2, '/ok');
    const real = fs.readFileSync(file);
    fs.writeFileSync(path.join(dir, 'truncated.mmstats'), real.subarray(0, 200));
    const scribbled = Buffer.from(real);
    for (let i = 136; i < Math.min(scribbled.length, 2048); i += 3) scribbled[i] = 0xff;
    fs.writeFileSync(path.join(dir, 'scribbled.mmstats'), scribbled);
    const linked = Buffer.from(real);
    linked.writeUInt32LE(64, 64); // the first record points into the header
    fs.writeFileSync(path.join(dir, 'badlink.mmstats'), linked);
    fs.writeFileSync(path.join(dir, 'empty.mmstats'), '');
    spawnSync('mkfifo', [path.join(dir, 'fifo.mmstats')]);
    const srv = await startServe(['--port', '0', '--path', dir]);
    try {
      for (const route of ['api/writers', 'files/', 'stats/', 'stats/web', 'api/fields', 'metrics', 'api/status']) {
        const res = await fetch(srv.url + route);
        assert.equal(res.status, 200, route);
        await res.text();
      }
      const rows = (await getJson(`${srv.url}api/writers`)).body.writers as {
        name: string;
        status: string;
        error: { code: string } | null;
      }[];
      assert.equal(rows.find((r) => r.name === path.basename(file))?.status, 'alive');
      assert.equal(rows.find((r) => r.name === 'empty.mmstats')?.error?.code, 'ERR_MMSTATS_INITIALISING');
      assert.equal(rows.find((r) => r.name === 'badlink.mmstats')?.status, 'error');
      assert.ok(!rows.some((r) => r.name === 'fifo.mmstats'), 'a FIFO is not a stats file');
      assert.deepEqual((await getJson(`${srv.url}stats/web.url`)).body['web.url'].includes('/ok'), true);
      const metrics = await (await fetch(`${srv.url}metrics`)).text();
      assert.ok(metrics.includes(`web_requests_total{cmd="writer",model="Web"} 4`), metrics);
    } finally {
      await srv.stop();
      await w.end();
    }
  });

  test('a counter total in /api/fields never goes backwards when a writer leaves and another starts from zero; the leaver counts as last read', async () => {
    const dir = tempStatsDir();
    const first = runScript(WRITER, { env: { DIR: dir } });
    await first.ready;
    await first.call('set', 5, 0, '/first');
    const srv = await startServe(['--port', '0', '--path', dir]);
    const requests = async () =>
      ((await getJson(`${srv.url}api/fields?prefix=web.requests`)).body.fields[0] ?? null) as { value: number; writers: number } | null;
    try {
      assert.equal((await requests())?.value, 5);
      // It counts on; only a read that is not /api/fields (a scrape) sees it before it leaves.
      await first.call('set', 4, 0, '/first');
      await new Promise((r) => setTimeout(r, 150)); // past the shared read
      assert.match(await (await fetch(`${srv.url}metrics`)).text(), /web_requests_total\{[^}]*\} 9\n/);
      await first.end();
      const second = runScript(WRITER, { env: { DIR: dir } });
      await second.ready;
      await second.call('set', 2, 0, '/second');
      const seen = await waitFor(
        async () => {
          const r = await requests();
          return r && r.writers === 1 && r.value !== 9 ? r : null;
        },
        10_000,
        'the second writer alone',
      );
      assert.equal(seen?.value, 11, 'the 9 the first writer had counted when last read are kept');
      await second.end();
    } finally {
      await srv.stop();
    }
  });

  test('names that come and go at once are seen at the next scan: a file renamed over a served one, a file made just after a scan', async () => {
    const dir = tempStatsDir();
    const a = runScript(WRITER, { env: { DIR: dir } });
    const fileA: string = await a.ready;
    await a.call('set', 1, 0, '/a');
    const srv = await startServe(['--port', '0', '--path', dir]);
    const writers = async () => (await getJson(`${srv.url}api/writers`)).body.writers as { name: string; pid: number; alive: boolean }[];
    try {
      assert.deepEqual(
        (await writers()).map((w) => w.pid),
        [a.pid],
      );
      // Another writer's file moved over the served name: same name, another file.
      const b = runScript(WRITER, { env: { DIR: dir } });
      const fileB: string = await b.ready;
      await b.call('set', 2, 0, '/b');
      fs.renameSync(fileB, fileA);
      await waitFor(
        async () => {
          const rows = await writers();
          return rows.length === 1 && rows[0]!.pid === b.pid && rows[0]!.alive;
        },
        10_000,
        'the renamed file served under the old name',
      );
      // Scans of the directory as fast as they go, and a file made between two of them.
      for (let i = 0; i < 20; i++) {
        const name = path.join(dir, `copy-${i}.mmstats`);
        await writers();
        fs.copyFileSync(fileA, name);
        await waitFor(async () => (await writers()).some((w) => w.name === `copy-${i}.mmstats`), 10_000, `copy-${i} to be listed`);
        fs.rmSync(name);
        await waitFor(async () => !(await writers()).some((w) => w.name === `copy-${i}.mmstats`), 10_000, `copy-${i} to go`);
      }
      await b.end();
    } finally {
      await srv.stop();
      await a.end();
    }
  });

  test('a writer killed with SIGKILL stays listed as stale with its last values', async () => {
    const dir = tempStatsDir();
    const w = runScript(WRITER, { env: { DIR: dir } });
    await w.ready;
    await w.call('set', 9, 1, '/dead');
    const srv = await startServe(['--port', '0', '--path', dir]);
    try {
      w.child.kill('SIGKILL');
      await w.exited;
      const row = await waitFor(
        async () =>
          (await getJson(`${srv.url}api/writers`)).body.writers.find(
            (r: { pid: number; status: string }) => r.pid === w.pid && r.status === 'stale',
          ),
        10_000,
        'the writer to show as stale',
      );
      assert.equal(row.alive, false);
      assert.deepEqual((await getJson(`${srv.url}stats/web.requests`)).body, { 'web.requests': [9] });
    } finally {
      await srv.stop();
    }
  });

  test('several stats paths from MMSTATS_PATH (colon-separated), host and port from the environment', async () => {
    const d1 = tempStatsDir();
    const d2 = tempStatsDir();
    const w1 = runScript(WRITER, { env: { DIR: d1 } });
    const w2 = runScript(WRITER, { env: { DIR: d2 } });
    await Promise.all([w1.ready, w2.ready]);
    await w1.call('set', 10, 0, '/1');
    await w2.call('set', 20, 0, '/2');
    const srv = await startServe([], { env: { MMSTATS_PATH: `${d1}:${d2}`, MMSTATS_PORT: '0', MMSTATS_HOST: '127.0.0.1' } });
    try {
      assert.match(srv.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
      const { body } = await getJson(`${srv.url}stats/web.requests?aggr=sum`);
      assert.equal(body['web.requests'], 30);
    } finally {
      await srv.stop();
      await Promise.all([w1.end(), w2.end()]);
    }
  });

  test('a stats directory that does not exist yet is served as soon as it appears', async () => {
    const parent = tempStatsDir();
    const dir = path.join(parent, 'later');
    const srv = await startServe(['--port', '0', '--path', dir]);
    try {
      assert.deepEqual((await getJson(`${srv.url}files/`)).body.files, []);
      fs.mkdirSync(dir, { mode: 0o700 });
      const w = runScript(WRITER, { env: { DIR: dir } });
      const file = await w.ready;
      await waitFor(async () => (await getJson(`${srv.url}files/`)).body.files.includes(file), 10_000, 'the file in the new directory');
      await w.end();
    } finally {
      await srv.stop();
    }
  });

  test('a port in use exits 1 saying so; bad options are usage errors (exit 2)', async () => {
    const srv = await startServe(['--port', '0', '--path', tempStatsDir()]);
    try {
      const port = new URL(srv.url).port;
      const busy = spawnSync(process.execPath, [CLI, 'serve', '--port', port, '--path', tempStatsDir()], {
        encoding: 'utf8',
        timeout: 20_000,
      });
      assert.equal(busy.status, 1);
      assert.match(busy.stderr, new RegExp(`port ${port} on 127\\.0\\.0\\.1 is in use`));
    } finally {
      await srv.stop();
    }
    for (const args of [
      ['--port', 'x'],
      ['--port', '70000'],
      ['--max-connections', '0'],
      ['--glob', 'a/b'],
      ['--nice', '20'],
      ['--nice', '-1'],
      ['--nope'],
    ]) {
      const r = spawnSync(process.execPath, [CLI, 'serve', ...args], { encoding: 'utf8', timeout: 20_000 });
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /see: mmstats serve --help/);
    }
  });

  test(
    '--nice lowers the priority of every thread of the server, which still serves',
    { skip: process.platform !== 'linux' && 'reads /proc' },
    async () => {
      const srv = await startServe(['--port', '0', '--path', tempStatsDir(), '--nice', '5']);
      try {
        // Field 19 of /proc/PID/task/TID/stat is the thread's nice value (after the command in parentheses).
        const niceOf = (tid: string) => Number(fs.readFileSync(`/proc/${srv.pid}/task/${tid}/stat`, 'utf8').split(') ')[1]!.split(' ')[16]);
        const before = os.getPriority(0);
        const threads = fs.readdirSync(`/proc/${srv.pid}/task`);
        assert.ok(threads.length > 1, 'the server runs several threads');
        assert.deepEqual(
          threads.map(niceOf),
          threads.map(() => Math.min(19, before + 5)),
        );
        const res = await fetch(new URL('/metrics', srv.url));
        assert.equal(res.status, 200);
        assert.match(await res.text(), /^mmstats_files 0$/m);
      } finally {
        await srv.stop();
      }
    },
  );
});
