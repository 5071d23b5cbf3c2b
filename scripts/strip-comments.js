#!/usr/bin/env node
/**
 * `npm pack` and `npm publish` (through prepare, after the build): the package's
 * JavaScript without its comments. The TSDoc stays in the .d.ts, which editors read,
 * and every comment stays in the sources; the shipped .js need none, and their comments
 * were an eighth of the packed size (scripts/test-install.js holds it under 400 kB).
 * esbuild reprints each file as it is: the same module format and syntax (target
 * esnext), nothing bundled, renamed or minified.
 */
import fs from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

// prepare also runs at `npm install` and `npm ci` in this tree: the tests' dist keeps its comments.
if (process.env.npm_command !== 'pack' && process.env.npm_command !== 'publish') process.exit(0);
const dist = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'src');
let before = 0;
let after = 0;
for (const file of fs.readdirSync(dist, { recursive: true })) {
  if (!file.endsWith('.js')) continue;
  const full = path.join(dist, file);
  const code = fs.readFileSync(full, 'utf8');
  const { code: stripped } = await esbuild.transform(code, {
    loader: 'js',
    target: 'esnext',
    legalComments: 'none',
    charset: 'utf8',
    sourcefile: file,
  });
  fs.writeFileSync(full, stripped);
  before += code.length;
  after += stripped.length;
}
process.stdout.write(`strip-comments: dist/src/**/*.js, ${before} B with comments, ${after} B without\n`);
