/**
 * How many stats files `mmstats serve` keeps open: by default every descriptor the
 * process has (its soft RLIMIT_NOFILE, after Node.js raised it at start-up) less
 * the client connections and a reserve of 64. Real servers, under real limits set
 * with prlimit(1).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { describe, test } from 'node:test';
import { runScript, tempStatsDir, waitFor } from './helpers/proc.js';
import { fdCount, getJson, startServe, systemProgram } from './helpers/serve.js';
import { openFileLimit } from '../src/platform/limits.js';
import { DESCRIPTOR_RESERVE, defaultMaxOpen } from '../src/tools/server/store.js';

const FILES = 120;

/** One process with FILES stats files of one counter each. */
const WRITER = `
for (let i = 0; i < ${FILES}; i++) {
  const s = openStats({ name: 'Lim', path: env.DIR, filename: 'lim-' + i + '.mmstats', defaultFields: false });
  s.add('lim.hits', field.counter()).incr(1);
}
ready(null);
`;

/** The soft and hard "Max open files" of a running process. */
function limitsOf(pid: number): { soft: number; hard: number } {
  const m = /^Max open files\s+(\d+)\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/limits`, 'latin1'))!;
  return { soft: Number(m[1]), hard: Number(m[2]) };
}

describe('the descriptor limit decides how many files serve keeps open', { timeout: 120_000 }, () => {
  const prlimit = systemProgram('prlimit');
  const linux = fs.existsSync('/proc/self/limits');

  test('the soft limit is read as this process has it', { skip: !linux && 'needs Linux /proc' }, () => {
    const own = limitsOf(process.pid);
    assert.equal(openFileLimit(), own.soft);
    assert.equal(openFileLimit('Max open files            unlimited            unlimited            files\n'), Infinity);
    assert.equal(openFileLimit('Max processes 10 10 processes\n'), undefined);
    // The rule, over limits as they come: never negative, never more than the files tracked.
    assert.equal(defaultMaxOpen(256, 20_000, 400), 400 - 256 - DESCRIPTOR_RESERVE);
    assert.equal(defaultMaxOpen(256, 20_000, 100), 0);
    assert.equal(defaultMaxOpen(256, 20_000, Infinity), 20_000);
  });

  test(
    `a hard limit of 400: ${400 - 256 - DESCRIPTOR_RESERVE} of ${FILES} files kept open, every file still read`,
    { skip: (!prlimit || !linux) && 'needs prlimit(1) and Linux /proc' },
    async () => {
      const dir = tempStatsDir();
      const w = runScript(WRITER, { env: { DIR: dir } });
      await w.ready;
      const srv = await startServe(['--port', '0', '--path', dir], { wrapper: [prlimit!, '--nofile=400:400'] });
      try {
        assert.deepEqual(limitsOf(srv.pid), { soft: 400, hard: 400 });
        const expected = 400 - 256 - DESCRIPTOR_RESERVE;
        const status = (await getJson(`${srv.url}api/status`)).body;
        assert.equal(status.maxOpen, expected);
        assert.equal(status.openReaders, expected, 'as many files open as the rule allows');
        assert.ok(fdCount(srv.pid) < 400 - 200, `${fdCount(srv.pid)} descriptors in use: the connections' share is left free`);
        const hits = (await getJson(`${srv.url}stats/lim.hits?aggr=sum`)).body['lim.hits'];
        assert.equal(hits, FILES, 'the files beyond the bound are read too');
        // Fewer connections allowed: more descriptors for files.
        const fewer = await startServe(['--port', '0', '--path', dir, '--max-connections', '16'], {
          wrapper: [prlimit!, '--nofile=400:400'],
        });
        try {
          const s2 = (await getJson(`${fewer.url}api/status`)).body;
          assert.equal(s2.maxOpen, 400 - 16 - DESCRIPTOR_RESERVE);
          assert.equal(s2.openReaders, FILES);
        } finally {
          await fewer.stop();
        }
      } finally {
        await srv.stop();
        await w.end();
      }
    },
  );

  test(
    'a soft limit of 300 under a hard one of 5000: Node.js raises it, and serve uses the raised one',
    { skip: (!prlimit || !linux) && 'needs prlimit(1) and Linux /proc' },
    async () => {
      const dir = tempStatsDir();
      const w = runScript(WRITER, { env: { DIR: dir } });
      await w.ready;
      const srv = await startServe(['--port', '0', '--path', dir], { wrapper: [prlimit!, '--nofile=300:5000'] });
      const bounded = await startServe(['--port', '0', '--path', dir, '--max-open', '7'], { wrapper: [prlimit!, '--nofile=300:5000'] });
      try {
        assert.equal(limitsOf(srv.pid).soft, 5000);
        const status = (await getJson(`${srv.url}api/status`)).body;
        assert.equal(status.maxOpen, 5000 - 256 - DESCRIPTOR_RESERVE);
        assert.equal(status.openReaders, FILES);
        // --max-open given: it is the bound, whatever the limit.
        await waitFor(async () => (await getJson(`${bounded.url}api/status`)).body.files === FILES, 10_000, 'every file listed');
        const b = (await getJson(`${bounded.url}api/status`)).body;
        assert.equal(b.maxOpen, 7);
        assert.equal(b.openReaders, 7);
      } finally {
        await Promise.all([srv.stop(), bounded.stop()]);
        await w.end();
      }
    },
  );
});
