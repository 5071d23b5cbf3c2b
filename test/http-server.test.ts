/**
 * HTTP metrics: a real server in another process, real requests on loopback,
 * counts and timings read back from its stats file.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { test } from 'node:test';
import { StatsReader, hasHttpServerChannels, instrumentHttpServer, openStats, type HistogramValue, type Snapshot } from '../src/index.js';
import { runScript, tempStatsDir, waitFor } from './helpers/proc.js';

/** The server process: routes that answer with each status class, a slow one and one that never answers. */
const SERVER = `
import http from 'node:http';
import https from 'node:https';
import fs from 'node:fs';
const { instrumentHttpServer, instrumentHttp } = mmstats;
const handler = (req, res) => {
  const url = req.url;
  if (url === '/ok') res.end('ok');
  else if (url === '/redirect') { res.statusCode = 302; res.setHeader('location', '/ok'); res.end(); }
  else if (url === '/boom') { res.statusCode = 500; res.end('boom'); }
  else if (url === '/slow') setTimeout(() => res.end('slow'), 200);
  else if (url === '/hang') { /* never answers: the client gives up */ }
  else if (url === '/odd') { res.statusCode = 799; res.end(); }
  else { res.statusCode = 404; res.end('missing'); }
};
const tls = env.TLS_DIR ? { key: fs.readFileSync(env.TLS_DIR + '/key.pem'), cert: fs.readFileSync(env.TLS_DIR + '/cert.pem') } : undefined;
const make = () => (tls ? https.createServer(tls, handler) : http.createServer(handler));
const server = make();
const other = make(); // not instrumented unless global
const metrics = env.GLOBAL ? instrumentHttp({ path: env.STATS_DIR }) : instrumentHttpServer(server, { path: env.STATS_DIR, via: env.VIA || 'auto' });
const listen = (s) => new Promise((r) => s.listen(0, '127.0.0.1', () => r(s.address().port)));
const port = await listen(server);
const otherPort = await listen(other);
on('stop', () => { metrics.stop(); return fs.existsSync(metrics.stats.path); });
ready({ port, otherPort, file: metrics.stats.path, via: metrics.via });
`;

interface Reply {
  status: number;
}

