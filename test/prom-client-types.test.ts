/**
 * Types: a program that compiles against prom-client 15's index.d.ts compiles
 * unchanged against mmstats/prom-client. The build already compiles the program
 * (test/fixtures/prom-client/consumer.ts) against prom-client; this compiles it
 * again with `prom-client` resolved to mmstats/prom-client's declarations.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

function compile(promClientTypes: string): { status: number | null; out: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mmstats-types-'));
  try {
    const config = {
      compilerOptions: {
        target: 'ES2022',
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        strict: true,
        noEmit: true,
        esModuleInterop: true,
        skipLibCheck: true,
        types: ['node'],
        typeRoots: [path.join(root, 'node_modules', '@types')],
        paths: { 'prom-client': [promClientTypes] },
      },
      files: [path.join(root, 'test', 'fixtures', 'prom-client', 'consumer.ts')],
    };
    fs.writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify(config));
    const r = spawnSync(process.execPath, [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', dir], { encoding: 'utf8' });
    return { status: r.status, out: r.stdout + r.stderr };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

test('a program typed against prom-client compiles unchanged against mmstats/prom-client', () => {
  const theirs = compile(path.join(root, 'node_modules', 'prom-client', 'index.d.ts'));
  assert.equal(theirs.status, 0, theirs.out);
  const mine = compile(path.join(root, 'dist', 'src', 'integrations', 'prom-client', 'index.d.ts'));
  assert.equal(mine.status, 0, mine.out);
});

test('the same compiler refuses a misuse under both typings (the check can fail)', () => {
  const bad = path.join(root, 'dist', 'prom-client-misuse.ts');
  fs.writeFileSync(
    bad,
    "import { Counter } from 'prom-client';\nnew Counter({ name: 'x', help: 'y', labelNames: ['a'] }).inc({ b: 1 });\n",
  );
  try {
    for (const types of [
      path.join(root, 'node_modules', 'prom-client', 'index.d.ts'),
      path.join(root, 'dist', 'src', 'integrations', 'prom-client', 'index.d.ts'),
    ]) {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mmstats-types-'));
      const config = {
        compilerOptions: {
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          noEmit: true,
          skipLibCheck: true,
          types: [],
          paths: { 'prom-client': [types] },
        },
        files: [bad],
      };
      fs.writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify(config));
      const r = spawnSync(process.execPath, [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', dir], { encoding: 'utf8' });
      fs.rmSync(dir, { recursive: true, force: true });
      assert.notEqual(r.status, 0, `${types}: a label not declared must not compile`);
      assert.match(r.stdout, /'b' does not exist/);
    }
  } finally {
    fs.rmSync(bad, { force: true });
  }
});
