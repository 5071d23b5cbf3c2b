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
import {
  StatsReader,
  hasHttpServerChannels,
  instrumentHttpServer,
  openStats,
  setRoute,
  type HistogramValue,
  type Snapshot,
} from '../src/index.js';
import type { FieldValue } from '../src/reader/index.js';
import { runScript, tempStatsDir, waitFor } from './helpers/proc.js';

/** The server process: routes that answer with each status class, a slow one and one that never answers. */
const SERVER = `
import http from 'node:http';
import https from 'node:https';
import fs from 'node:fs';
const { instrumentHttpServer, instrumentHttp, setRoute } = mmstats;
const handler = (req, res) => {
  const url = req.url;
  if (url.startsWith('/users/')) { setRoute(req, '/users/:id'); res.end('user'); }
  else if (url === '/ok') res.end('ok');
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

function request(port: number, method: string, url: string, tls = false): Promise<Reply> {
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
    waitFor(() => total(snap(file), 'http.server.requests') > before, 10_000, 'the server to receive /hang').then(() => req.destroy());
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

/** The children of a family, as the reader shows them. */
function children(s: Snapshot, family: string): FieldValue[] {
  return s.fields.filter((f) => f.family === family && f.labels !== undefined);
}

/** The value of one child of a family, or undefined when it has no such label set. */
function child(s: Snapshot, family: string, labels: Record<string, string>): any {
  const f = children(s, family).find((c) => {
    const have = c.labels!;
    return Object.keys(have).length === Object.keys(labels).length && Object.entries(labels).every(([k, v]) => have[k] === v);
  });
  return f?.value;
}

/** The sum of a counter or gauge family over every label set. */
function total(s: Snapshot, family: string): number {
  return children(s, family).reduce((n, f) => n + (f.value as number), 0);
}

/** How many responses the duration histogram holds, over every label set. */
function timedAll(s: Snapshot): number {
  return children(s, 'http.server.request.duration').reduce((n, f) => n + (f.value as HistogramValue).count, 0);
}

/** How many requests the duration histogram holds for a method, status and route. */
function timed(s: Snapshot, method: string, status: number, route: string): number {
  const h = child(s, 'http.server.request.duration', {
    http_request_method: method,
    http_response_status_code: String(status),
    http_route: route,
  }) as HistogramValue | undefined;
  return h?.count ?? 0;
}

/** No label of any series is one of these paths the client sent, which only a route template may stand for. */
function assertNoRawPaths(s: Snapshot, sent: readonly string[]): void {
  for (const f of s.fields)
    for (const v of Object.values(f.labels ?? {})) assert.ok(!sent.includes(v) || v === '', `raw path ${v} in ${f.label}`);
}

/** The request mix every variant sends, and the counts it must produce. */
async function exercise(port: number, tls: boolean, file: string): Promise<void> {
  const plan: [string, string, number][] = [
    ['GET', '/ok', 200],
    ['GET', '/ok', 200],
    ['GET', '/redirect', 302],
    ['GET', '/users/1', 200],
    ['GET', '/users/2', 200],
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
      // Every update of every request is in: each response timed, the abandoned one counted.
      return total(s, 'http.server.aborted_requests') === 1 && total(s, 'http.server.active_requests') === 0 && timedAll(s) === 11
        ? s
        : undefined;
    },
    10_000,
    'the abandoned request to be counted',
  ).then((x) => x!);
  assert.equal(total(s, 'http.server.requests'), 12);
  const requests = (m: string) => child(s, 'http.server.requests', { http_request_method: m });
  assert.equal(requests('GET'), 7, 'six answered and the abandoned one');
  assert.equal(requests('POST'), 1);
  assert.equal(requests('HEAD'), 1);
  assert.equal(requests('DELETE'), 1);
  assert.equal(requests('PUT'), 1);
  assert.equal(requests('PATCH'), undefined, 'no PATCH came: no series');
  assert.equal(requests('_OTHER'), 1, 'PROPFIND is not a method of its own');
  assert.equal(child(s, 'http.server.aborted_requests', { http_request_method: 'GET' }), 1);
  assert.equal(child(s, 'http.server.active_requests', { http_request_method: 'GET' }), 0);
  // Durations by method, status code and route: the route only where the application named it.
  assert.equal(timed(s, 'GET', 200, '/users/:id'), 2, 'both user requests under the route template');
  assert.equal(timed(s, 'GET', 200, ''), 3, '/ok twice and /slow: no route known');
  assert.equal(timed(s, 'GET', 302, ''), 1);
  assert.equal(timed(s, 'POST', 200, ''), 1);
  assert.equal(timed(s, 'HEAD', 200, ''), 1);
  assert.equal(timed(s, 'DELETE', 404, ''), 1);
  assert.equal(timed(s, 'PUT', 500, ''), 1);
  assert.equal(timed(s, '_OTHER', 404, ''), 1);
  const durations = children(s, 'http.server.request.duration');
  assert.equal(timedAll(s), 11, 'every finished response is timed; the abandoned one is not');
  for (const d of durations) assert.equal(d.unit, 'seconds');
  const slow = child(s, 'http.server.request.duration', {
    http_request_method: 'GET',
    http_response_status_code: '200',
    http_route: '',
  }) as HistogramValue;
  assert.ok(slow.max >= 0.19 && slow.max < 5, `the slow route took ${slow.max} s`);
  assertNoRawPaths(s, ['/users/1', '/users/2', '/nothing', '/slow', '/hang']);
}

for (const via of ['channel', 'listener'] as const) {
  if (via === 'channel' && !hasHttpServerChannels()) continue;
  test(
    `instrumentHttpServer (${via}) counts requests by method, times them by method, status code and route, and counts abandoned ones`,
    { timeout: 60_000 },
    async () => {
      const dir = tempStatsDir();
      const w = runScript(SERVER, { env: { STATS_DIR: dir, VIA: via } });
      try {
        const { port, otherPort, file, via: used } = await w.ready;
        assert.equal(used, via);
        await exercise(port, false, file);
        // The other server in the same process is not instrumented: its requests are not counted.
        assert.equal((await request(otherPort, 'GET', '/ok')).status, 200);
        assert.equal((await request(port, 'GET', '/ok')).status, 200);
        await waitFor(() => timed(snap(file), 'GET', 200, '') === 4, 10_000, 'the last request');
        assert.equal(child(snap(file), 'http.server.requests', { http_request_method: 'GET' }), 8);
        // Node allows statuses up to 999: the code is the label, whatever it is.
        assert.equal((await request(port, 'GET', '/odd')).status, 799);
        await waitFor(() => timed(snap(file), 'GET', 799, '') === 1, 10_000, 'the odd status');
        assert.equal(total(snap(file), 'http.server.requests'), 14);
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
    await waitFor(() => total(snap(file), 'http.server.requests') === 13, 10_000, 'the other server’s request');
  } finally {
    await w.end();
  }
});

/** An Express 5 app: a route at the top, a router mounted at /api, one route that names itself. */
const EXPRESS = `
const express = (await import(env.EXPRESS_URL)).default;
const { instrumentHttp, setRoute } = mmstats;
const metrics = instrumentHttp({ path: env.STATS_DIR });
const app = express();
app.get('/users/:id', (req, res) => res.json({ id: req.params.id }));
const api = express.Router();
api.get('/items/:item', (req, res) => res.status(201).send('made'));
api.post('/items', (req, res) => res.sendStatus(204));
app.use('/api', api);
app.get('/files/*path', (req, res) => { setRoute(req, '/files/{path}'); res.send('file'); });
app.get('/fail', () => { throw new Error('boom'); });
app.use((err, req, res, next) => res.status(500).send('failed'));
const server = app.listen(0, '127.0.0.1', () => ready({ port: server.address().port, file: metrics.stats.path }));
`;

test('Express 5: the route template the router matched, with its mount path, labels the durations', { timeout: 60_000 }, async () => {
  const dir = tempStatsDir();
  const w = runScript(EXPRESS, { env: { STATS_DIR: dir, EXPRESS_URL: import.meta.resolve('express') } });
  try {
    const { port, file } = await w.ready;
    const plan: [string, string, number][] = [
      ['GET', '/users/1', 200],
      ['GET', '/users/2', 200],
      ['GET', '/users/3', 200],
      ['GET', '/api/items/a', 201],
      ['GET', '/api/items/b', 201],
      ['POST', '/api/items', 204],
      ['GET', '/files/a/b.txt', 200],
      ['GET', '/fail', 500],
      ['GET', '/no/such/page', 404],
    ];
    for (const [m, u, status] of plan) assert.equal((await request(port, m, u)).status, status, `${m} ${u}`);
    const s = await waitFor(() => {
      const s = snap(file);
      return total(s, 'http.server.requests') === plan.length && timedAll(s) === plan.length ? s : undefined;
    }, 10_000).then((x) => x!);
    assert.equal(timed(s, 'GET', 200, '/users/:id'), 3);
    assert.equal(timed(s, 'GET', 201, '/api/items/:item'), 2);
    assert.equal(timed(s, 'POST', 204, '/api/items'), 1);
    assert.equal(timed(s, 'GET', 200, '/files/{path}'), 1, 'setRoute wins over the router');
    assert.equal(timed(s, 'GET', 500, '/fail'), 1);
    assert.equal(timed(s, 'GET', 404, ''), 1, 'no route matched: no route label value');
    assert.equal(children(s, 'http.server.request.duration').length, 6);
    assertNoRawPaths(s, ['/users/1', '/users/2', '/users/3', '/api/items/a', '/api/items/b', '/files/a/b.txt', '/no/such/page']);
  } finally {
    await w.end();
  }
});

/** A Fastify 5 app: a route at the top and a plugin under the /v1 prefix. */
const FASTIFY = `
const Fastify = (await import(env.FASTIFY_URL)).default;
const { instrumentHttpServer, setRoute } = mmstats;
const app = Fastify();
const metrics = instrumentHttpServer(app.server, { path: env.STATS_DIR });
app.get('/users/:id', async (request) => ({ id: request.params.id }));
app.register(async (v1) => {
  v1.get('/orders/:order', async (request, reply) => reply.code(202).send('accepted'));
  v1.delete('/orders/:order', async (request, reply) => { setRoute(request.raw, '/v1/orders/{order}'); return reply.code(204).send(); });
}, { prefix: '/v1' });
await app.listen({ port: 0, host: '127.0.0.1' });
ready({ port: app.server.address().port, file: metrics.stats.path });
`;

test('Fastify 5: the route the request matched (routeOptions.url, prefix included) labels the durations', { timeout: 60_000 }, async () => {
  const dir = tempStatsDir();
  const w = runScript(FASTIFY, { env: { STATS_DIR: dir, FASTIFY_URL: import.meta.resolve('fastify') } });
  try {
    const { port, file } = await w.ready;
    const plan: [string, string, number][] = [
      ['GET', '/users/1', 200],
      ['GET', '/users/2', 200],
      ['GET', '/v1/orders/7', 202],
      ['DELETE', '/v1/orders/7', 204],
      ['GET', '/missing', 404],
      ['PATCH', '/users/1', 404],
    ];
    for (const [m, u, status] of plan) assert.equal((await request(port, m, u)).status, status, `${m} ${u}`);
    const s = await waitFor(() => {
      const s = snap(file);
      return total(s, 'http.server.requests') === plan.length && timedAll(s) === plan.length ? s : undefined;
    }, 10_000).then((x) => x!);
    assert.equal(timed(s, 'GET', 200, '/users/:id'), 2);
    assert.equal(timed(s, 'GET', 202, '/v1/orders/:order'), 1);
    assert.equal(timed(s, 'DELETE', 204, '/v1/orders/{order}'), 1, 'setRoute wins over the matched route');
    assert.equal(timed(s, 'GET', 404, ''), 1);
    assert.equal(timed(s, 'PATCH', 404, ''), 1);
    assertNoRawPaths(s, ['/users/1', '/users/2', '/v1/orders/7', '/missing']);
  } finally {
    await w.end();
  }
});

test('instrumentHttpServer refuses what is not a server and an unknown observation mode', () => {
  const dir = tempStatsDir();
  assert.throws(() => instrumentHttpServer(null as unknown as http.Server), /needs a node:http or node:https server/);
  assert.throws(() => instrumentHttpServer({} as http.Server), /needs a node:http or node:https server/);
  const server = http.createServer();
  assert.throws(
    () => setRoute(new http.IncomingMessage(null as never), 42 as unknown as string),
    /setRoute needs the route template as a string/,
  );
  assert.throws(() => instrumentHttpServer(server, { path: dir, via: 'magic' as 'auto' }), /via must be 'auto', 'channel' or 'listener'/);
  // Labels that clash with fields already there are refused, and the given stats stay open.
  const stats = openStats({ name: 'Web', path: dir });
  try {
    const m = instrumentHttpServer(server, { stats });
    assert.throws(() => instrumentHttpServer(server, { stats }), /label http\.server\.request\.duration is already used/);
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
    assert.equal(((stats.get('http.server.requests') as any).with('GET') as { value: number }).value, 1);
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
