import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runScript, tempStatsDir, waitFor, type ScriptProcess } from './helpers/proc.js';
import { getJson, rawGet, startServe, type ServeProcess } from './helpers/serve.js';

const WRITER = `
const s = openStats({ name: 'Probe', path: env.DIR });
s.add(env.LABEL, field.counter()).incr(42);
ready(s.path);
`;

describe('mmstats serve: nothing in a request reaches outside the stats directories', () => {
  // Made at once: the refused paths below name the outside directory.
  const inside = tempStatsDir();
  const outside = tempStatsDir();
  let w: ScriptProcess;
  let secret: ScriptProcess;
  let srv: ServeProcess;

  before(async () => {
    w = runScript(WRITER, { env: { DIR: inside, LABEL: 'inside.value' } });
    secret = runScript(WRITER, { env: { DIR: outside, LABEL: 'outside.secret' } });
    const [, secretFile] = await Promise.all([w.ready, secret.ready]);
    fs.writeFileSync(path.join(outside, 'passwd'), 'root:x:0:0:secret-text\n');
    // Symbolic links inside the stats directory that lead out: to a real stats file, a text file, a directory.
    fs.symlinkSync(secretFile, path.join(inside, 'link.mmstats'));
    fs.symlinkSync(path.join(outside, 'passwd'), path.join(inside, 'passwd.mmstats'));
    fs.symlinkSync(outside, path.join(inside, 'sub'));
    srv = await startServe(['--port', '0', '--path', inside]);
  });

  after(async () => {
    await srv?.stop();
    await Promise.all([w?.end(), secret?.end()]);
  });

  // What lies outside: a stats file's label and a text file's content (an error may echo the request itself).
  const leaks = (body: string) => body.includes('outside.secret') || body.includes('secret-text');

  const refused: readonly [string, string][] = [
    ['a raw ".." segment', '/files/../../etc/passwd'],
    ['a raw ".." under /api/files', '/api/files/../passwd'],
    ['percent-encoded ".."', '/files/%2e%2e'],
    ['percent-encoded ".." in upper case with an encoded slash', '/files/%2E%2E%2Fpasswd'],
    ['".." with encoded slashes', '/files/..%2f..%2fetc%2fpasswd'],
    ['an encoded absolute path', `/files/${encodeURIComponent(path.join(outside, '*'))}`],
    ['an absolute path after the route', `/api/files/${encodeURIComponent(path.join(outside, 'passwd'))}`],
    ['a path with an empty segment', `/files//etc/passwd`],
    ['an encoded NUL byte', '/files/a%00.mmstats'],
    ['a raw backslash', '/files/..\\..\\etc'],
    ['an encoded backslash', '/files/%5C..%5Cpasswd'],
    ['invalid percent-encoding', '/files/%E0%A4%A'],
    ['a glob with ".."', '/stats/outside?glob=../*'],
    ['a glob with encoded ".." and slash', '/stats/outside?glob=%2e%2e%2f*'],
    ['an absolute glob', `/stats/outside?glob=${encodeURIComponent(outside + '/*')}`],
    ['a glob with a NUL byte', '/stats/outside?glob=x%00*'],
    ['a glob into a subdirectory', '/stats/outside?glob=sub/*'],
    ['a glob with a backslash', '/stats/outside?glob=..%5C*'],
    ['a symlink to a stats file outside, by name', '/api/files/link.mmstats'],
    ['a symlink to a text file outside, by name', '/api/files/passwd.mmstats'],
    ['a symlinked directory', '/api/files/sub/outside.mmstats'],
    ['a glob naming the symlink', '/stats/outside?glob=link.mmstats'],
    ['a files glob naming the symlink', '/files/link.mmstats'],
  ];

  for (const [what, rawPath] of refused) {
    test(`refuses ${what} with 400 or 404 and shows nothing from outside`, async () => {
      const { status, body } = await rawGet(srv.url, rawPath);
      assert.ok(status === 400 || status === 404, `${rawPath}: status ${status}: ${body}`);
      assert.ok(!leaks(body), `${rawPath} leaked: ${body}`);
      assert.match(JSON.parse(body).error, /\S/);
    });
  }

  test('listings and the scrape never follow a symlink out: only the real file inside is served', async () => {
    const files = await getJson(`${srv.url}files/`);
    assert.deepEqual(files.body.files, [await w.ready]);
    const stats = await getJson(`${srv.url}stats/`);
    assert.ok(stats.body.stats.includes('inside.value'));
    for (const route of ['/stats/', '/files/', '/api/writers', '/api/fields', '/metrics', '/stats/inside', '/stats/outside']) {
      const { status, body } = await rawGet(srv.url, route);
      assert.equal(status, 200, route);
      assert.ok(!leaks(body) && !body.includes(outside), `${route} leaked: ${body}`);
    }
  });
});

/** Connect and collect what the server sends until it closes the connection. */
function connect(url: string): { socket: net.Socket; closed: Promise<string> } {
  const u = new URL(url);
  const socket = net.connect(Number(u.port), u.hostname);
  let data = '';
  socket.on('data', (d) => (data += d.toString()));
  socket.on('error', () => undefined);
  return { socket, closed: new Promise((resolve) => socket.on('close', () => resolve(data))) };
}

describe('mmstats serve: slow and malformed HTTP with bounded resources', () => {
  let srv: ServeProcess;
  before(async () => {
    srv = await startServe(['--port', '0', '--path', tempStatsDir(), '--max-connections', '10']);
  });
  after(async () => {
    await srv?.stop();
  });

  test('a request line that is not HTTP gets 400 and the server goes on', async () => {
    const c = connect(srv.url);
    c.socket.write('GARBAGE\r\n\r\n');
    assert.match(await c.closed, /^HTTP\/1\.1 400/);
    assert.equal((await getJson(`${srv.url}stats/`)).status, 200);
  });

  test('a header block larger than the limit gets 431', async () => {
    const c = connect(srv.url);
    c.socket.write(`GET /stats/ HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    assert.match(await c.closed, /^HTTP\/1\.1 431/);
  });

  test('a client that sends its headers slowly is cut off after the headers timeout while others are served', async () => {
    const c = connect(srv.url);
    c.socket.write('GET /stats/ HTTP/1.1\r\nHost: x\r\n');
    const start = Date.now();
    let open = true;
    void c.closed.then(() => (open = false));
    const drip = setInterval(() => {
      if (open) c.socket.write(`X-Slow-${Date.now()}: y\r\n`);
    }, 300);
    try {
      // Others are served meanwhile.
      assert.equal((await getJson(`${srv.url}stats/`)).status, 200);
      await waitFor(() => !open, 20_000, 'the slow client to be cut off');
      const took = Date.now() - start;
      // The headers timeout is 2 s (checked every 0.5 s): not cut before it, and cut long before 20 s.
      assert.ok(took >= 1_500 && took < 20_000, `cut off after ${took} ms`);
    } finally {
      clearInterval(drip);
      c.socket.destroy();
    }
  });

  test('connections beyond --max-connections are closed at once, and the server serves again when they go', async () => {
    const clients = Array.from({ length: 30 }, () => connect(srv.url));
    let closedEarly = 0;
    for (const c of clients) void c.closed.then(() => closedEarly++);
    await waitFor(() => closedEarly >= 20, 10_000, 'the connections beyond the cap to be closed');
    assert.ok(closedEarly <= 21, `${closedEarly} closed: the cap should keep about 10 open`);
    for (const c of clients) c.socket.destroy();
    await waitFor(async () => (await getJson(`${srv.url}files/`).catch(() => ({ status: 0 }))).status === 200, 10_000, 'service again');
  });
});
