import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createServer, HttpError, sendJson, sendText } from '../src/tools/server/server.js';
import { runScript, tempStatsDir } from './helpers/proc.js';

test('the plug contract: addRoute matches by longest prefix, replaces, answers HEAD, and turns thrown errors into statuses', async () => {
  const dir = tempStatsDir();
  const w = runScript(`const s = openStats({ name: 'Plug', path: env.DIR }); s.add('plug.n', field.gauge()).set(3); ready(s.path);`, {
    env: { DIR: dir },
  });
  await w.ready;
  const app = await createServer({ paths: [dir], port: 0 });
  const warnings: string[] = [];
  const onWarning = (wn: Error) => warnings.push(wn.message);
  process.on('warning', onWarning);
  try {
    app.addRoute('GET', '/x', (_req, res, ctx) => sendJson(res, 200, { route: 'x', segments: ctx.segments }));
    app.addRoute('GET', '/x/deeper', (_req, res) => sendJson(res, 200, { route: 'deeper' }));
    app.addRoute('GET', '/assets/', (_req, res, ctx) => sendText(res, 200, ctx.segments.join('|')));
    app.addRoute('GET', '/', (_req, res) => sendText(res, 200, 'page'));
    app.addRoute('GET', '/teapot', () => {
      throw new HttpError(418, 'short and stout');
    });
    app.addRoute('GET', '/broken', async () => {
      await new Promise((r) => setTimeout(r, 5));
      throw new Error('a bug');
    });
    app.addRoute('GET', '/data', (_req, res, ctx) => sendJson(res, 200, ctx.store.fields({ prefix: 'plug.' })));
    const get = async (p: string, method = 'GET') => {
      const res = await fetch(new URL(p, app.url), { method });
      return { status: res.status, text: await res.text() };
    };
    assert.deepEqual(JSON.parse((await get('/x')).text), { route: 'x', segments: ['x'] });
    assert.deepEqual(JSON.parse((await get('/x/a%20b')).text), { route: 'x', segments: ['x', 'a b'] });
    assert.deepEqual(JSON.parse((await get('/x/deeper/more')).text), { route: 'deeper' });
    // "/xy" is not under "/x": it falls back to "/", which now is the page (replacing the JSON index).
    assert.equal((await get('/xy')).text, 'page');
    assert.equal((await get('/')).text, 'page');
    assert.equal((await get('/assets/app.js')).text, 'assets|app.js');
    const head = await get('/x', 'HEAD');
    assert.equal(head.status, 200);
    assert.equal(head.text, '');
    assert.deepEqual(await get('/teapot'), { status: 418, text: '{"error":"short and stout"}\n' });
    assert.equal((await get('/broken')).status, 500);
    assert.equal((await get('/x')).status, 200, 'the server goes on after a handler failed');
    const fields = JSON.parse((await get('/data')).text);
    assert.equal(fields[0].label, 'plug.n');
    assert.equal(fields[0].value, 3);
    // The built-in routes stay where they are.
    assert.deepEqual(JSON.parse((await get('/stats/plug.n')).text), { 'plug.n': [3] });
    assert.throws(() => app.addRoute('GET', 'relative', () => undefined), /must start with \//);
  } finally {
    process.off('warning', onWarning);
    await app.close();
    await w.end();
  }
  assert.ok(
    warnings.some((m) => m.includes('a bug')),
    'a handler failure is reported as a process warning',
  );
});

test('close() ends open streaming responses and resolves', { timeout: 20_000 }, async () => {
  const app = await createServer({ paths: [tempStatsDir()], port: 0 });
  app.addRoute('GET', '/stream', (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write('data: hello\n\n');
  });
  const res = await fetch(new URL('/stream', app.url));
  const reader = res.body!.getReader();
  const first = await reader.read();
  assert.match(new TextDecoder().decode(first.value), /hello/);
  const closed = app.close();
  // The stream ends (or the connection is cut): either way the reader stops; a stream left open would time out.
  const ended = await (async () => {
    try {
      for (;;) if ((await reader.read()).done) return 'done';
    } catch {
      return 'cut';
    }
  })();
  assert.ok(ended === 'done' || ended === 'cut');
  await closed;
});
