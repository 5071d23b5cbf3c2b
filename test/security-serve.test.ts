/**
 * Path traversal forms against `serve` beyond the plain and percent-encoded ones
 * of serve-safety.test.ts: double encoding, overlong UTF-8, Unicode look-alikes,
 * dot variants. Each must be refused or miss, and show nothing from outside.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runScript, tempStatsDir, type ScriptProcess } from './helpers/proc.js';
import { rawGet, startServe, type ServeProcess } from './helpers/serve.js';

describe('mmstats serve: encoded traversal forms reach nothing outside', () => {
  const base = tempStatsDir();
  const inside = path.join(base, 'stats');
  fs.mkdirSync(inside, { mode: 0o700 });
  let w: ScriptProcess;
  let srv: ServeProcess;

  before(async () => {
    // A secret stats file and a text file one level up from the served directory.
    fs.writeFileSync(path.join(base, 'passwd'), 'root:x:0:0:secret-text\n');
    w = runScript(
      `
const a = openStats({ name: 'In', path: env.IN });
a.add('inside.value', field.counter()).incr(1);
const b = openStats({ name: 'Out', path: env.OUT, filename: 'secret.mmstats' });
b.add('outside.secret', field.counter()).incr(2);
ready();
`,
      { env: { IN: inside, OUT: base } },
    );
    await w.ready;
    srv = await startServe(['--port', '0', '--path', inside]);
  });

  after(async () => {
    await srv?.stop();
    await w?.end();
  });

  const leaks = (body: string) => body.includes('outside.secret') || body.includes('secret-text');

  const forms: readonly [string, string][] = [
    ['double-encoded ".." and slash', '/api/files/%252e%252e%252fsecret.mmstats'],
    ['double-encoded ".." in a files glob', '/files/%252e%252e%252f*'],
    ['overlong UTF-8 dots', '/api/files/%c0%ae%c0%ae%c0%afsecret.mmstats'],
    ['overlong UTF-8 slash', '/api/files/..%c0%afsecret.mmstats'],
    ['fullwidth dots and slash', `/api/files/${encodeURIComponent('．．／secret.mmstats')}`],
    ['a dot segment with a trailing dot', '/api/files/.../secret.mmstats'],
    ['"./" then ".."', '/api/files/./../secret.mmstats'],
    ['a double-encoded glob', '/stats/outside?glob=%252e%252e%252f*'],
    ['a glob of "**"', '/stats/outside?glob=**'],
    ['a glob with brackets around a slash', '/stats/outside?glob=..[/]*'],
  ];

  for (const [what, rawPath] of forms) {
    test(`${what} is refused or not found, and shows nothing from outside`, async () => {
      const { status, body } = await rawGet(srv.url, rawPath);
      assert.ok(!leaks(body), `${rawPath} leaked: ${body}`);
      // A glob that matches nothing inside is an honest empty answer; a path is refused or missing.
      if (status === 200) assert.ok(rawPath.startsWith('/stats/') || rawPath.startsWith('/files/'), `${rawPath}: 200 ${body}`);
      else assert.ok(status === 400 || status === 404, `${rawPath}: status ${status}: ${body}`);
    });
  }

  test('the inside file is still served by name (the control for the refusals above)', async () => {
    const names = fs.readdirSync(inside).filter((n) => n.endsWith('.mmstats'));
    assert.equal(names.length, 1);
    const { status, body } = await rawGet(srv.url, `/api/files/${encodeURIComponent(names[0]!)}`);
    assert.equal(status, 200, body);
    assert.match(body, /inside\.value/);
  });
});
