/**
 * Property tests of the reader on hostile input (bench/fuzz.ts holds the
 * generators and the long run): any file either reads or gives an
 * MmstatsError, without a foreign exception, a hang or a crash. Every case the
 * fuzzer found, and the crafted cases beside them, stay as regression fixtures in
 * test/fixtures/fuzz/ (bytes, and a .json with the sparse size and the outcome).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { FIXTURE_DIR, fuzzFileArb, makeSeeds, readCase, writeFuzzFile, type FuzzFile } from '../bench/fuzz.js';
import { MmstatsError, StatsReader, readAll } from '../src/index.js';
import { tempStatsDir } from './helpers/proc.js';

const RUNS = Number(process.env.MMSTATS_FUZZ_RUNS ?? 10_000);

test(
  `${RUNS} random and mutated files of both formats: the reader returns values or an MmstatsError, never anything else`,
  { timeout: 600_000 },
  async () => {
    const dir = tempStatsDir();
    const seeds = await makeSeeds(dir);
    assert.ok(seeds.some((s) => s.bytes[0] === 1) && seeds.some((s) => s.bytes[0] === 0x4d), 'seeds of both formats');
    const file = path.join(dir, 'case.mmstats');
    const outcomes: Record<string, number> = {};
    fc.assert(
      fc.property(fuzzFileArb(seeds), (f: FuzzFile) => {
        writeFuzzFile(file, f);
        const o = readCase(file);
        outcomes[o.result] = (outcomes[o.result] ?? 0) + 1;
        return o.ok;
      }),
      { numRuns: RUNS },
    );
    // The generators must reach both sides of the property, or passing means little.
    assert.ok((outcomes.ok ?? 0) > RUNS / 50, `some files still read: ${JSON.stringify(outcomes)}`);
    assert.ok((outcomes.ERR_MMSTATS_MALFORMED ?? 0) > RUNS / 10, `many files are malformed: ${JSON.stringify(outcomes)}`);
  },
);

const fixtures = fs.existsSync(FIXTURE_DIR) ? fs.readdirSync(FIXTURE_DIR).filter((n) => n.endsWith('.mmstats')) : [];

test('every regression fixture reads as recorded, with only an MmstatsError, within its time bound', () => {
  assert.ok(fixtures.length > 0, `fixtures in ${FIXTURE_DIR}`);
  const dir = tempStatsDir();
  for (const name of fixtures) {
    const meta = JSON.parse(fs.readFileSync(path.join(FIXTURE_DIR, `${name}.json`), 'utf8')) as {
      size: number;
      expect?: string;
      found: string;
    };
    const file = path.join(dir, name);
    writeFuzzFile(file, { bytes: new Uint8Array(fs.readFileSync(path.join(FIXTURE_DIR, name))), size: meta.size, origin: name });
    const o = readCase(file);
    assert.ok(o.ok, `${name} (${meta.found}): ${o.result}`);
    if (meta.expect) assert.equal(o.result, meta.expect, `${name} (${meta.found})`);
    fs.rmSync(file);
  }
});

test('a directory of every fixture is read by readAll: one typed error per bad file, the good ones read', () => {
  const dir = tempStatsDir();
  const expected: Record<string, string> = {};
  for (const name of fixtures) {
    const meta = JSON.parse(fs.readFileSync(path.join(FIXTURE_DIR, `${name}.json`), 'utf8')) as { size: number; expect?: string };
    writeFuzzFile(path.join(dir, name), {
      bytes: new Uint8Array(fs.readFileSync(path.join(FIXTURE_DIR, name))),
      size: meta.size,
      origin: name,
    });
    if (meta.expect) expected[name] = meta.expect;
  }
  const r = readAll([dir]);
  assert.equal(r.snapshots.length + r.errors.length, fixtures.length);
  for (const e of r.errors) {
    assert.ok(e.error instanceof MmstatsError);
    const want = expected[path.basename(e.path)];
    if (want) assert.equal(e.error.code, want, path.basename(e.path));
  }
  for (const s of r.snapshots) {
    const want = expected[path.basename(s.path)];
    if (want) assert.equal('ok', want, path.basename(s.path));
  }
});

test('a v1 file of more than a million tiny fields is refused as malformed instead of costing gigabytes', { timeout: 120_000 }, () => {
  const dir = tempStatsDir();
  const n = 1_000_001;
  // Each field: label "a", type "?", unbuffered, one byte: 8 bytes.
  const b = Buffer.alloc(1 + n * 8 + 8);
  b[0] = 1;
  const one = Buffer.from([1, 0, 0x61, 1, 0, 0x3f, 0xff, 1]);
  for (let i = 0, p = 1; i < n; i++, p += 8) one.copy(b, p);
  const file = path.join(dir, 'many.mmstats');
  fs.writeFileSync(file, b);
  const before = process.memoryUsage().rss;
  assert.throws(
    () => StatsReader.open(file),
    (err: unknown) => err instanceof MmstatsError && err.code === 'ERR_MMSTATS_MALFORMED' && /more than 1000000 fields/.test(err.message),
  );
  assert.ok(process.memoryUsage().rss - before < 1024 * 1024 * 1024, 'well under a gigabyte on the way');
});
