import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { runScript, tempStatsDir, waitFor } from './helpers/proc.js';
import { fdCount, getJson, mappingCount, rssKiB, startServe } from './helpers/serve.js';

/** One process holding many stats files, each its own file, opened and removed on demand. */
const MANY = `
const live = new Map();
let next = 0;
on('open', (count) => {
  for (let i = 0; i < count; i++) {
    const id = next++;
    const s = openStats({ name: 'Many', path: env.DIR, filename: 'many-{PID}-' + id + '.mmstats', defaultFields: false });
    s.add('many.id', field.gauge()).set(id);
    s.add('many.hits', field.counter()).incr(1);
    live.set(id, s);
  }
  return live.size;
});
on('remove', (count) => {
  let k = 0;
  for (const [id, s] of live) {
    if (k++ >= count) break;
    s.remove();
    live.delete(id);
  }
  return live.size;
});
ready(null);
`;

const FILES = 1000;

test(
  `${FILES} writer files served while they come and go, without a descriptor, mapping or memory leak`,
  { timeout: 240_000 },
  async (t) => {
    if (!fs.existsSync('/proc/self/fd')) {
      t.skip('needs Linux /proc to count descriptors');
      return;
    }
    const dir = tempStatsDir();
    fs.writeFileSync(path.join(dir, 'broken.mmstats'), 'MMSTATS\0not really');
    const w = runScript(MANY, { env: { DIR: dir } });
    await w.ready;
    // One server keeps every file open; the other may keep 100 open and reads the rest transiently.
    const full = await startServe(['--port', '0', '--path', dir]);
    const bounded = await startServe(['--port', '0', '--path', dir, '--max-open', '100']);
    try {
      const writersOf = async (url: string) => (await getJson(`${url}api/writers`)).body.writers as { status: string; error: unknown }[];
      const settle = async (url: string, expected: number) =>
        waitFor(
          async () => {
            const rows = await writersOf(url);
            // Every file listed is a live writer's, but for the one broken file: a removed file is gone from the list, not just stale.
            const done =
              rows.length === expected + 1 &&
              rows.filter((r) => r.status === 'alive').length === expected &&
              rows.filter((r) => r.status === 'error').length === 1;
            // Each look reads every file: poll gently.
            if (!done) await new Promise((r) => setTimeout(r, 250));
            return done;
          },
          60_000,
          `${expected} live writers at ${url}`,
        );
      await settle(full.url, 0);
      await settle(bounded.url, 0);
      const base = { full: fdCount(full.pid), bounded: fdCount(bounded.pid) };
      let peakRss = 0;
      let roundOneRss = 0;
      let rounds = 0;
      assert.equal(await w.call('open', FILES), FILES);
      for (;;) {
        await settle(full.url, FILES);
        await settle(bounded.url, FILES);
        const hits = (await getJson(`${full.url}stats/many.hits?aggr=sum`)).body['many.hits'];
        assert.equal(hits, FILES, 'every file read');
        const fdFull = fdCount(full.pid);
        const fdBounded = fdCount(bounded.pid);
        assert.ok(fdFull <= base.full + FILES + 16, `full server: ${fdFull} descriptors, baseline ${base.full}`);
        assert.ok(fdBounded <= base.bounded + 100 + 16, `bounded server: ${fdBounded} descriptors, baseline ${base.bounded}`);
        assert.ok(mappingCount(full.pid, dir) <= FILES, 'at most one mapping per file');
        // Plus the one file a read in progress maps (the dashboard reads in the background).
        assert.ok(mappingCount(bounded.pid, dir) <= 100 + 1, 'at most --max-open mappings, and one being read');
        peakRss = Math.max(peakRss, rssKiB(full.pid));
        if (rounds === 0) {
          roundOneRss = peakRss;
          await new Promise((r) => setTimeout(r, 150)); // past the shared-read window: the scrape reads every file
          const t0 = performance.now();
          const scrape = await (await fetch(`${full.url}metrics`)).text();
          t.diagnostic(`scrape of ${FILES} files: ${(performance.now() - t0).toFixed(0)} ms, ${scrape.length} bytes`);
        }
        t.diagnostic(
          `round ${rounds}: full ${fdFull} fds (base ${base.full}), bounded ${fdBounded} fds (base ${base.bounded}), rss ${rssKiB(full.pid)} KiB`,
        );
        if (++rounds === 4) break;
        // Half the files go, as many new ones come.
        await w.call('remove', FILES / 2);
        await w.call('open', FILES / 2);
      }
      assert.equal(await w.call('remove', FILES), 0);
      await settle(full.url, 0);
      await settle(bounded.url, 0);
      const after = { full: fdCount(full.pid), bounded: fdCount(bounded.pid) };
      t.diagnostic(`after: full ${after.full} fds, bounded ${after.bounded} fds, rss ${rssKiB(full.pid)} KiB, peak ${peakRss} KiB`);
      assert.ok(after.full <= base.full + 4, `full server holds ${after.full} descriptors, baseline ${base.full}`);
      assert.ok(after.bounded <= base.bounded + 4, `bounded server holds ${after.bounded} descriptors, baseline ${base.bounded}`);
      assert.equal(mappingCount(full.pid, dir), 0, 'no mapping of a removed file is left');
      assert.equal(mappingCount(bounded.pid, dir), 0);
      assert.ok(
        rssKiB(full.pid) < roundOneRss * 2,
        `resident memory ${rssKiB(full.pid)} KiB after the rounds, ${roundOneRss} KiB after the first`,
      );
    } finally {
      await Promise.all([full.stop(), bounded.stop()]);
      await w.end();
    }
  },
);