function request(port: number, method: string, url: string, tls: boolean): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const mod = tls ? https : http;
    const req = mod.request({ host: '127.0.0.1', port, method, path: url, rejectUnauthorized: false, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode! }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Send a request the server never answers, then drop the connection once the server has it. */
function abandon(port: number, tls: boolean, file: string, before: number): Promise<void> {
  return new Promise((resolve) => {
    const mod = tls ? https : http;
    const req = mod.request({ host: '127.0.0.1', port, path: '/hang', rejectUnauthorized: false, agent: false });
    req.on('error', () => resolve());
    req.end();
    waitFor(() => val(snap(file), 'http.requests') > before, 10_000, 'the server to receive /hang').then(() => req.destroy());
  });
}

function snap(file: string): Snapshot {
  const r = StatsReader.open(file);
  try {
    return r.read();
  } finally {
    r.close();
  }
}

function val(s: Snapshot, label: string): any {
  const f = s.fields.find((x) => x.label === label);
  assert.ok(f, `${label} in ${s.path}`);
  return f.value;
}

/** The request mix every variant sends, and the counts it must produce. */
async function exercise(port: number, tls: boolean, file: string): Promise<void> {
  const plan: [string, string, number][] = [
    ['GET', '/ok', 200],
    ['GET', '/ok', 200],
    ['GET', '/redirect', 302],
    ['POST', '/ok', 200],
    ['HEAD', '/ok', 200],
    ['DELETE', '/nothing', 404],
    ['PUT', '/boom', 500],
    ['PROPFIND', '/nothing', 404],
    ['GET', '/slow', 200],
  ];
  const replies = await Promise.all(plan.map(([m, u]) => request(port, m, u, tls)));
  assert.deepEqual(
    replies.map((r) => r.status),
    plan.map((p) => p[2]),
  );
  await abandon(port, tls, file, plan.length);
  const s = await waitFor(
    () => {
      const s = snap(file);
      return val(s, 'http.aborted') === 1 && val(s, 'http.active') === 0 ? s : undefined;
    },
    10_000,
    'the abandoned request to be counted',
  ).then((x) => x!);
  assert.equal(val(s, 'http.requests'), 10);
  assert.equal(val(s, 'http.requests.GET'), 5, 'four answered and the abandoned one');
  assert.equal(val(s, 'http.requests.POST'), 1);
  assert.equal(val(s, 'http.requests.HEAD'), 1);
  assert.equal(val(s, 'http.requests.DELETE'), 1);
  assert.equal(val(s, 'http.requests.PUT'), 1);
  assert.equal(val(s, 'http.requests.PATCH'), 0);
  assert.equal(val(s, 'http.requests.OTHER'), 1);
  assert.equal(val(s, 'http.status.1XX'), 0);
  assert.equal(val(s, 'http.status.2XX'), 5);
  assert.equal(val(s, 'http.status.3XX'), 1);
  assert.equal(val(s, 'http.status.4XX'), 2);
  assert.equal(val(s, 'http.status.5XX'), 1);
  const d = val(s, 'http.duration') as HistogramValue;
  assert.equal(d.count, 9, 'every finished response is timed; the abandoned one is not');
  assert.ok(d.max >= 0.19 && d.max < 5, `the slow route took ${d.max} s`);
  assert.ok(d.min >= 0 && d.min <= d.max);
  assert.equal(s.fields.find((f) => f.label === 'http.duration')!.kind, 'timer');
}

for (const via of ['channel', 'listener'] as const) {
  if (via === 'channel' && !hasHttpServerChannels()) continue;
  test(
    `instrumentHttpServer (${via}) counts requests by method and status class, times them and counts abandoned ones`,
    { timeout: 60_000 },
    async () => {
      const dir = tempStatsDir();
      const w = runScript(SERVER, { env: { STATS_DIR: dir, VIA: via } });
      try {
        const { port, otherPort, file, via: used } = await w.ready;
        assert.equal(used, via);
        await exercise(port, false, file);
        // The other server in the same process is not instrumented: its requests are not counted.
        assert.equal((await request(otherPort, 'GET', '/ok', false)).status, 200);
        assert.equal((await request(port, 'GET', '/ok', false)).status, 200);
        await waitFor(() => val(snap(file), 'http.requests') === 11, 10_000, 'the last request');
        assert.equal(val(snap(file), 'http.requests.GET'), 6);
        // Node allows statuses up to 999: they count apart, never under 5XX.
        assert.equal((await request(port, 'GET', '/odd', false)).status, 799);
        const s = await waitFor(() => (val(snap(file), 'http.status.other') === 1 ? snap(file) : undefined), 10_000, 'the odd status').then(
          (x) => x!,
        );
        assert.equal(val(s, 'http.status.5XX'), 1);
        assert.equal(val(s, 'http.requests'), 12);
        // stop() detaches and removes the file the metrics opened.
        assert.equal(await w.call('stop'), false);
        assert.equal(fs.existsSync(file), false);
      } finally {
        await w.end();
      }
    },
  );
}

test('instrumentHttp() counts every server of the process, node:https included', { timeout: 60_000 }, async (t) => {
  let tlsDir: string;
  try {
    tlsDir = tempStatsDir('mmstats-tls-');
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-days', '1'].concat([
        '-keyout',
        path.join(tlsDir, 'key.pem'),
        '-out',
        path.join(tlsDir, 'cert.pem'),
      ]),
      { stdio: 'ignore' },
    );
  } catch {
    t.skip('openssl is not installed (apt-get install openssl): it makes the test certificate');
    return;
  }
  const dir = tempStatsDir();
  const w = runScript(SERVER, { env: { STATS_DIR: dir, GLOBAL: '1', TLS_DIR: tlsDir } });
  try {
    const { port, otherPort, file, via } = await w.ready;
    assert.equal(via, 'channel');
    await exercise(port, true, file);
    assert.equal((await request(otherPort, 'GET', '/ok', true)).status, 200);
    await waitFor(() => val(snap(file), 'http.requests') === 11, 10_000, 'the other server’s request');
  } finally {
    await w.end();
  }
});

test('instrumentHttpServer refuses what is not a server and an unknown observation mode', () => {
  const dir = tempStatsDir();
  assert.throws(() => instrumentHttpServer(null as unknown as http.Server), /needs a node:http or node:https server/);
  assert.throws(() => instrumentHttpServer({} as http.Server), /needs a node:http or node:https server/);
  const server = http.createServer();
  assert.throws(() => instrumentHttpServer(server, { path: dir, via: 'magic' as 'auto' }), /via must be 'auto', 'channel' or 'listener'/);
  // Labels that clash with fields already there are refused, and the given stats stay open.
  const stats = openStats({ name: 'Web', path: dir });
  try {
    const m = instrumentHttpServer(server, { stats });
    assert.throws(() => instrumentHttpServer(server, { stats }), /label http\.requests is already used/);
    m.stop();
    assert.ok(fs.existsSync(stats.path), 'stop() leaves stats it did not open');
  } finally {
    stats.remove();
  }
});

test('closing the stats under running HTTP metrics stops them; the server keeps answering', { timeout: 30_000 }, async () => {
  const dir = tempStatsDir();
  const stats = openStats({ name: 'Closing', path: dir });
  const server = http.createServer((_req, res) => res.end('ok'));
  const metrics = instrumentHttpServer(server, { stats });
  const errors: unknown[] = [];
  const onError = (err: unknown) => errors.push(err);
  process.on('uncaughtException', onError);
  try {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    assert.equal((await request(port, 'GET', '/', false)).status, 200);
    assert.equal((stats.get('http.requests') as unknown as { value: number }).value, 1);
    stats.close();
    assert.equal((await request(port, 'GET', '/', false)).status, 200);
    assert.equal((await request(port, 'GET', '/', false)).status, 200);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(errors, []);
    metrics.stop();
  } finally {
    process.off('uncaughtException', onError);
    server.close();
    stats.remove();
  }
});
