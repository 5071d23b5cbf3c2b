/**
 * Shared mode across a cluster: the primary creates one file, every worker
 * process attaches and counts into it; no message passing carries the counts.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';
import { StatsReader } from '../src/index.js';
import { runScript, tempStatsDir } from './helpers/proc.js';

const SCRIPT = `
import cluster from 'node:cluster';
const Counts = defineModel('Counts', { hits: field.counter(), workers: field.int32() }, { prefix: 'cluster.' });
if (cluster.isWorker) {
  const n = Number(env.N);
  let missing = '';
  try {
    defineModel('Missing', { x: field.counter() }).open({ path: env.STATS_DIR, shared: 'cluster' });
  } catch (err) {
    missing = err.code + ': ' + err.message;
  }
  const s = Counts.open({ path: env.STATS_DIR, shared: 'cluster' });
  s.workers.incr();
  for (let i = 0; i < n; i++) s.hits.incr();
  process.send({ path: s.path, missing }, () => process.exit(0));
} else {
  const stats = Counts.open({ path: env.STATS_DIR, shared: 'cluster' });
  cluster.setupPrimary({ silent: true });
  on('run', async (workers) => {
    const results = await Promise.all(Array.from({ length: workers }, () => new Promise((resolve, reject) => {
      const w = cluster.fork();
      w.once('message', resolve);
      w.once('error', reject);
      w.once('exit', (code) => code !== 0 && reject(new Error('worker exited with ' + code)));
    })));
    return results;
  });
  ready({ path: stats.path });
}
`;

test(
  '3 cluster worker processes x 10^6 increments on the primary’s shared file read back as exactly 3 x 10^6',
  { timeout: 120_000 },
  async () => {
    const dir = tempStatsDir();
    const n = 1_000_000;
    const w = runScript(SCRIPT, { env: { STATS_DIR: dir, N: String(n) } });
    try {
      const { path } = await w.ready;
      assert.match(path, new RegExp(`-Counts-${w.pid}-shared\\.mmstats$`));
      const results: { path: string; missing: string }[] = await w.call('run', 3);
      for (const r of results) {
        assert.equal(r.path, path, 'every worker process attached to the primary’s file');
        assert.match(
          r.missing,
          /^ERR_MMSTATS_IO: .*no live shared file of the cluster primary \(pid \d+\): open the model with shared: 'cluster' in the primary/,
        );
      }
      assert.deepEqual(
        fs.readdirSync(dir).filter((f) => f.endsWith('.mmstats')),
        [path.slice(dir.length + 1)],
      );
      const reader = StatsReader.open(path);
      try {
        const snap = reader.read();
        const value = (label: string) => snap.fields.find((f) => f.label === label)?.value;
        assert.equal(value('cluster.hits'), 3 * n);
        assert.equal(value('cluster.workers'), 3);
        assert.equal(snap.writer.pid, w.pid);
        assert.equal(snap.writer.shared, true);
        assert.equal(snap.writer.alive, true, 'the primary holds the file while its workers come and go');
      } finally {
        reader.close();
      }
    } finally {
      await w.end();
    }
  },
);
