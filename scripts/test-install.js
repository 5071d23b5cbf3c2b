#!/usr/bin/env node
/**
 * The real install, as a user gets it (`npm run test:install`; .ci/run runs it after
 * the unit tests):
 *
 * 1. `npm pack` from this tree (prepack builds the prebuilt addon, prepare the
 *    JavaScript), then the tarball's contents and size are checked: runtime code,
 *    types, prebuilds, native source; no tests, bench, dev configs or source maps.
 * 2. The tarball is installed into two fresh projects: one with `--ignore-scripts`
 *    (npm's default for dependencies since 11.19), one with install scripts allowed
 *    but a PATH that holds only node, npm and sh: no cc, gcc, make or python3.
 * 3. In each, a writer process (CommonJS `require` in one, ESM `import` in the other)
 *    publishes a counter, and `npx mmstats slurp --json` reads it back.
 * 4. In the no-compiler project, with the prebuilds removed (a platform with no
 *    prebuild), `npm rebuild mmstats` fails with the short toolchain message.
 * 5. A TypeScript 5 and a TypeScript 7 consumer type-check against the installed
 *    package (strict, `module` nodenext and bundler, the package's .d.ts checked).
 *
 * Packages come from npm's cache where it has them (`--prefer-offline`). Set
 * MMSTATS_KEEP_INSTALL=1 to keep the scratch folder for a look.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import process from 'node:process';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const rootPackage = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
/** The packed size the tarball must stay under, prebuilds included (bytes). */
const MAX_PACKED = 400_000;
const COUNTER_VALUE = 42;
const NPM_INSTALL = ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'];

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'mmstats-install-'));
process.on('exit', () => {
  if (process.env.MMSTATS_KEEP_INSTALL) process.stdout.write(`scratch folder kept: ${work}\n`);
  else fs.rmSync(work, { recursive: true, force: true });
});

function step(text) {
  process.stdout.write(`test:install: ${text}\n`);
}

/** Run a command to completion; throw with its output unless it exits 0 (or `allowFailure`). */
function run(command, args, { cwd = work, env = process.env, allowFailure = false } = {}) {
  const result = spawnSync(command, args, { cwd, env, encoding: 'utf8', maxBuffer: 64 << 20, timeout: 600_000 });
  if (result.error) throw result.error;
  if (result.status !== 0 && !allowFailure) {
    throw new Error(`${command} ${args.join(' ')} (in ${cwd}) exited ${result.status}\n${result.stdout}\n${result.stderr}`);
  }
  return result;
}

// 1. Pack, and look inside.
step('npm pack');
const packed = run('npm', ['pack', '--json', '--pack-destination', work], { cwd: root });
// Lifecycle scripts (prepack, prepare) print to the same stdout: the JSON is the last array.
const packInfo = JSON.parse(packed.stdout.slice(packed.stdout.lastIndexOf('\n[\n') + 1))[0];
const tarball = path.join(work, packInfo.filename);
const files = packInfo.files.map((f) => f.path);
const prebuild = `prebuilds/${process.platform}-${process.arch}/mmstats.glibc.node`;
for (const wanted of [
  'package.json',
  'README.md',
  'LICENSE',
  'CHANGELOG.md',
  'binding.gyp',
  'native/mmstats.c',
  'scripts/check-toolchain.cjs',
  'dist/src/index.js',
  'dist/src/index.d.ts',
  'dist/src/reader/index.d.ts',
  'dist/src/tools/cli.js',
  'dist/dashboard/app.js',
  'dist/dashboard/index.html',
  'docs/FORMAT.md',
  'contrib/python/README.md',
  prebuild,
]) {
  assert.ok(files.includes(wanted), `the tarball lacks ${wanted}`);
}
// Where the cross compiler and qemu are installed (.ci/run installs them), npm pack
// must ship the linux-arm64 binary: scripts/prebuilds.js has checked it under qemu.
const arm64Tools = ['aarch64-linux-gnu-gcc', 'qemu-aarch64'].every(
  (tool) => run('sh', ['-c', `command -v ${tool}`], { allowFailure: true }).status === 0,
);
if (process.platform === 'linux' && process.arch === 'x64' && arm64Tools) {
  assert.ok(files.includes('prebuilds/linux-arm64/mmstats.glibc.node'), 'the tarball lacks the linux-arm64 binary');
}
const unwanted = files.filter((f) =>
  /^(test|bench|examples|src|\.ci|build|node_modules)\/|^dist\/(test|bench|examples)\/|\.map$|__pycache__|\.pyc$|^(tsconfig|eslint\.config|\.prettier|package-lock)/.test(
    f,
  ),
);
assert.deepEqual(unwanted, [], 'the tarball ships files no user needs');
assert.ok(packInfo.size <= MAX_PACKED, `the tarball is ${packInfo.size} B packed, over ${MAX_PACKED} B`);
const dashboard = packInfo.files.find((f) => f.path === 'dist/dashboard/app.js');
step(
  `${packInfo.filename}: ${(packInfo.size / 1000).toFixed(1)} kB packed, ` +
    `${(packInfo.unpackedSize / 1000).toFixed(1)} kB unpacked, ${packInfo.entryCount} files ` +
    `(dashboard bundle ${(dashboard.size / 1000).toFixed(1)} kB)`,
);

