#!/usr/bin/env node
/**
 * Build the dashboard's browser assets into dist/dashboard/: type-check the
 * client (it has its own tsconfig: DOM, bundler resolution), bundle it with
 * uPlot by esbuild, and copy the page. Everything the page loads is served by
 * `mmstats serve` itself; nothing comes from a CDN.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const client = path.join(root, 'src', 'tools', 'dashboard', 'client');
const out = path.join(root, 'dist', 'dashboard');

try {
  execFileSync(process.execPath, [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', path.join(client, 'tsconfig.json')], {
    stdio: 'inherit',
  });
} catch {
  process.stderr.write('dashboard: the client code does not type-check (errors above)\n');
  process.exit(1);
}

fs.rmSync(out, { recursive: true, force: true });
fs.mkdirSync(out, { recursive: true });
await esbuild.build({
  entryPoints: { app: path.join(client, 'main.ts') },
  bundle: true,
  format: 'esm',
  target: ['es2022'],
  minify: true,
  sourcemap: false,
  legalComments: 'linked',
  outdir: out,
  logLevel: 'warning',
});
await esbuild.build({
  entryPoints: { app: path.join(client, 'style.css') },
  bundle: true,
  minify: true,
  outdir: out,
  logLevel: 'warning',
});
fs.copyFileSync(path.join(client, 'index.html'), path.join(out, 'index.html'));
const files = fs.readdirSync(out).sort();
process.stdout.write(`dashboard: ${files.map((f) => `${f} (${fs.statSync(path.join(out, f)).size} B)`).join(', ')}\n`);
