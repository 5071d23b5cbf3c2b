/**
 * String fields: what a reader in another process sees after each kind of value,
 * ASCII (written a byte per char code) and not, longer and shorter than before,
 * cut to the field's size on a character boundary.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { field, openStats } from '../src/index.js';
import { runScript, tempStatsDir } from './helpers/proc.js';

test('a string field reads back exactly what was set, after longer, shorter, non-ASCII and cut values', async () => {
  const dir = tempStatsDir();
  const r = runScript(
    `on('read', (f) => { const r = StatsReader.open(f); const v = r.read().fields.find((x) => x.label === 's').value; r.close(); return v; }); ready();`,
  );
  await r.ready;
  try {
    await checkFormats(r);
  } finally {
    await r.end();
  }

  async function checkFormats(r: ReturnType<typeof runScript>): Promise<void> {
    for (const format of [2, 1] as const) {
      const stats = openStats({ name: `str${format}`, path: dir, format, defaultFields: false });
      try {
        const s = stats.add('s', field.string({ size: 6 }));
        for (const [value, expected] of [
          ['/users', '/users'],
          ['ab', 'ab'], // shorter: nothing of the longer value remains
          ['', ''],
          ['abcdefgh', 'abcdef'], // ASCII past the size: cut
          ['éa', 'éa'],
          ['éaaaaa', 'éaaaa'], // 7 bytes into 6: cut, though the byte count equals the string's length
          ['xyz', 'xyz'],
          ['😀😀', '😀'],
          ['abc', 'abc'],
        ] as const) {
          s.set(value);
          assert.equal(s.value, expected, `format ${format}: ${JSON.stringify(value)} as the writer holds it`);
          assert.equal(await r.call('read', stats.path), expected, `format ${format}: ${JSON.stringify(value)} as a reader sees it`);
        }
        // A NUL is a byte of the value in format 2 (format 1 pads with NUL, as the original, so one ends the value there).
        if (format === 2) {
          s.set('a\u0000b');
          assert.equal(await r.call('read', stats.path), 'a\u0000b');
        }
      } finally {
        stats.remove();
      }
    }
  }
});