/** A fresh project with the tarball (and `deps`) installed. */
function consumer(name, { deps, env = process.env, npmArgs = [], manifest = {} }) {
  const dir = path.join(work, name);
  fs.mkdirSync(dir);
  const pkg = { name, version: '1.0.0', private: true, type: 'module', ...manifest };
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify(pkg, null, 2));
  step(`${name}: npm install ${[...npmArgs, packInfo.filename, ...deps].join(' ')}`);
  const { stdout } = run('npm', [...NPM_INSTALL, ...npmArgs, tarball, ...deps], { cwd: dir, env });
  return { dir, stdout };
}

/** The line a child prints first, or a rejection if it exits before. */
function firstLine(child) {
  return new Promise((resolve, reject) => {
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    readline.createInterface({ input: child.stdout }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`writer exited ${code} before it was ready\n${stderr}`)));
  });
}

/**
 * A writer process publishes a counter through the installed package (`require` or
 * `import`); `npx mmstats slurp --json` in another process must read it back.
 */
async function writerAndSlurp(dir, env, moduleFormat) {
  const statsDir = path.join(dir, 'stats');
  fs.mkdirSync(statsDir, { mode: 0o700 });
  const load =
    moduleFormat === 'require' ? "const { defineModel, field } = require('mmstats');" : "import { defineModel, field } from 'mmstats';";
  const script = path.join(dir, moduleFormat === 'require' ? 'writer.cjs' : 'writer.mjs');
  fs.writeFileSync(
    script,
    `${load}
const stats = defineModel('InstallCheck', { served: field.counter({ help: 'requests served' }) }).open();
stats.served.incr(${COUNTER_VALUE});
process.stdout.write('ready\\n');
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
`,
  );
  const childEnv = { ...env, MMSTATS_PATH: statsDir };
  const writer = spawn(process.execPath, [script], { cwd: dir, env: childEnv, stdio: ['pipe', 'pipe', 'pipe'] });
  try {
    assert.equal(await firstLine(writer), 'ready');
    const slurp = run('npx', ['--no', 'mmstats', 'slurp', '--json'], { cwd: dir, env: childEnv });
    const file = JSON.parse(slurp.stdout).files.find((f) => f.writer.pid === writer.pid);
    assert.ok(file, `slurp did not find the writer's file: ${slurp.stdout}`);
    assert.equal(file.writer.alive, true);
    assert.equal(file.fields.find((f) => f.label === 'served')?.value, COUNTER_VALUE);
  } finally {
    writer.stdin.end();
  }
  const [code] = await new Promise((resolve) =>
    writer.exitCode !== null ? resolve([writer.exitCode]) : writer.once('exit', (...a) => resolve(a)),
  );
  assert.equal(code, 0, 'the writer did not exit cleanly');
  step(`${path.basename(dir)}: a writer (${moduleFormat}) published served=${COUNTER_VALUE}; npx mmstats slurp --json read it`);
}

/** The addon comes from prebuilds/ (nothing built at install), and every entry point loads. */
function checkEntryPoints(dir, env) {
  const script = `
const assert = require('node:assert/strict');
const path = require('node:path');
const pkg = require('mmstats/package.json');
assert.equal(pkg.name, 'mmstats');
assert.equal(typeof require('mmstats').defineModel, 'function');
assert.equal(typeof require('mmstats/reader').readAll, 'function');
const addon = require('node-gyp-build').path(path.dirname(require.resolve('mmstats/package.json')));
assert.match(addon, /[/]prebuilds[/]/);
import('mmstats').then((m) => assert.equal(m.defineModel, require('mmstats').defineModel));
`;
  fs.writeFileSync(path.join(dir, 'entry-points.cjs'), script);
  run(process.execPath, ['entry-points.cjs'], { cwd: dir, env });
  assert.equal(fs.existsSync(path.join(dir, 'node_modules', 'mmstats', 'build')), false, 'the addon was built at install');
}

