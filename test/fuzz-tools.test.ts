/**
 * The tools over a directory of fuzzed files (generated as in bench/fuzz.ts):
 * `slurp` reports each bad file on stderr and prints the rest; `serve` answers
 * every endpoint and stays up. Neither prints a stack trace.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';
import { promisify } from 'node:util';
import fc from 'fast-check';
import { fuzzFileArb, makeSeeds, writeFuzzFile } from '../bench/fuzz.js';
import { CLI, tempStatsDir } from './helpers/proc.js';

const run = promisify(execFile);
const FILES = 300;

async function fuzzedDir(): Promise<{ dir: string; names: string[] }> {
  const work = tempStatsDir();
  const seeds = await makeSeeds(work);
  const dir = tempStatsDir();
  const names: string[] = [];
  // Fixed seed: the same files every run. Sparse giants are left to the reader tests.
  fc.sample(fuzzFileArb(seeds), { numRuns: FILES * 2, seed: 20261125 })
    .filter((f) => f.size <= 1 << 24)
    .slice(0, FILES)
    .forEach((f, i) => {
      const name = `fuzz-${String(i).padStart(3, '0')}.mmstats`;
      writeFuzzFile(path.join(dir, name), f);
      names.push(name);
    });
  return { dir, names };
}

const STACK = /\n\s+at .+\(.+:\d+:\d+\)|TypeError|RangeError|ReferenceError/;

test(
  `slurp over ${FILES} fuzzed files prints the good ones, reports each bad one on stderr, and finishes`,
  { timeout: 120_000 },
  async () => {
    const { dir, names } = await fuzzedDir();
    // slurp exits 1 when some files failed: expected here, so its output is kept either way.
    const { stdout, stderr, code } = await run(process.execPath, [CLI, 'slurp', dir], { maxBuffer: 64 << 20, timeout: 100_000 }).then(
      (r) => ({ ...r, code: 0 }),
      (err: { code: number; stdout: string; stderr: string; killed?: boolean }) => {
        assert.ok(!err.killed, 'slurp finished before the timeout');
        return err;
      },
    );
    assert.ok(code === 0 || code === 1, `exit code ${code}`);
    assert.doesNotMatch(stderr, STACK);
    // Every file is accounted for: printed under its own header, or named in an error line.
    for (const name of names) {
      const printed = stdout.includes(`==> ${path.join(dir, name)}`);
      const reported = stderr.includes(path.join(dir, name));
      assert.ok(printed || reported, `${name} is neither printed nor reported`);
    }
    assert.ok(/ERR_MMSTATS_/.test(stderr), 'bad files are reported with their error code');
  },
);

test(`serve over ${FILES} fuzzed files answers every endpoint and stays up`, { timeout: 120_000 }, async () => {
  const { dir } = await fuzzedDir();
  const server = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--path', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  server.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  try {
    const url = await new Promise<string>((resolve, reject) => {
      readline.createInterface({ input: server.stdout }).once('line', (l) => resolve(l.trim()));
      server.once('exit', (c) => reject(new Error(`serve exited (${c}): ${stderr}`)));
    });
    for (const route of ['/stats/', '/stats/app', '/files/', '/api/writers', '/api/fields', '/metrics', '/stats/sys?aggr=sum']) {
      const res = await fetch(new URL(route, url));
      const body = await res.text();
      assert.equal(res.status, 200, `${route}: ${body.slice(0, 200)}`);
      assert.ok(body.length > 0, route);
    }
    const files = (await (await fetch(new URL('/files/', url))).json()) as Record<string, unknown>;
    assert.ok(JSON.stringify(files).includes('ERR_MMSTATS_'), 'the failing files are listed with their errors');
    assert.equal(server.exitCode, null, 'the server is still running');
    assert.doesNotMatch(stderr, STACK);
  } finally {
    server.kill();
  }
});
