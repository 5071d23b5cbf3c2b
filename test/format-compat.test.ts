/**
 * Format 2.1 against the reader of the last release (0.1.0, format 2.0), frozen in
 * test/fixtures/reader-0.1.0: it shows a family as one field of an unknown type with
 * no value, never a child's value under any label, and every other field intact.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { DIST, runScript, tempStatsDir } from './helpers/proc.js';

const OLD_READER = pathToFileURL(path.join(DIST, '..', 'test', 'fixtures', 'reader-0.1.0', 'reader', 'reader.js')).href;

interface OldField {
  label: string;
  type: string;
  kind: string;
  value: unknown;
  error?: string;
}

test('the 0.1.0 reader reads a 2.1 file: each family one field with a null value, no child, other fields intact', async () => {
  const { StatsReader: OldReader } = (await import(OLD_READER)) as {
    StatsReader: { open(p: string): { read(): { fields: OldField[] }; close(): void } };
  };
  const dir = tempStatsDir();
  const w = runScript(
    `
    const M = defineModel('Compat', {
      before: field.gauge(),
      requests: field.counter({ help: 'requests', labels: ['method', 'status'] }),
      name: field.string({ size: 8, labels: ['k'] }),
      lat: field.histogram({ buckets: [1, 2], labels: ['route'] }),
      after: field.histogram({ buckets: [1, 2] }),
    });
    const s = M.open({ path: env.DIR });
    s.before.set(1.5);
    s.after.record(1.5);
    on('churn', (n) => {
      for (let i = 0; i < n; i++) {
        s.requests.with('GET', i % 7).incr(i);
        s.name.with('k' + (i % 5)).set('v' + i);
        s.lat.with('/r' + (i % 3)).record(i);
        if (i % 4 === 0) s.requests.remove('GET', (i + 3) % 7);
      }
    });
    // A field added after the families: the record chain past them still reads.
    on('late', () => s.add('late', field.counter()).incr(9));
    ready(s.path);
  `,
    { env: { DIR: dir } },
  );
  try {
    const file = await w.ready;
    await w.call('churn', 500);
    await w.call('late');
    const r = OldReader.open(file);
    try {
      for (let round = 0; round < 20; round++) {
        await w.call('churn', 50);
        const fields = r.read().fields;
        const byLabel = new Map(fields.map((f) => [f.label, f]));
        for (const name of ['requests', 'name', 'lat']) {
          const f = byLabel.get(name)!;
          assert.ok(f, `family ${name} is one field`);
          assert.equal(f.value, null);
          assert.equal(f.type, 'unknown(15)');
          assert.match(f.error!, /unknown data type 15/);
        }
        assert.equal(byLabel.get('requests')!.kind, 'counter');
        assert.ok(!fields.some((f) => f.label.includes('{')), 'no child is shown');
        assert.equal(byLabel.get('before')!.value, 1.5);
        assert.equal((byLabel.get('after')!.value as { count: number }).count, 1);
        assert.equal(byLabel.get('late')!.value, 9);
        assert.equal(byLabel.get('sys.pid')!.value, w.pid);
      }
    } finally {
      r.close();
    }
  } finally {
    await w.end();
  }
});