/** Type-check a consumer under `module` nodenext and bundler, the package's .d.ts included. */
function typeCheck(dir, env) {
  fs.writeFileSync(
    path.join(dir, 'app.ts'),
    `import { defineModel, field, isMmstatsError, startRuntimeMetrics, type FieldsOf, type Stats } from 'mmstats';
import { readAll, StatsReader, type Snapshot } from 'mmstats/reader';

const schema = {
  requests: field.counter({ help: 'requests served' }),
  latency: field.timer({ help: 'request time' }),
  path: field.string({ size: 32 }),
};
const Web = defineModel('Web', schema);
export function serve(): void {
  const web: Stats & FieldsOf<typeof schema> = Web.open();
  web.requests.incr();
  web.path.set('/');
  using runtime = startRuntimeMetrics();
  void runtime;
  const snapshots: Snapshot[] = readAll().snapshots;
  for (const s of snapshots) console.log(s.writer.pid);
  try {
    StatsReader.open('/nonexistent').close();
  } catch (error) {
    if (isMmstatsError(error)) console.log(error.code);
  }
  web.latency.time(() => web.close());
}
`,
  );
  const tsc = path.join(dir, 'node_modules', 'typescript', 'bin', 'tsc');
  const version = run(process.execPath, [tsc, '--version'], { cwd: dir, env }).stdout.trim();
  // What `tsc --init` writes (types [], exactOptionalPropertyTypes... in TypeScript 7),
  // then default settings with module nodenext and with bundler: no "types", "lib" or
  // "target". Always skipLibCheck off, so that errors inside the package's .d.ts count.
  run(process.execPath, [tsc, '--init'], { cwd: dir, env });
  const configs = {
    'tsc --init': { extends: './tsconfig.json' },
    'module nodenext': { compilerOptions: { strict: true, module: 'nodenext' } },
    'module bundler': { compilerOptions: { strict: true, module: 'esnext', moduleResolution: 'bundler' } },
  };
  for (const [name, settings] of Object.entries(configs)) {
    const config = `tsconfig.${name.replace(/\W+/g, '-')}.json`;
    const compilerOptions = { ...settings.compilerOptions, noEmit: true, skipLibCheck: false };
    fs.writeFileSync(path.join(dir, config), JSON.stringify({ ...settings, compilerOptions, files: ['app.ts'] }, null, 2));
    const result = run(process.execPath, [tsc, '-p', config], { cwd: dir, env, allowFailure: true });
    assert.equal(result.status, 0, `${version}, ${name}: the consumer does not compile\n${result.stdout}${result.stderr}`);
  }
  step(`${path.basename(dir)}: ${version} compiles a consumer: ${Object.keys(configs).join(', ')}`);
}

/** A folder of symlinks to node, npm, npx and sh only: a machine with no C toolchain. */
function pathWithoutCompilers() {
  const bin = path.join(work, 'bin-no-compilers');
  fs.mkdirSync(bin);
  const which = (name) => run('sh', ['-c', `command -v ${name}`]).stdout.trim();
  fs.symlinkSync(process.execPath, path.join(bin, 'node'));
  for (const name of ['npm', 'npx', 'sh']) fs.symlinkSync(fs.realpathSync(which(name)), path.join(bin, name));
  const env = { ...process.env, PATH: bin };
  const found = run('sh', ['-c', 'command -v cc gcc make python3 python'], { env, allowFailure: true }).stdout.trim();
  assert.equal(found, '', 'the no-compiler PATH still finds a build tool');
  return env;
}

const typesNode = `@types/node@${rootPackage.devDependencies['@types/node']}`;

// 2-3, 5: scripts blocked; TypeScript 5 with the types of the oldest Node.js supported.
const { dir: ignoring } = consumer('consumer-ignore-scripts', { deps: ['@types/node@20', 'typescript@5'], npmArgs: ['--ignore-scripts'] });
checkEntryPoints(ignoring, process.env);
await writerAndSlurp(ignoring, process.env, 'require');
typeCheck(ignoring, process.env);

// 2-5: install scripts allowed (as `npm install-scripts approve mmstats` records it),
// no compiler on PATH; TypeScript 7.
const noCompilers = pathWithoutCompilers();
const { dir: allowing, stdout: installOutput } = consumer('consumer-no-compiler', {
  deps: [typesNode, 'typescript@7'],
  env: noCompilers,
  npmArgs: ['--foreground-scripts'],
  manifest: { allowScripts: { mmstats: true } },
});
assert.ok(installOutput.includes(`> ${rootPackage.scripts.install}`), `the install script did not run:\n${installOutput}`);
checkEntryPoints(allowing, noCompilers);
await writerAndSlurp(allowing, noCompilers, 'import');
typeCheck(allowing, noCompilers);

// 4: where no prebuild fits, the install builds from source, and says briefly what is missing.
fs.rmSync(path.join(allowing, 'node_modules', 'mmstats', 'prebuilds'), { recursive: true });
const rebuild = run('npm', ['rebuild', 'mmstats', '--foreground-scripts'], { cwd: allowing, env: noCompilers, allowFailure: true });
const output = rebuild.stdout + rebuild.stderr;
assert.notEqual(rebuild.status, 0, 'npm rebuild succeeded with no compiler and no prebuild');
assert.match(output, /mmstats: no prebuilt binary fits .*\n.*a C compiler .*make.*Python 3/);
assert.doesNotMatch(output, /gyp ERR/, 'node-gyp ran although the toolchain is missing');
// And the library, with no addon at all, says what to do.
const load = run(
  process.execPath,
  ['-e', "import('mmstats').catch((e) => { console.log(JSON.stringify({ code: e.code, message: e.message })); })"],
  {
    cwd: allowing,
    env: noCompilers,
  },
);
const loadError = JSON.parse(load.stdout);
assert.equal(loadError.code, 'ERR_MMSTATS_NO_ADDON');
assert.match(loadError.message, /npm rebuild mmstats/);
step('consumer-no-compiler: without a prebuild, npm rebuild mmstats fails with the toolchain message, and import says to run it');
step('ok');
